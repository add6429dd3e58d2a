"""Factorizations and solves (Cholesky, LU, QR, triangular and general solves, matrix_exp,
singular values and symmetric eigenvalues), as of opset 11.

ONNX has none of them, so they are composed from the unrolled LAPACK algorithms in
``factorization_helpers`` for a matrix size known at export time (batch dims may be
dynamic); singular values and eigenvalues come from Jacobi iterations in a ``Loop``. Opset 11
is the first with the negative axes the helpers count from the end. Outputs that are not
unique (eigenvectors, SVD factors) are not converted: PyTorch's signs cannot be matched.
"""

from __future__ import annotations

import functools
import itertools
import math

import torch

from ..dtypes import float_compute
from ..factorization_helpers import (
    apply_reflectors, cholesky, concat, householder, jacobi_eigvals, lu, lu_info, lu_solve, mask,
    mT, perm_from_pivots, permutation_matrix, prefix_names, singular_values, solve_triangular,
    sort_asc, sort_desc, squeeze_last2, static_dims, unpack_lu, where,
)
from ..forms import expand, reduce, slice_, squeeze, unsqueeze
from ..helpers import cast, reshape, scalar
from ..registration import op


class _Empty(NotImplementedError):
    """An empty matrix: conversions under :func:`_on_empty` answer with constants, the others
    decline (a NotImplementedError)."""


def _square(g, x) -> int:
    m, n = static_dims(g, x)
    if m != n:
        raise NotImplementedError("this factorization needs a square matrix")
    if n == 0:
        raise _Empty
    return n


def _on_empty(*fills):
    """Outputs of a conversion filled with constants when its matrix is empty.

    Every matrix output is then empty too (or handled before raising, like an identity P),
    every ``info`` and rank 0; a determinant's sign is 1 and its log 0 (the empty product),
    which ``fills`` gives per output.
    """
    def wrap(fn):
        @functools.wraps(fn)
        def inner(g, *args, **kwargs):
            try:
                return fn(g, *args, **kwargs)
            except _Empty:
                outs = [_filled(g, i, f) for i, f in enumerate(fills)]
                return outs[0] if len(outs) == 1 else tuple(outs)
        return inner
    return wrap


def _filled(g, i: int, fill):
    shape = g.out_shape(i)
    if shape is None or not all(isinstance(d, int) for d in shape):
        raise NotImplementedError("factorization of an empty matrix with dynamic batch dims")
    return g.constant(torch.full(shape, fill, dtype=g.out_dtype(i)))


def _identity(g, i: int):
    """Output ``i`` as identity matrices (of its static shape)."""
    shape = g.out_shape(i)
    if shape is None or not all(isinstance(d, int) for d in shape):
        raise NotImplementedError("identity output of a dynamic shape")
    return g.constant(torch.eye(shape[-1], dtype=g.out_dtype(i)).expand(shape).contiguous())


def _prep(g, x, out_index: int = 0):
    """``(x in the compute dtype, compute dtype, PyTorch's output dtype)``."""
    out = g.out_dtype(out_index)
    dt = float_compute(out)
    return cast(g, x, dt), dt, out


# -- Cholesky ----------------------------------------------------------------------------------
def _cholesky(g, x, upper):
    n = _square(g, x)
    x, dt, out = _prep(g, x)
    rank = g.rank(x)
    # upper: LAPACK reads A's upper triangle, i.e. the lower one of A^T
    low, info = cholesky(g, mT(g, x, rank) if upper else x, n, dt)
    res = mT(g, low, rank) if upper else low
    return cast(g, res, out), squeeze_last2(g, info)


@op("aten::linalg_cholesky", "aten::cholesky")
@_on_empty(0)
def linalg_cholesky(g, x, upper=False):
    return _cholesky(g, x, upper)[0]


@op("aten::linalg_cholesky_ex")
@_on_empty(0, 0)
def linalg_cholesky_ex(g, x, *, upper=False, check_errors=False):
    return _cholesky(g, x, upper)


def _cholesky_solve(g, b, factor, upper, n, dt):
    """``A X = B`` with ``A = L L^T`` (or ``U^T U``): two triangular solves."""
    rank = g.rank(factor)
    low = mT(g, factor, rank) if upper else factor
    y = solve_triangular(g, low, b, n, dt, upper=False)
    return solve_triangular(g, mT(g, low, rank), y, n, dt, upper=True)


@op("aten::cholesky_solve")
@_on_empty(0)
def cholesky_solve(g, b, factor, upper=False):
    n = _square(g, factor)
    out = g.out_dtype()
    dt = float_compute(out)
    return cast(g, _cholesky_solve(g, cast(g, b, dt), cast(g, factor, dt), upper, n, dt), out)


@op("aten::cholesky_inverse")
@_on_empty(0)
def cholesky_inverse(g, factor, upper=False):
    n = _square(g, factor)
    factor, dt, out = _prep(g, factor)
    eye = g.constant(torch.eye(n, dtype=dt))
    return cast(g, _cholesky_solve(g, eye, factor, upper, n, dt), out)


# -- triangular solves -------------------------------------------------------------------------
@op("aten::linalg_solve_triangular")
@_on_empty(0)
def linalg_solve_triangular(g, a, b, *, upper, left=True, unitriangular=False):
    n = _square(g, a)
    out = g.out_dtype()
    dt = float_compute(out)
    a, b = cast(g, a, dt), cast(g, b, dt)
    if left:
        return cast(g, solve_triangular(g, a, b, n, dt, upper=upper, unit=unitriangular), out)
    # X A = B  <=>  A^T X^T = B^T
    x = solve_triangular(g, mT(g, a, g.rank(a)), mT(g, b, g.rank(b)), n, dt, upper=not upper,
                         unit=unitriangular)
    return cast(g, mT(g, x, len(g.out_shape())), out)


@op("aten::triangular_solve")
@_on_empty(0, 0)
def triangular_solve(g, b, a, upper=True, transpose=False, unitriangular=False):
    """``(X, A)``: X solves ``A X = B`` (``A^T X = B`` if ``transpose``); A broadcast to X's batch."""
    n = _square(g, a)
    out = g.out_dtype()
    dt = float_compute(out)
    a_c, b = cast(g, a, dt), cast(g, b, dt)
    if transpose:
        a_c, upper = mT(g, a_c, g.rank(a)), not upper
    x = cast(g, solve_triangular(g, a_c, b, n, dt, upper=upper, unit=unitriangular), out)
    return x, expand(g, a, list(g.out_shape(1)))


# -- LU and general solves ---------------------------------------------------------------------
def _lu(g, x, pivot):
    m, n = static_dims(g, x)
    if m == 0 or n == 0:
        raise _Empty
    x, dt, out = _prep(g, x)
    packed, perm, pivots, diag = lu(g, x, m, n, dt, pivot)
    return packed, perm, pivots, diag, m, n, dt, out


@op("aten::linalg_lu_factor")
@_on_empty(0, 0)
def linalg_lu_factor(g, x, *, pivot=True):
    packed, _, pivots, _, _, _, _, out = _lu(g, x, pivot)
    return cast(g, packed, out), cast(g, squeeze(g, pivots, [-2]), torch.int32)


@op("aten::linalg_lu_factor_ex", "aten::_lu_with_info")
@_on_empty(0, 0, 0)
def linalg_lu_factor_ex(g, x, pivot=True, check_errors=False):
    packed, _, pivots, diag, _, _, dt, out = _lu(g, x, pivot)
    info = squeeze_last2(g, lu_info(g, diag, dt))
    return cast(g, packed, out), cast(g, squeeze(g, pivots, [-2]), torch.int32), info


@op("aten::linalg_lu")
@_on_empty(0, 0, 0)
def linalg_lu(g, x, *, pivot=True):
    """``(P, L, U)`` with ``A = P L U``."""
    m, n = static_dims(g, x)
    if n == 0 and m > 0:  # P is the identity, L and U empty
        return _identity(g, 0), _filled(g, 1, 0), _filled(g, 2, 0)
    packed, perm, _, _, m, n, dt, out = _lu(g, x, pivot)
    low, up = unpack_lu(g, packed, m, n, dt)
    if pivot:
        p = permutation_matrix(g, perm, m, dt)
    else:
        p = _filled(g, 0, 0)
    return cast(g, p, out), cast(g, low, out), cast(g, up, out)


@op("aten::lu_unpack")
def lu_unpack(g, packed, pivots, unpack_data=True, unpack_pivots=True):
    m, n = static_dims(g, packed)
    out = g.out_dtype(1)
    dt = float_compute(out)
    if unpack_data:
        low, up = unpack_lu(g, cast(g, packed, dt), m, n, dt)
        low, up = cast(g, low, out), cast(g, up, out)
    else:
        low, up = _filled(g, 1, 0), _filled(g, 2, 0)
    if unpack_pivots:
        p = cast(g, permutation_matrix(g, perm_from_pivots(g, pivots, m), m, dt), out)
    else:
        p = _filled(g, 0, 0)
    return p, low, up


@op("aten::linalg_lu_solve")
@_on_empty(0)
def linalg_lu_solve(g, packed, pivots, b, *, left=True, adjoint=False):
    n = _square(g, packed)
    out = g.out_dtype()
    dt = float_compute(out)
    perm = perm_from_pivots(g, pivots, n)
    x = lu_solve(g, cast(g, packed, dt), perm, cast(g, b, dt), n, dt, left=left, adjoint=adjoint)
    return cast(g, x, out)


@op("aten::lu_solve")
@_on_empty(0)
def lu_solve_legacy(g, b, packed, pivots):
    return linalg_lu_solve(g, packed, pivots, b)


def _solve(g, a, b, left):
    n = _square(g, a)
    out = g.out_dtype()
    a, dt, _ = _prep(g, a)
    b = cast(g, b, dt)
    rank_a, rank_b = g.rank(a), g.rank(b)
    vector = rank_b == 1 or (rank_b == rank_a - 1 and list(g.shape(b)) == list(g.shape(a)[:-1]))
    if vector:
        if not left:
            raise NotImplementedError("linalg.solve with left=False and a vector B")
        b = g.set_type(unsqueeze(g, b, [rank_b]), shape=list(g.shape(b)) + [1])
    packed, perm, _, _ = lu(g, a, n, n, dt)
    g.set_type(packed, shape=g.shape(a))
    x = lu_solve(g, packed, perm, b, n, dt, left=left)
    if vector:
        x = squeeze(g, x, [-1])
    return cast(g, x, out)


@op("aten::linalg_solve")
@_on_empty(0)
def linalg_solve(g, a, b, *, left=True):
    return _solve(g, a, b, left)


@op("aten::linalg_solve_ex")
@_on_empty(0, 0)
def linalg_solve_ex(g, a, b, *, left=True, check_errors=False):
    """The solution and LAPACK's info (the first zero pivot of A's LU, 1-based; else 0)."""
    x = _solve(g, a, b, left)
    n = _square(g, a)
    dt = float_compute(g.dtype(a))
    _, _, _, diag = lu(g, cast(g, a, dt), n, n, dt)
    return x, squeeze_last2(g, lu_info(g, diag, dt))


def _slogdet(g, x):
    """``(sign, log|det|)`` ([..., 1, 1] each) from the LU's diagonal and pivot parity."""
    n = _square(g, x)
    x, dt, _ = _prep(g, x)
    _, _, pivots, diag = lu(g, x, n, n, dt)
    d = concat(g, diag, -1, dt)  # [..., 1, n]
    swapped = g.op("Not", g.op("Equal", pivots, g.constant(torch.arange(1, n + 1).reshape(1, n))))
    parity = where(g, swapped, scalar(g, -1.0, dt), scalar(g, 1.0, dt), dt)
    signs = g.op("Mul", g.op("Sign", d), parity)
    sign = reduce(g, "ReduceProd", signs, [-1], True, dt)
    logabs = reduce(g, "ReduceSum", g.op("Log", g.op("Abs", d)), [-1], True, dt)
    return sign, logabs, dt


@op("aten::linalg_slogdet")
@_on_empty(1, 0)
def linalg_slogdet(g, x):
    sign, logabs, _ = _slogdet(g, x)
    return (cast(g, squeeze_last2(g, sign), g.out_dtype(0)),
            cast(g, squeeze_last2(g, logabs), g.out_dtype(1)))


@op("aten::logdet")
@_on_empty(0)
def logdet(g, x):
    """``log(det)``: log|det| for a positive determinant, NaN for a negative one (-inf at 0)."""
    sign, logabs, dt = _slogdet(g, x)
    nan = scalar(g, float("nan"), dt)
    y = where(g, g.op("Less", sign, scalar(g, 0.0, dt)), nan, logabs, dt)
    return cast(g, squeeze_last2(g, y), g.out_dtype())


# -- QR ----------------------------------------------------------------------------------------
def _geqrf(g, x):
    m, n = static_dims(g, x)
    if m == 0 or n == 0:
        raise _Empty
    x, dt, out = _prep(g, x, 1)
    packed, taus = householder(g, x, m, n, dt)
    return packed, taus, m, n, dt, out


@op("aten::geqrf")
@_on_empty(0, 0)
def geqrf(g, x):
    packed, taus, _, _, _, out = _geqrf(g, x)
    return cast(g, packed, out), cast(g, squeeze(g, taus, [-2]), out)


@op("aten::linalg_qr")
@_on_empty(0, 0)
def linalg_qr(g, x, mode="reduced"):
    """Householder QR with LAPACK's signs (R's diagonal is ``-sign(alpha) * norm``)."""
    m, n = static_dims(g, x)
    if n == 0 and m > 0 and mode == "complete":  # Q is the identity, R empty
        return _identity(g, 0), _filled(g, 1, 0)
    packed, taus, m, n, dt, out = _geqrf(g, x)
    k = min(m, n)
    q_cols = m if mode == "complete" else k
    r_rows = m if mode == "complete" else k
    upper = where(g, mask(g, m, n, lambda r, c: r <= c), packed, scalar(g, 0.0, dt), dt)
    r = slice_(g, upper, [0], [r_rows], [-2]) if r_rows < m else upper
    if mode == "r":
        return _filled(g, 0, 0), cast(g, r, out)
    eye = g.constant(torch.eye(m, q_cols, dtype=dt))
    q = apply_reflectors(g, eye, packed, taus, m, reversed(range(k)), dt, left=True)
    return cast(g, q, out), cast(g, r, out)


def _taus(g, tau, dt):
    count = g.shape(tau)[-1]
    if not isinstance(count, int):
        raise NotImplementedError("a dynamic number of reflectors")
    return unsqueeze(g, cast(g, tau, dt), [g.rank(tau) - 1]), count


@op("aten::linalg_householder_product")
def linalg_householder_product(g, refl, tau):
    """The first n columns of ``H_0 ... H_{k-1}``: each reflector applied to ``I[:, :n]``."""
    m, n = static_dims(g, refl)
    out = g.out_dtype()
    dt = float_compute(out)
    taus, count = _taus(g, tau, dt)
    eye = g.constant(torch.eye(m, n, dtype=dt))
    q = apply_reflectors(g, eye, cast(g, refl, dt), taus, m, reversed(range(count)), dt, left=True)
    return cast(g, q, out)


@op("aten::ormqr")
def ormqr(g, refl, tau, other, left=True, transpose=False):
    """``Q C``, ``Q^T C``, ``C Q`` or ``C Q^T`` with ``Q = H_0 ... H_{k-1}`` (each H symmetric)."""
    m, _ = static_dims(g, refl)
    out = g.out_dtype()
    dt = float_compute(out)
    taus, count = _taus(g, tau, dt)
    forward = left == transpose  # Q^T C = H_{k-1}..H_0 C applies H_0 first; C Q applies H_0 first
    order = range(count) if forward else reversed(range(count))
    y = apply_reflectors(g, cast(g, other, dt), cast(g, refl, dt), taus, m, order, dt, left=left)
    return cast(g, y, out)


# -- tensor inverse and solve ------------------------------------------------------------------
def _inverse(g, a, n, dt):
    packed, perm, _, _ = lu(g, a, n, n, dt)
    return lu_solve(g, packed, perm, g.constant(torch.eye(n, dtype=dt)), n, dt)


def _static_shape(g, x):
    shape = g.shape(x)
    if shape is None or not all(isinstance(d, int) for d in shape):
        raise NotImplementedError("tensorinv/tensorsolve of a dynamic shape")
    return list(shape)


@op("aten::linalg_tensorinv")
def linalg_tensorinv(g, x, ind=2):
    """The inverse of ``x`` read as a ``prod(shape[:ind]) x prod(shape[ind:])`` matrix."""
    shape = _static_shape(g, x)
    n = 1
    for d in shape[:ind]:
        n *= d
    if n == 0:
        raise NotImplementedError("tensorinv of an empty tensor")
    x, dt, out = _prep(g, x)
    a = g.set_type(reshape(g, x, [n, n]), shape=[n, n])
    inv = _inverse(g, a, n, dt)
    return cast(g, reshape(g, inv, shape[ind:] + shape[:ind]), out)


@op("aten::linalg_tensorsolve")
def linalg_tensorsolve(g, a, b, dims=None):
    """``X`` with ``tensordot(A, X, X.ndim) = B``: one flattened square solve."""
    shape_a, shape_b = _static_shape(g, a), _static_shape(g, b)
    rank = len(shape_a)
    if dims:
        moved = [d % rank for d in dims]
        perm = [i for i in range(rank) if i not in moved] + moved
        a = g.op("Transpose", a, perm_is=perm)
        shape_a = [shape_a[i] for i in perm]
    x_shape = shape_a[len(shape_b):]
    n = 1
    for d in shape_b:
        n *= d
    if n == 0:
        raise NotImplementedError("tensorsolve of an empty tensor")
    out = g.out_dtype()
    dt = float_compute(out)
    a2 = g.set_type(reshape(g, cast(g, a, dt), [n, n]), shape=[n, n])
    b2 = g.set_type(reshape(g, cast(g, b, dt), [n, 1]), shape=[n, 1])
    packed, perm_rows, _, _ = lu(g, a2, n, n, dt)
    g.set_type(packed, shape=[n, n])
    x = lu_solve(g, packed, perm_rows, b2, n, dt)
    return cast(g, reshape(g, x, x_shape), out)


# -- matrix exponential ------------------------------------------------------------------------
_TAYLOR_DEGREE = 18  # |A| <= 1 after scaling: the remainder is below 1/19! ~ 8e-18
_MEXP = itertools.count()


@op("aten::matrix_exp", "aten::linalg_matrix_exp")
@_on_empty(0)
def matrix_exp(g, x):
    """Scaling and squaring: ``exp(A) = exp(A / 2^s)^(2^s)``, ``s`` from A's 1-norm.

    ``s = ceil(log2 |A|_1)`` (at least 0) is computed per matrix at run time, the scaled
    exponential is a degree-18 Taylor polynomial (Horner), and a ``Loop`` squares each
    matrix its own ``s`` times (the loop runs the batch's largest ``s``; the others keep their
    value once done), so any norm is handled, not only ones below a bound fixed at export.
    """
    n = _square(g, x)
    x, dt, out = _prep(g, x)
    norm = reduce(g, "ReduceMax", reduce(g, "ReduceSum", g.op("Abs", x), [-2], True, dt),
                  [-1], True, dt)  # [..., 1, 1]
    log2 = g.op("Div", g.op("Log", norm), scalar(g, math.log(2.0), dt))
    cap = 1100.0 if dt == torch.float64 else 140.0  # past the largest finite norm
    s = g.op("Min", g.op("Ceil", log2), scalar(g, cap, dt))
    s = where(g, g.op("Greater", norm, scalar(g, 1.0, dt)), s, scalar(g, 0.0, dt), dt)
    scaled = g.op("Mul", x, g.op("Pow", scalar(g, 2.0, dt), g.op("Neg", s)))
    eye = g.constant(torch.eye(n, dtype=dt))
    p = eye
    for k in range(_TAYLOR_DEGREE, 0, -1):
        p = g.op("Add", eye, g.op("Div", g.op("MatMul", scaled, p), scalar(g, float(k), dt)))
    s_int = cast(g, s, torch.int64)
    trips = reduce(g, "ReduceMax", s_int, None, False, torch.int64)
    body = g.subgraph("matrix_exp_square")
    it = body.add_input("i", torch.int64, [])
    cond = body.add_input("cond", torch.bool, [])
    cur = body.add_input("x", dt)
    squared = body.op("MatMul", cur, cur)
    nxt = body.op("Where", body.op("Less", it, s_int), squared, cur)
    graph = prefix_names(body.finish(body.op("Identity", cond), nxt),
                         f"mexp{next(_MEXP)}_")
    y = g.op("Loop", trips, g.constant(True, torch.bool), p, body_g=graph)
    return cast(g, y, out)


# -- singular values: svdvals, matrix_rank, pinv, cond -------------------------------------------
_F64 = torch.float64


def _sigma(g, x, hermitian=False):
    """``(sigma [..., 1, k] float64, W, V, transposed, m, n, rank)`` by Jacobi (see the helper).

    ``hermitian`` inputs are read from their lower triangle only, as PyTorch's eigh route does.
    """
    m, n = static_dims(g, x)
    if m == 0 or n == 0:
        raise _Empty
    rank = g.rank(x)
    a = cast(g, x, _F64)
    if hermitian:
        a = _symmetric_from_lower(g, a, n, rank, g.shape(x))
    sigma, w, v, transposed = singular_values(g, a, m, n, rank)
    return sigma, w, v, transposed, m, n, rank


def _symmetric_from_lower(g, a, n, rank, shape):
    low = where(g, mask(g, n, n, lambda r, c: r >= c), a, scalar(g, 0.0, _F64), _F64)
    strict = where(g, mask(g, n, n, lambda r, c: r > c), a, scalar(g, 0.0, _F64), _F64)
    return g.set_type(g.op("Add", low, mT(g, strict, rank)), shape=shape)


@op("aten::linalg_svdvals")
@_on_empty(0)
def linalg_svdvals(g, x, *, driver=None):
    """Singular values, descending; iterative (one-sided Jacobi until converged, in float64)."""
    sigma, _, _, _, m, n, _ = _sigma(g, x)
    return cast(g, squeeze(g, sort_desc(g, sigma, min(m, n)), [-2]), g.out_dtype())


def _tolerance(g, x, sigma, atol, rtol, m, n):
    """PyTorch's cut-off ``max(atol, rtol * sigma_max)`` ([..., 1, 1] float64); a missing rtol
    is ``eps * max(m, n)``, or 0 where a positive atol is given."""
    def as_f64(v):
        if v is None or not hasattr(v, "producer"):
            return None if v is None else g.constant(float(v), _F64)
        r = g.rank(v)
        return unsqueeze(g, cast(g, v, _F64), [r, r + 1])
    atol_v, rtol_v = as_f64(atol), as_f64(rtol)
    zero = scalar(g, 0.0, _F64)
    if rtol_v is None:
        default = scalar(g, torch.finfo(g.dtype(x)).eps * max(m, n), _F64)
        rtol_v = default if atol_v is None else where(
            g, g.op("Greater", atol_v, zero, dtype=torch.bool), zero, default, _F64)
    if atol_v is None:
        atol_v = zero
    top = reduce(g, "ReduceMax", sigma, [-1], True, _F64)
    return g.op("Max", atol_v, g.op("Mul", rtol_v, top))


def _rank(g, x, atol, rtol, hermitian):
    sigma, _, _, _, m, n, _ = _sigma(g, x, hermitian)
    tol = _tolerance(g, x, sigma, atol, rtol, m, n)
    above = cast(g, g.op("Greater", sigma, tol), torch.int64)
    return squeeze_last2(g, reduce(g, "ReduceSum", above, [-1], True, torch.int64))


@op("aten::linalg_matrix_rank.atol_rtol_tensor", "aten::linalg_matrix_rank.atol_rtol_float")
@_on_empty(0)
def linalg_matrix_rank(g, x, *, atol=None, rtol=None, hermitian=False):
    """How many singular values exceed the tolerance (Jacobi singular values, iterative)."""
    return _rank(g, x, atol, rtol, hermitian)


@op("aten::linalg_matrix_rank.default", "aten::linalg_matrix_rank.tol_tensor")
@_on_empty(0)
def linalg_matrix_rank_tol(g, x, tol, hermitian=False):
    return _rank(g, x, tol, 0.0, hermitian)


def _pinv(g, x, atol, rtol, hermitian):
    """``V diag(1/sigma) U^T`` over the singular values above the tolerance.

    With ``W = A V = U diag(sigma)`` from Jacobi, ``U^T = diag(1/sigma) W^T``, so the
    pseudo-inverse is ``V diag(1/sigma^2) W^T`` (of A^T, transposed back, when A is wide).
    """
    sigma, w, v, transposed, m, n, rank = _sigma(g, x, hermitian)
    tol = _tolerance(g, x, sigma, atol, rtol, m, n)
    keep = g.op("Greater", sigma, tol)
    safe = where(g, keep, sigma, scalar(g, 1.0, _F64), _F64)
    weight = where(g, keep, g.op("Reciprocal", g.op("Mul", safe, safe)),
                   scalar(g, 0.0, _F64), _F64)  # [..., 1, k]
    pinv = g.op("MatMul", g.op("Mul", v, weight), mT(g, w, rank))
    if transposed:
        pinv = mT(g, pinv, rank)
    return cast(g, pinv, g.out_dtype())


@op("aten::linalg_pinv.atol_rtol_tensor", "aten::linalg_pinv.atol_rtol_float")
@_on_empty(0)
def linalg_pinv(g, x, *, atol=None, rtol=None, hermitian=False):
    """Moore-Penrose pseudo-inverse (unique, so any SVD gives PyTorch's; Jacobi, iterative)."""
    return _pinv(g, x, atol, rtol, hermitian)


@op("aten::linalg_pinv.default", "aten::linalg_pinv.rcond_tensor")
@_on_empty(0)
def linalg_pinv_rcond(g, x, rcond, hermitian=False):
    return _pinv(g, x, 0.0, rcond, hermitian)


@op("aten::pinverse")
@_on_empty(0)
def pinverse(g, x, rcond=1e-15):
    return _pinv(g, x, 0.0, rcond, False)


def _norm(g, x, p, dt):
    """Induced 1/inf norms (max or min of absolute column or row sums), [..., 1, 1]."""
    axis = -2 if abs(p) == 1 else -1
    sums = reduce(g, "ReduceSum", g.op("Abs", x), [axis], True, dt)
    return reduce(g, "ReduceMax" if p > 0 else "ReduceMin", sums, [-1 if axis == -2 else -2], True, dt)


@op("aten::linalg_cond", "aten::linalg_cond.p_str")
def linalg_cond(g, x, p=None):
    """``|A|_p |A^-1|_p``; the 2-norms, Frobenius and nuclear ones from the singular values
    (Jacobi, iterative), the 1 and inf ones from an LU inverse (inf where A is singular)."""
    out = g.out_dtype()
    if p in (None, 2, -2, "fro", "nuc"):
        if p in ("fro", "nuc"):
            _square(g, x)
        sigma, *_ = _sigma(g, x)
        if p in (None, 2, -2):
            hi = reduce(g, "ReduceMax", sigma, [-1], True, _F64)
            lo = reduce(g, "ReduceMin", sigma, [-1], True, _F64)
            res = g.op("Div", hi, lo) if p != -2 else g.op("Div", lo, hi, dtype=_F64)
        else:
            power = 2.0 if p == "fro" else 1.0
            fwd = g.op("Pow", sigma, scalar(g, power, _F64))
            back = g.op("Pow", sigma, scalar(g, -power, _F64))
            res = g.op("Mul", reduce(g, "ReduceSum", fwd, [-1], True, _F64),
                       reduce(g, "ReduceSum", back, [-1], True, _F64))
            if p == "fro":
                res = g.op("Sqrt", res)
        return cast(g, squeeze_last2(g, res), out)
    if p not in (1, -1, float("inf"), float("-inf")):
        raise NotImplementedError(f"linalg.cond with p={p!r}")
    n = _square(g, x)
    x, dt, _ = _prep(g, x)
    packed, perm, _, diag = lu(g, x, n, n, dt)
    inv = lu_solve(g, packed, perm, g.constant(torch.eye(n, dtype=dt)), n, dt)
    res = g.op("Mul", _norm(g, x, p, dt), _norm(g, inv, p, dt))
    singular = g.op("Greater", lu_info(g, diag, dt), g.constant(0, torch.int32))
    res = where(g, singular, scalar(g, float("inf"), dt), res, dt)
    return cast(g, squeeze_last2(g, res), out)


@op("aten::linalg_eigvalsh")
@_on_empty(0)
def linalg_eigvalsh(g, x, UPLO="L"):
    """Eigenvalues of a symmetric matrix, ascending; iterative (two-sided Jacobi in float64
    until converged). Only the ``UPLO`` triangle is read, as LAPACK's syevd does."""
    n = _square(g, x)
    rank = g.rank(x)
    a = cast(g, x, _F64)
    if UPLO.upper() == "U":
        a = mT(g, a, rank)
    sym = _symmetric_from_lower(g, a, n, rank, g.shape(x))
    eig = sort_asc(g, jacobi_eigvals(g, sym, n), n)
    return cast(g, squeeze(g, eig, [-2]), g.out_dtype())


@op("aten::linalg_matrix_norm.str_ord")
def linalg_matrix_norm_str(g, x, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """``'fro'``: the root of the sum of squares over ``dim``; ``'nuc'``: the sum of the singular
    values of the matrices over ``dim`` (moved last; Jacobi, in float64). Both in float64, then
    PyTorch's result dtype; an empty matrix has norm 0."""
    rank = g.rank(x)
    dims = sorted(d % rank for d in dim)
    dt = g.out_dtype()
    a = cast(g, x, _F64)
    if ord == "fro":
        return cast(g, g.op("Sqrt", reduce(g, "ReduceSum", g.op("Mul", a, a), dims, keepdim, _F64)), dt)
    if ord != "nuc":
        raise NotImplementedError(f"matrix_norm with ord={ord!r}")
    perm = [d for d in range(rank) if d not in dims] + dims
    a = g.set_type(g.op("Transpose", a, perm_is=perm), shape=[g.shape(x)[p] for p in perm])
    try:
        sigma = _sigma(g, a)[0]  # [..., 1, k]
    except _Empty:
        shape = [1 if i in dims else s for i, s in enumerate(g.shape(x)) if keepdim or i not in dims]
        return g.constant(torch.zeros(shape, dtype=dt))
    total = squeeze(g, reduce(g, "ReduceSum", sigma, [-1], False, _F64), [-1])
    if keepdim:
        total = unsqueeze(g, total, dims)
    return cast(g, total, dt)

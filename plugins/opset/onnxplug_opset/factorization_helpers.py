"""Matrix factorizations unrolled for a static matrix size: LU, Cholesky, Householder QR, solves.

ONNX has no factorization or solve op, so each one is written out step by step for the
matrix size known at export time (batch dims may be anything: every op broadcasts over them
and every axis here is counted from the end). The algorithms are LAPACK's own (getrf's
partial pivoting with the first largest pivot, potrf, geqrf's reflector signs), so the
outputs match PyTorch's, not just some valid factorization.

Singular values and symmetric eigenvalues have no finite algorithm: they are computed by
Jacobi rotations in float64, repeated in a ``Loop`` until converged (``jacobi_svd``,
``jacobi_eigvals``).

Needs opset 11 (negative axes in Slice, ArgMax, Squeeze and the reductions; Where).
"""

from __future__ import annotations

import itertools

import torch

from .forms import reduce, slice_, squeeze, unsqueeze
from .helpers import cast, scalar, transpose
from .shape_helpers import where  # noqa: F401 - the one ``where``; factorization imports it from here


def static_dims(g, x) -> tuple[int, int]:
    """The matrix size ``(rows, cols)`` of ``x``; a dynamic size cannot be unrolled."""
    shape = g.shape(x)
    if shape is None or len(shape) < 2 or not all(isinstance(d, int) for d in shape[-2:]):
        raise NotImplementedError("factorization of a matrix with a dynamic size")
    return shape[-2], shape[-1]


def row(g, x, i: int):
    return slice_(g, x, [i], [i + 1], [-2])


def col(g, x, j: int):
    return slice_(g, x, [j], [j + 1], [-1])


def entry(g, x, i: int, j: int):
    return slice_(g, x, [i, j], [i + 1, j + 1], [-2, -1])


def mT(g, x, rank: int):
    """Swap the last two axes."""
    return transpose(g, x, list(range(rank - 2)) + [rank - 1, rank - 2])


def concat(g, parts, axis: int, dt):
    return parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis_i=axis)


def mask(g, rows: int, cols: int, fn):
    """A constant boolean ``[rows, cols]`` mask with ``fn(r, c)`` true."""
    m = torch.tensor([[bool(fn(r, c)) for c in range(cols)] for r in range(rows)], dtype=torch.bool)
    return g.constant(m)


def broadcast_batch(g, b, a):
    """``b`` broadcast against ``a``'s batch dims (so its solved rows can be concatenated)."""
    shape_a = g.op("Shape", a)
    batch = slice_(g, shape_a, [0], [-2], [0])
    target = g.op("Concat", batch, g.constant([1, 1], torch.int64), axis_i=0)
    return g.op("Expand", b, target)


# -- triangular solves -------------------------------------------------------------------------
def solve_triangular(g, a, b, n: int, dt, *, upper: bool, unit: bool = False):
    """``X`` with ``A X = B`` for triangular ``A`` ([..., n, n]) by substitution, row by row.

    ``B`` is [..., n, k]; batch dims broadcast. Row ``i`` of ``X`` is
    ``(B[i] - A[i, others] @ X[others]) / A[i, i]`` with the others already solved.
    """
    b = broadcast_batch(g, b, a)
    xs: dict[int, object] = {}
    order = reversed(range(n)) if upper else range(n)
    for i in order:
        r = row(g, b, i)
        done = sorted(xs)
        if done:
            lo, hi = (i + 1, n) if upper else (0, i)
            coef = slice_(g, a, [i, lo], [i + 1, hi], [-2, -1])  # [..., 1, len(done)]
            known = concat(g, [xs[j] for j in done], -2, dt)
            r = g.op("Sub", r, g.op("MatMul", coef, known))
        if not unit:
            r = g.op("Div", r, entry(g, a, i, i))
        xs[i] = r
    return concat(g, [xs[i] for i in range(n)], -2, dt)


# -- LU with partial pivoting ------------------------------------------------------------------
def lu(g, a, m: int, n: int, dt, pivot: bool = True):
    """LAPACK getrf, unrolled: ``(LU, perm, pivots, diag)``.

    ``LU`` packs unit-lower L below the diagonal and U on and above it; ``perm`` ([..., m, 1]
    int64) is the original row of each row of LU (``A[perm] = L U``); ``pivots`` ([..., 1, k]
    int64) are LAPACK's 1-based row swaps; ``diag`` the list of U's diagonal entries
    ([..., 1, 1] each). Row swaps are exact (Where, not arithmetic); a zero pivot (a singular
    matrix) leaves its column unscaled as LAPACK does, instead of dividing by zero.
    """
    k_steps = min(m, n)
    rows = g.constant(torch.arange(m, dtype=torch.int64).reshape(m, 1))
    perm = rows
    pivots, diag = [], []
    zero = scalar(g, 0.0, dt)
    for k in range(k_steps):
        if pivot:
            cand = slice_(g, col(g, a, k), [k], [m], [-2])  # [..., m-k, 1]
            p = g.op("ArgMax", g.op("Abs", cand), axis_i=-2, keepdims_i=1)
            p = g.op("Add", p, g.constant(k, torch.int64))  # [..., 1, 1]
            pivots.append(g.op("Add", p, g.constant(1, torch.int64)))
            is_p = g.op("Equal", rows, p)  # [..., m, 1]
            is_k = g.constant(torch.arange(m).reshape(m, 1) == k)
            a = _swap(g, a, is_p, is_k, k, dt, zero)
            perm = _swap(g, perm, is_p, is_k, k, torch.int64, g.constant(0, torch.int64))
        else:
            pivots.append(g.constant(torch.tensor([[k + 1]], dtype=torch.int64)))
        piv = entry(g, a, k, k)
        diag.append(piv)
        if k == m - 1:
            continue
        safe = where(g, g.op("Equal", piv, zero), scalar(g, 1.0, dt), piv, dt)
        below = mask(g, m, 1, lambda r, c: r > k)
        factors = where(g, below, g.op("Div", col(g, a, k), safe), zero, dt)  # [..., m, 1]
        right = where(g, mask(g, 1, n, lambda r, c: c > k), row(g, a, k), zero, dt)  # [..., 1, n]
        a = g.op("Sub", a, g.op("MatMul", factors, right))
        a = where(g, mask(g, m, n, lambda r, c: r > k and c == k), factors, a, dt)
    return a, perm, concat(g, pivots, -1, torch.int64), diag


def _swap(g, x, is_p, is_k, k: int, dt, zero):
    """Rows ``k`` and ``p`` of ``x`` exchanged (``is_p`` marks row p, ``is_k`` row k)."""
    row_p = reduce(g, "ReduceSum", where(g, is_p, x, zero, dt), [-2], True, dt)
    row_k = row(g, x, k)
    return where(g, is_k, row_p, where(g, is_p, row_k, x, dt), dt)


def permutation_matrix(g, perm, m: int, dt, transposed: bool = False):
    """``P`` ([..., m, m]) with ``A = P L U``: ``P[perm[i], i] = 1`` (``P^T`` if ``transposed``)."""
    if transposed:  # P^T[i, j] = (perm[i] == j)
        cols = g.constant(torch.arange(m, dtype=torch.int64).reshape(1, m))
        return cast(g, g.op("Equal", perm, cols), dt)
    rows = g.constant(torch.arange(m, dtype=torch.int64).reshape(m, 1))
    return cast(g, g.op("Equal", rows, transpose_vec(g, perm)), dt)


def transpose_vec(g, v):
    """[..., m, 1] to [..., 1, m] without knowing the rank (squeeze then unsqueeze)."""
    return unsqueeze(g, squeeze(g, v, [-1]), [-2])


def perm_from_pivots(g, pivots, m: int):
    """The row order ([..., m, 1] int64) that LAPACK's 1-based swaps ``pivots`` ([..., k]) make."""
    rows = g.constant(torch.arange(m, dtype=torch.int64).reshape(m, 1))
    perm = rows
    k_steps = g.shape(pivots)[-1]
    if not isinstance(k_steps, int):
        raise NotImplementedError("pivots of a dynamic length")
    piv = unsqueeze(g, cast(g, pivots, torch.int64), [-1])  # [..., k, 1]
    for k in range(k_steps):
        p = g.op("Sub", row(g, piv, k), g.constant(1, torch.int64))  # [..., 1, 1]
        is_p = g.op("Equal", rows, p)
        is_k = g.constant(torch.arange(m).reshape(m, 1) == k)
        perm = _swap(g, perm, is_p, is_k, k, torch.int64, g.constant(0, torch.int64))
    return perm


def unpack_lu(g, lu_val, m: int, n: int, dt):
    """(unit-lower L [..., m, k], upper U [..., k, n]) from the packed LU, k = min(m, n)."""
    k = min(m, n)
    zero = scalar(g, 0.0, dt)
    lower = where(g, mask(g, m, k, lambda r, c: r > c), slice_(g, lu_val, [0], [k], [-1]), zero, dt)
    lower = g.op("Add", lower, g.constant(torch.eye(m, k, dtype=dt)))
    upper = where(g, mask(g, k, n, lambda r, c: r <= c), slice_(g, lu_val, [0], [k], [-2]), zero, dt)
    return lower, upper


def lu_solve(g, lu_val, perm, b, n: int, dt, *, left=True, adjoint=False):
    """``X`` with ``A X = B`` (``A^T X = B`` if ``adjoint``; ``X A = B`` unless ``left``) from
    A's packed LU and row order ``perm``. ``b`` is a value with a known rank."""
    if not left:  # X A = B  <=>  A^T X^T = B^T
        rb = g.rank(b)
        bt = g.set_type(mT(g, b, rb), shape=_swapped(g.shape(b)))
        x = lu_solve(g, lu_val, perm, bt, n, dt, adjoint=not adjoint)
        return mT(g, x, max(rb, g.rank(lu_val)))
    lower, upper = unpack_lu(g, lu_val, n, n, dt)
    lr = g.rank(lu_val)
    if not adjoint:  # A = P L U: L U X = P^T B
        pb = g.op("MatMul", permutation_matrix(g, perm, n, dt, transposed=True), b)
        y = solve_triangular(g, lower, pb, n, dt, upper=False, unit=True)
        return solve_triangular(g, upper, y, n, dt, upper=True)
    # A^T = U^T L^T P^T: U^T L^T Z = B, X = P Z
    y = solve_triangular(g, mT(g, upper, lr), b, n, dt, upper=False)
    z = solve_triangular(g, mT(g, lower, lr), y, n, dt, upper=True, unit=True)
    return g.op("MatMul", permutation_matrix(g, perm, n, dt), z)


def _swapped(shape):
    return None if shape is None else list(shape[:-2]) + [shape[-1], shape[-2]]


def lu_info(g, diag, dt):
    """LAPACK's ``info``: the 1-based index of the first zero pivot, else 0 ([..., 1, 1] int32)."""
    big = len(diag) + 1
    cands = [where(g, g.op("Equal", d, scalar(g, 0.0, dt)),
                   g.constant(i + 1, torch.int64), g.constant(big, torch.int64), torch.int64)
             for i, d in enumerate(diag)]
    first = reduce(g, "ReduceMin", concat(g, cands, -1, torch.int64), [-1], True, torch.int64)
    info = where(g, g.op("Equal", first, g.constant(big, torch.int64)),
                 g.constant(0, torch.int64), first, torch.int64)
    return cast(g, info, torch.int32)


# -- Cholesky ----------------------------------------------------------------------------------
def cholesky(g, a, n: int, dt):
    """Lower ``L`` with ``A = L L^T`` (column by column, as potrf), plus info ([..., 1, 1] int32).

    Only A's lower triangle is read. Column j is ``(A[:, j] - L[:, :j] L[j, :j]^T) / L[j, j]``
    below the diagonal, with ``L[j, j] = sqrt`` of the same expression's j-th entry. ``info``
    is the 1-based order of the first leading minor that is not positive definite (0 when A
    is). After such a failure the result is what LAPACK's unblocked potf2 leaves (and what
    PyTorch returns with MKL): the failing column holds A's column with the updated diagonal
    value, later columns A's own lower triangle.
    """
    zero = scalar(g, 0.0, dt)
    cols, bad = [], []
    ok = None  # every column so far succeeded ([..., 1, 1] bool)
    for j in range(n):
        raw = col(g, a, j)  # [..., n, 1]
        v = raw
        if cols:
            done = concat(g, cols, -1, dt)  # [..., n, j]
            v = g.op("Sub", v, reduce(g, "ReduceSum", g.op("Mul", done, row(g, done, j)),
                                      [-1], True, dt))
        d2 = row(g, v, j)
        good = g.op("Greater", d2, zero)
        bad.append(g.op("Not", good))
        lower_part = mask(g, n, 1, lambda r, c: r >= j)
        computed = where(g, lower_part, g.op("Div", v, g.op("Sqrt", d2)), zero, dt)
        failed = where(g, mask(g, n, 1, lambda r, c: r == j), d2,
                       where(g, lower_part, raw, zero, dt), dt)
        untouched = where(g, lower_part, raw, zero, dt)
        column = where(g, good, computed, failed, dt)
        if ok is not None:
            column = where(g, ok, column, untouched, dt)
            ok = g.op("And", ok, good)
        else:
            ok = good
        cols.append(column)
    big = n + 1
    cands = [where(g, b, g.constant(i + 1, torch.int64), g.constant(big, torch.int64), torch.int64)
             for i, b in enumerate(bad)]
    first = reduce(g, "ReduceMin", concat(g, cands, -1, torch.int64), [-1], True, torch.int64)
    info = where(g, g.op("Equal", first, g.constant(big, torch.int64)),
                 g.constant(0, torch.int64), first, torch.int64)
    return concat(g, cols, -1, dt), cast(g, info, torch.int32)


def squeeze_last2(g, x):
    return squeeze(g, x, [-2, -1])


# -- Householder QR ----------------------------------------------------------------------------
def householder(g, a, m: int, n: int, dt):
    """LAPACK geqrf, unrolled: ``(R-and-reflectors packed [..., m, n], taus [..., 1, k])``.

    Step k reflects column k onto ``beta e_k`` with ``beta = -sign(alpha) * ||x||`` (alpha the
    diagonal entry, +0 counting as positive), ``tau = (beta - alpha) / beta`` and the
    reflector ``v = [1, x_below / (alpha - beta)]``; a column already zero below the diagonal
    gets ``tau = 0`` (no reflection), so R's diagonal signs are LAPACK's.
    """
    zero, one = scalar(g, 0.0, dt), scalar(g, 1.0, dt)
    taus = []
    for k in range(min(m, n)):
        c = col(g, a, k)
        alpha = entry(g, a, k, k)
        below = where(g, mask(g, m, 1, lambda r, _: r > k), c, zero, dt)  # [..., m, 1]
        xnorm2 = reduce(g, "ReduceSum", g.op("Mul", below, below), [-2], True, dt)
        norm = g.op("Sqrt", g.op("Add", xnorm2, g.op("Mul", alpha, alpha)))
        neg_norm = g.op("Neg", norm)
        beta = where(g, g.op("Less", alpha, zero), norm, neg_norm, dt)
        trivial = g.op("Equal", xnorm2, zero)
        safe_beta = where(g, trivial, one, beta, dt)
        ratio = g.op("Div", g.op("Sub", beta, alpha), safe_beta)
        tau = where(g, trivial, zero, ratio, dt)
        denom = where(g, trivial, one, g.op("Sub", alpha, beta), dt)
        v = g.op("Div", below, denom)
        v = where(g, mask(g, m, 1, lambda r, _: r == k), one, v, dt)  # [..., m, 1]
        # H A = A - tau v (v^T A), applied to the columns right of k
        vta = reduce(g, "ReduceSum", g.op("Mul", v, a), [-2], True, dt)  # [..., 1, n]
        update = g.op("Mul", tau, g.op("Mul", v, vta))
        right = mask(g, 1, n, lambda _, cc: cc > k)
        a = where(g, right, g.op("Sub", a, update), a, dt)
        # column k: beta on the diagonal (alpha when trivial), the reflector below
        diag_val = where(g, trivial, alpha, beta, dt)
        new_col = where(g, mask(g, m, 1, lambda r, _: r == k), diag_val,
                        where(g, mask(g, m, 1, lambda r, _: r > k), v, c, dt), dt)
        a = where(g, mask(g, 1, n, lambda _, cc: cc == k), new_col, a, dt)
        taus.append(tau)
    return a, concat(g, taus, -1, dt)


def reflector(g, refl, i: int, m: int, dt):
    """``v_i`` ([..., m, 1]): column i of ``refl`` below the diagonal, 1 on it, 0 above."""
    zero, one = scalar(g, 0.0, dt), scalar(g, 1.0, dt)
    v = where(g, mask(g, m, 1, lambda r, _: r > i), col(g, refl, i), zero, dt)
    return where(g, mask(g, m, 1, lambda r, _: r == i), one, v, dt)


def apply_reflectors(g, x, refl, taus, m: int, order, dt, *, left: bool):
    """``x`` multiplied by ``H_i = I - tau_i v_i v_i^T`` for each i in ``order``.

    ``left``: ``H_i x`` each time (so the last in ``order`` ends up leftmost), else ``x H_i``.
    ``refl`` ([..., m, >=count]) holds the reflectors as geqrf packs them (unit diagonal
    implied); ``taus`` is [..., 1, count].
    """
    for i in order:
        v = reflector(g, refl, i, m, dt)
        tau = slice_(g, taus, [i], [i + 1], [-1])  # [..., 1, 1]
        vrow = transpose_vec(g, v)  # [..., 1, m]
        if left:  # x - tau v (v^T x)
            vx = g.op("MatMul", vrow, x)
            upd = g.op("MatMul", v, vx)
        else:  # x - tau (x v) v^T
            xv = g.op("MatMul", x, v)
            upd = g.op("MatMul", xv, vrow)
        x = g.op("Sub", x, g.op("Mul", tau, upd))
    return x


# -- one-sided Jacobi SVD ----------------------------------------------------------------------
JACOBI_MAX_SWEEPS = 40
_LOOPS = itertools.count()


def jacobi_svd(g, a, m: int, n: int):
    """One-sided (Hestenes) Jacobi on a tall ``a`` ([..., m, n], m >= n, float64).

    Iterative: each sweep rotates every column pair (p, q) so the two become orthogonal,
    accumulating the rotations in ``V``; a ``Loop`` repeats sweeps until every pair's cosine
    is below 1e-15 (at most ``JACOBI_MAX_SWEEPS``; cyclic Jacobi converges quadratically, a
    handful of sweeps for small matrices). Then ``A V = W`` has orthogonal columns, the
    singular values are their norms. Returns ``(W, V)``; the singular values are computed
    to high relative accuracy, which a route through ``A^T A`` would lose.
    """
    dt = torch.float64
    shape_a = g.op("Shape", a)
    batch = slice_(g, shape_a, [0], [-2], [0])
    v_shape = g.op("Concat", batch, g.constant([n, n], torch.int64), axis_i=0)
    v0 = g.op("Expand", g.constant(torch.eye(n, dtype=dt)), v_shape)
    if n == 1:
        return a, v0
    body = g.subgraph("jacobi_sweep")
    body.add_input("i", torch.int64, [])
    body.add_input("cond", torch.bool, [])
    w = body.add_input("w", dt)
    v = body.add_input("v", dt)
    worst = None
    for p in range(n - 1):
        for q in range(p + 1, n):
            w, v, cosine = _rotate(body, w, v, p, q, n, dt)
            worst = cosine if worst is None else body.op("Max", worst, cosine)
    top = reduce(body, "ReduceMax", worst, None, False, dt)
    go_on = body.op("Greater", top, body.constant(1e-15, dt))
    graph = prefix_names(body.finish(go_on, w, v), f"jacobi{next(_LOOPS)}_")
    w, v = g.op("Loop", g.constant(JACOBI_MAX_SWEEPS, torch.int64), g.constant(True, torch.bool),
                a, v0, body_g=graph, outputs=2)
    return w, v


def _rotate(g, w, v, p: int, q: int, n: int, dt):
    """Rotate columns p and q of ``w`` (and ``v``) so they become orthogonal."""
    zero, one = scalar(g, 0.0, dt), scalar(g, 1.0, dt)
    wp, wq = col(g, w, p), col(g, w, q)
    alpha = reduce(g, "ReduceSum", g.op("Mul", wp, wp), [-2], True, dt)
    beta = reduce(g, "ReduceSum", g.op("Mul", wq, wq), [-2], True, dt)
    gamma = reduce(g, "ReduceSum", g.op("Mul", wp, wq), [-2], True, dt)
    skip = g.op("Equal", gamma, zero)
    safe_gamma = where(g, skip, one, gamma, dt)
    zeta = g.op("Div", g.op("Sub", beta, alpha),
                g.op("Mul", scalar(g, 2.0, dt), safe_gamma))
    sign = where(g, g.op("Less", zeta, zero), scalar(g, -1.0, dt), one, dt)
    root = g.op("Sqrt", g.op("Add", one, g.op("Mul", zeta, zeta)))
    t = g.op("Div", sign, g.op("Add", g.op("Abs", zeta), root))
    t = where(g, skip, zero, t, dt)
    c = g.op("Div", one, g.op("Sqrt", g.op("Add", one, g.op("Mul", t, t))))
    s = g.op("Mul", c, t)
    denom = g.op("Sqrt", g.op("Mul", alpha, beta))
    cosine = g.op("Abs", g.op("Div", gamma, where(g, skip, one, denom, dt)))
    is_p = mask(g, 1, n, lambda _, cc: cc == p)
    is_q = mask(g, 1, n, lambda _, cc: cc == q)

    def turn(x):
        xp, xq = col(g, x, p), col(g, x, q)
        new_p = g.op("Sub", g.op("Mul", c, xp), g.op("Mul", s, xq))
        new_q = g.op("Add", g.op("Mul", s, xp), g.op("Mul", c, xq))
        return where(g, is_p, new_p, where(g, is_q, new_q, x, dt), dt)

    return turn(w), turn(v), cosine


def prefix_names(graph, prefix: str):
    """Model-unique value names in a body graph (the checker wants SSA names across graphs)."""
    for val in graph.inputs:
        val.name = prefix + (val.name or "in")
    for node in graph:
        for i, val in enumerate(node.outputs):
            val.name = f"{prefix}{val.name or i}"
    return graph


def singular_values(g, a, m: int, n: int, rank: int):
    """``(sigma, W, V, transposed)``: Jacobi on A (or A^T when wide), sigma [..., 1, k] unsorted."""
    transposed = m < n
    if transposed:
        a, m, n = mT(g, a, rank), n, m
    w, v = jacobi_svd(g, a, m, n)
    sigma = g.op("Sqrt", reduce(g, "ReduceSum", g.op("Mul", w, w), [-2], True,
                                torch.float64))
    return sigma, w, v, transposed


def sort_desc(g, x, k: int):
    """``x`` ([..., 1, k]) sorted in descending order along the last axis."""
    values, _ = g.op("TopK", x, g.constant([k], torch.int64), axis_i=-1, largest_i=1, sorted_i=1,
                     outputs=2)
    return g.set_type(values, dtype=g.dtype(x))


def jacobi_eigvals(g, a, n: int):
    """Eigenvalues ([..., 1, n], unsorted) of a symmetric float64 ``a`` by cyclic two-sided Jacobi.

    Iterative: each sweep zeroes every off-diagonal pair (p, q) with a rotation ``J^T A J``;
    a ``Loop`` repeats sweeps until the off-diagonal mass is below 1e-28 of the whole (at most
    ``JACOBI_MAX_SWEEPS``; convergence is quadratic). The diagonal is then the spectrum.
    """
    dt = torch.float64
    eye = g.constant(torch.eye(n, dtype=torch.bool))
    if n > 1:
        body = g.subgraph("jacobi_eig_sweep")
        body.add_input("i", torch.int64, [])
        body.add_input("cond", torch.bool, [])
        x = body.add_input("a", dt)
        for p in range(n - 1):
            for q in range(p + 1, n):
                x = _rotate_sym(body, x, p, q, n, dt)
        sq = body.op("Mul", x, x)
        off = reduce(body, "ReduceSum", body.op("Where", body.constant(torch.eye(n, dtype=torch.bool)),
                                                 scalar(body, 0.0, dt), sq), None, False, dt)
        total = reduce(body, "ReduceSum", sq, None, False, dt)
        go_on = body.op("Greater", off, body.op("Mul", total, scalar(body, 1e-28, dt)))
        graph = prefix_names(body.finish(go_on, x), f"jacobieig{next(_LOOPS)}_")
        a = g.op("Loop", g.constant(JACOBI_MAX_SWEEPS, torch.int64), g.constant(True, torch.bool), a,
                 body_g=graph)
    diag = where(g, eye, a, scalar(g, 0.0, dt), dt)
    return reduce(g, "ReduceSum", diag, [-2], True, dt)


def _rotate_sym(g, a, p: int, q: int, n: int, dt):
    """``J^T A J`` with the rotation in the (p, q) plane that zeroes ``A[p, q]``."""
    zero, one = scalar(g, 0.0, dt), scalar(g, 1.0, dt)
    app, aqq, apq = entry(g, a, p, p), entry(g, a, q, q), entry(g, a, p, q)
    skip = g.op("Equal", apq, zero)
    theta = g.op("Div", g.op("Sub", aqq, app),
                 g.op("Mul", scalar(g, 2.0, dt), where(g, skip, one, apq, dt)))
    sign = where(g, g.op("Less", theta, zero), scalar(g, -1.0, dt), one, dt)
    root = g.op("Sqrt", g.op("Add", one, g.op("Mul", theta, theta)))
    t = where(g, skip, zero, g.op("Div", sign, g.op("Add", g.op("Abs", theta), root)), dt)
    c = g.op("Div", one, g.op("Sqrt", g.op("Add", one, g.op("Mul", t, t))))
    s = g.op("Mul", c, t)

    def mix(x, take, axes_mask_p, axes_mask_q):
        xp, xq = take(x, p), take(x, q)
        new_p = g.op("Sub", g.op("Mul", c, xp), g.op("Mul", s, xq))
        new_q = g.op("Add", g.op("Mul", s, xp), g.op("Mul", c, xq))
        return where(g, axes_mask_p, new_p, where(g, axes_mask_q, new_q, x, dt), dt)

    a = mix(a, lambda x, i: col(g, x, i), mask(g, 1, n, lambda _, cc: cc == p),
            mask(g, 1, n, lambda _, cc: cc == q))
    return mix(a, lambda x, i: row(g, x, i), mask(g, n, 1, lambda r, _: r == p),
               mask(g, n, 1, lambda r, _: r == q))


def sort_asc(g, x, k: int):
    """``x`` ([..., 1, k]) sorted in ascending order along the last axis."""
    values, _ = g.op("TopK", x, g.constant([k], torch.int64), axis_i=-1, largest_i=0, sorted_i=1,
                     outputs=2)
    return g.set_type(values, dtype=g.dtype(x))

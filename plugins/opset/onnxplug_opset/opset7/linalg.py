"""Linear algebra (products, trace, cross, cdist, det, inv, matrix_power), as of opset 7.

ONNX has MatMul and Gemm but no determinant or inverse: those are composed by Gaussian
elimination with partial pivoting, unrolled for a static matrix size (the only size a graph
without loops can unroll), which is what LAPACK does for the same inputs.
"""

from __future__ import annotations

import torch

from ..bool_helpers import logical_addr, logical_outer
from ..dtypes import float_compute
from ..forms import expand, reduce, slice_, squeeze, unsqueeze
from ..helpers import cast, scalar
from ..nn_helpers import matmul, vector_norm
from ..registration import op


def _scaled(g, x, factor, dt):
    if factor == 1:
        return x
    return g.op("Mul", x, scalar(g, factor, dt))


def _add_scaled(g, bias, prod, beta, alpha):
    """``beta * bias + alpha * prod`` (PyTorch ignores ``bias`` entirely when beta is 0, NaNs too)."""
    dt = g.out_dtype()
    prod = _scaled(g, cast(g, prod, dt), alpha, dt)
    if beta == 0:
        return expand(g, prod, list(g.out_shape())) if g.out_shape() is not None else prod
    return g.op("Add", _scaled(g, cast(g, bias, dt), beta, dt), prod)


def _matmul(g, a, b):
    """MatMul with the op's result dtype (``nn_helpers.matmul`` picks a dtype ONNX kernels take)."""
    return matmul(g, a, b, g.out_dtype())


@op("aten::dot", "aten::vdot")
def dot(g, x, y):
    return _matmul(g, x, y)


@op("aten::mv")
def mv(g, m, v):
    return _matmul(g, m, v)


@op("aten::outer", "aten::ger")
def outer(g, x, y):
    dt = g.out_dtype()
    if dt == torch.bool:
        return logical_outer(g, x, y)
    a = unsqueeze(g, cast(g, x, dt), [1])
    return g.op("Mul", a, cast(g, y, dt))


@op("aten::addmv")
def addmv(g, bias, m, v, *, beta=1, alpha=1):
    return _add_scaled(g, bias, _matmul(g, m, v), beta, alpha)


@op("aten::addr")
def addr(g, bias, x, y, *, beta=1, alpha=1):
    dt = g.out_dtype()
    if dt == torch.bool:
        return logical_addr(g, bias, x, y, beta, alpha)
    return _add_scaled(g, bias, outer(g, x, y), beta, alpha)


@op("aten::baddbmm")
def baddbmm(g, bias, b1, b2, *, beta=1, alpha=1):
    return _add_scaled(g, bias, _matmul(g, b1, b2), beta, alpha)


@op("aten::addbmm")
def addbmm(g, bias, b1, b2, *, beta=1, alpha=1):
    """``beta * bias + alpha * sum_b(b1[b] @ b2[b])``."""
    prod = _matmul(g, b1, b2)
    summed = reduce(g, "ReduceSum", prod, [0], False)
    return _add_scaled(g, bias, summed, beta, alpha)


def _eye(g, n: int, m: int, dt: torch.dtype):
    return g.constant(torch.eye(n, m, dtype=dt))


@op("aten::trace")
def trace(g, x):
    """Sum of the diagonal: the matrix times an identity mask, summed."""
    n, m = g.shape(x)
    dt = g.out_dtype()
    if not (isinstance(n, int) and isinstance(m, int)):
        raise NotImplementedError("trace of a matrix with dynamic size")
    if n == 0 or m == 0:
        return g.constant(0, dt)
    compute = dt if dt in (torch.float16, torch.float32, torch.float64, torch.int32, torch.int64) \
        else torch.float32
    x = cast(g, x, compute)
    masked = g.op("Mul", x, _eye(g, n, m, compute))
    return cast(g, reduce(g, "ReduceSum", masked, None, False), dt)


@op("aten::linalg_cross")
def linalg_cross(g, x, y, dim=-1):
    """``x[i+1] y[i+2] - x[i+2] y[i+1]`` along ``dim`` (size 3), after broadcasting."""
    dt = g.out_dtype()
    rank = len(g.out_shape())
    axis = dim % rank
    x, y = cast(g, x, dt), cast(g, y, dt)
    rx, ry = g.rank(x), g.rank(y)

    def roll(v, r, idx):
        return g.op("Gather", v, g.constant(idx, torch.int64), axis_i=axis - (rank - r))

    a = g.op("Mul", roll(x, rx, [1, 2, 0]), roll(y, ry, [2, 0, 1]))
    b = g.op("Mul", roll(x, rx, [2, 0, 1]), roll(y, ry, [1, 2, 0]))
    return g.op("Sub", a, b)


@op("aten::cdist", "aten::_cdist_forward")
def cdist(g, x1, x2, p=2.0, compute_mode=None):
    """Pairwise ``p``-norm distances, computed directly from the differences (exact)."""
    out = g.out_dtype()
    dt = float_compute(out)
    a = unsqueeze(g, cast(g, x1, dt), [g.rank(x1) - 1])  # [..., P, 1, M]
    b = unsqueeze(g, cast(g, x2, dt), [g.rank(x2) - 2])  # [..., 1, R, M]
    diff = g.op("Sub", a, b)
    return cast(g, vector_norm(g, diff, p, [len(g.out_shape())], False), out)


# -- determinant and inverse ------------------------------------------------------------------
def _static_n(g, x) -> int:
    n = g.shape(x)[-1]
    if not isinstance(n, int) or g.shape(x)[-2] != n:
        raise NotImplementedError("determinant/inverse of a matrix with dynamic size")
    return n


def _elimination(g, a, n: int, batch_rank: int, dt, aug=None):
    """Gaussian elimination with partial pivoting on ``a`` ([..., n, n]), unrolled.

    Each step brings the largest remaining pivot to the top (a swap flips the determinant's
    sign), records the pivot row divided by its pivot, and eliminates below it. ``aug``
    ([..., n, k]) rides along as extra columns. Returns ``(det, rows, width)``: the determinant
    ([..., 1, 1]), the normalised pivot rows (for back substitution) and their width.
    """
    det = None
    last = batch_rank + 1  # the axis of columns
    rows_axis = batch_rank
    done_rows = []  # each [..., 1, width]
    work = a if aug is None else g.op("Concat", a, aug, axis_i=last)
    width = n + (0 if aug is None else g.shape(aug)[-1])
    for k in range(n):
        m = n - k  # rows left
        col = slice_(g, work, [k], [k + 1], [last])  # [..., m, 1]
        absval = g.op("Abs", col)
        p = g.op("ArgMax", absval, axis_i=rows_axis, keepdims_i=1)  # [..., 1, 1]
        onehot = cast(g, g.op("Equal", g.constant(torch.arange(m).reshape(m, 1)), p), dt)
        top = slice_(g, work, [0], [1], [rows_axis])  # [..., 1, width]
        # row p: sum over rows of onehot * work
        row_p = reduce(g, "ReduceSum", g.op("Mul", onehot, work), [rows_axis], True)
        e0 = g.constant(torch.eye(m, 1, dtype=dt))  # [m, 1]
        delta = g.op("Sub", top, row_p)  # [..., 1, width]
        work = g.op("Add", work, g.op("Mul", g.op("Sub", onehot, e0), delta))
        # now the pivot row is on top
        sign = g.op("Sub", scalar(g, 1.0, dt),
                    g.op("Mul", scalar(g, 2.0, dt),
                         g.op("Sub", scalar(g, 1.0, dt), slice_(g, onehot, [0], [1], [rows_axis]))))  # [..., 1, 1]: -1 when swapped
        pivot = slice_(g, slice_(g, work, [0], [1], [rows_axis]), [k], [k + 1], [last])  # [..., 1, 1]
        step = g.op("Mul", pivot, sign)
        det = step if det is None else g.op("Mul", det, step)
        # a zero pivot means a zero column: the determinant is 0 and dividing by 1 keeps it finite
        nonzero = cast(g, g.op("Greater", g.op("Abs", pivot), scalar(g, 0.0, dt)), dt)
        safe = g.op("Add", pivot, g.op("Sub", scalar(g, 1.0, dt), nonzero))
        top = slice_(g, work, [0], [1], [rows_axis])
        done_rows.append(g.op("Div", top, safe))
        if m > 1:
            rest = slice_(g, work, [1], [m], [rows_axis])  # [..., m-1, width]
            factors = g.op("Div", slice_(g, rest, [k], [k + 1], [last]), safe)
            work = g.op("Sub", rest, g.op("Mul", factors, top))
    return det, done_rows, width


def _det(g, x, n, dt):
    batch_rank = g.rank(x) - 2
    if n == 0:
        one = g.constant(torch.ones([], dtype=dt))
        batch = g.shape(x)[:-2]
        return expand(g, one, list(batch)) if batch_rank else one
    det, _, _ = _elimination(g, x, n, batch_rank, dt)
    return squeeze(g, det, [batch_rank, batch_rank + 1])


@op("aten::linalg_det", "aten::det")
def linalg_det(g, x):
    out = g.out_dtype()
    n = _static_n(g, x)
    dt = float_compute(out)
    return cast(g, _det(g, cast(g, x, dt), n, dt), out)


def _inverse(g, x, n, dt):
    """Gauss-Jordan: eliminate ``[A | I]`` down, then substitute back up the normalised rows."""
    batch_rank = g.rank(x) - 2
    eye = _eye(g, n, n, dt)
    if batch_rank:
        eye = expand(g, eye, list(g.shape(x)[:-2]) + [n, n])
        g.set_type(eye, shape=list(g.shape(x)))
    _, rows, width = _elimination(g, x, n, batch_rank, dt, aug=eye)
    last = batch_rank + 1
    # rows[k] is [..., 1, 2n] with 1 at column k and zeros before; substitute upwards
    solved = [None] * n
    for k in reversed(range(n)):
        row = rows[k]
        for j in range(k + 1, n):
            coef = slice_(g, row, [j], [j + 1], [last])
            row = g.op("Sub", row, g.op("Mul", coef, solved[j]))
        solved[k] = row
    full = g.op("Concat", *solved, axis_i=batch_rank) if n > 1 else solved[0]
    return slice_(g, full, [n], [2 * n], [last])


@op("aten::linalg_inv")
def linalg_inv(g, x):
    out = g.out_dtype()
    n = _static_n(g, x)
    if n == 0:
        return x
    dt = float_compute(out)
    return cast(g, _inverse(g, cast(g, x, dt), n, dt), out)


@op("aten::linalg_inv_ex")
def linalg_inv_ex(g, x, *, check_errors=False):
    inv = linalg_inv(g, x)
    batch = list(g.shape(x)[:-2])
    info = g.constant(torch.zeros(batch, dtype=torch.int32))
    return inv, info


@op("aten::linalg_matrix_power", "aten::matrix_power")
def matrix_power(g, x, n):
    """Repeated squaring; ``n < 0`` inverts first, ``n == 0`` is the identity."""
    out = g.out_dtype()
    size = _static_n(g, x)
    shape = list(g.shape(x))
    if n == 0:
        eye = _eye(g, size, size, out)
        return expand(g, eye, shape) if len(shape) > 2 else eye
    if n < 0:
        dt = float_compute(out)
        x = g.set_type(_inverse(g, cast(g, x, dt), size, dt), shape=shape)
        n = -n
    result, base = None, x
    while n:
        if n & 1:
            result = base if result is None else _matmul(g, result, base)
        n >>= 1
        if n:
            base = _matmul(g, base, base)
    return cast(g, result, out)


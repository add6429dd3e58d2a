"""Opset 9: NonZero, Compress and Where make data-dependent selections and masked reductions possible.

The cumulative ops without an ONNX counterpart (``cumprod``, ``logcumsumexp``, ``cummax``,
``cummin``) are composed as a reduction over a lower-triangular mask: output ``i`` reduces the
inputs ``j <= i``. That is quadratic in the scanned length, exact, and fine for the short axes
models scan over.
"""

from __future__ import annotations

import torch

from ..forms import reduce, slice_, unsqueeze
from ..helpers import cast, norm_dim, reshape, transpose
from ..registration import op
from ..shape_helpers import equal


@op("aten::nonzero")
def nonzero(g, x):
    """Indices as rows ``(count, rank)``; a 0-d input gives ``(1 or 0, 0)`` as in PyTorch."""
    if g.rank(x) == 0:
        nz = g.op("NonZero", reshape(g, x, [1]))  # (1, count)
        rows = g.op("Transpose", nz, perm_is=[1, 0])  # (count, 1)
        return slice_(g, rows, [0], [0], [1])
    nz = g.op("NonZero", x)
    return g.op("Transpose", nz, perm_is=[1, 0])


@op("aten::argwhere")
def argwhere(g, x):
    return nonzero(g, x)


@op("aten::masked_select")
def masked_select(g, x, mask):
    if g.static_shape(x) is not None and g.static_shape(x) == g.static_shape(mask):
        return g.op("Compress", reshape(g, x, [-1]), reshape(g, cast(g, mask, torch.bool), [-1]))
    xb = g.op("Expand", x, g.op("Shape", mask, dtype=torch.int64), dtype=g.dtype(x))
    mb = g.op("Expand", mask, g.op("Shape", xb, dtype=torch.int64), dtype=torch.bool)
    return g.op("Compress", reshape(g, xb, [-1]), reshape(g, cast(g, mb, torch.bool), [-1]),
                dtype=g.dtype(x))


# -- masked cumulative reductions --------------------------------------------------------------
def _scan_layout(g, x, dim):
    """``x`` with ``dim`` last, unsqueezed to ``[..., 1, n]``, the ``j <= i`` mask, and the perm."""
    rank = g.rank(x)
    perm = list(range(rank))
    perm[dim], perm[-1] = perm[-1], perm[dim]
    xt = transpose(g, x, perm)
    n = g.shape(x)[dim]
    if not isinstance(n, int):
        raise NotImplementedError("a cumulative op over a dynamic dim")
    mask = g.constant(torch.tril(torch.ones(n, n, dtype=torch.bool)))
    return unsqueeze(g, xt, [rank - 1]), mask, perm, n


def _masked(g, xe, mask, fill, dt):
    return g.op("Where", mask, xe, g.constant(fill, dt))


def _scan(g, x, dim, op_type, fill, dt):
    if g.rank(x) == 0:
        return cast(g, x, dt)
    dim = norm_dim(dim, g.rank(x))
    xe, mask, perm, _ = _scan_layout(g, cast(g, x, dt), dim)
    red = reduce(g, op_type, _masked(g, xe, mask, fill, dt), [g.rank(x)], False, dt)
    return transpose(g, red, perm)


@op("aten::cumprod")
def cumprod(g, x, dim, dtype=None):
    return _scan(g, x, dim, "ReduceProd", 1, g.out_dtype() or g.dtype(x))


@op("aten::logcumsumexp")
def logcumsumexp(g, x, dim):
    dt = g.dtype(x)
    if g.rank(x) == 0:
        return x
    dim = norm_dim(dim, g.rank(x))
    xe, mask, perm, _ = _scan_layout(g, x, dim)
    masked = _masked(g, xe, mask, float("-inf"), dt)
    axis = g.rank(x)
    m = reduce(g, "ReduceMax", masked, [axis], True, dt)
    # a row of -inf has max -inf: shift by 0 there so exp() sees -inf, not NaN
    finite = g.op("Where", equal(g, m, g.constant(float("-inf"), dt)),
                  g.constant(0.0, dt), m)
    s = reduce(g, "ReduceSum", g.op("Exp", g.op("Sub", masked, finite)), [axis], True, dt)
    out = g.op("Add", g.op("Log", s), finite)
    out = _drop(g, out, axis)
    return transpose(g, out, perm)


def _drop(g, v, axis):
    from ..forms import squeeze

    return squeeze(g, v, [axis])


def _cum_extreme(g, x, dim, largest):
    dt = g.dtype(x)
    if g.rank(x) == 0:
        return x, g.constant(0, torch.int64)
    dim = norm_dim(dim, g.rank(x))
    axis = g.rank(x)
    xe, mask, perm, n = _scan_layout(g, x, dim)
    if dt.is_floating_point:
        fill = float("-inf") if largest else float("inf")
    elif dt == torch.bool:
        fill = not largest
    else:
        fill = int(torch.iinfo(dt).min if largest else torch.iinfo(dt).max)
    work = dt if dt != torch.bool else torch.int32
    masked = _masked(g, cast(g, xe, work), mask, int(fill) if dt == torch.bool else fill, work)
    vals = reduce(g, "ReduceMax" if largest else "ReduceMin", masked, [axis], True, work)
    # PyTorch reports the last position that reaches the running extreme
    hit = g.op("And", mask, equal(g, cast(g, xe, work), vals))
    if dt.is_floating_point:  # NaN propagates: it is its own running extreme from there on
        nan = g.op("IsNaN", xe)
        hit = g.op("Or", hit, g.op("And", mask, nan))
    pos = g.constant(torch.arange(n, dtype=torch.int64))
    cand = g.op("Where", hit, pos, g.constant(-1, torch.int64))
    idx = reduce(g, "ReduceMax", cand, [axis], False, torch.int64)
    vals = cast(g, _drop(g, vals, axis), dt)
    return transpose(g, vals, perm), transpose(g, idx, perm)


@op("aten::cummax")
def cummax(g, x, dim):
    return _cum_extreme(g, x, dim, True)


@op("aten::cummin")
def cummin(g, x, dim):
    return _cum_extreme(g, x, dim, False)


# -- searchsorted / bucketize: count the boundaries below each value -----------------------------
def _count_below(g, seq, v, right, out_int32):
    if g.rank(seq) > 1:
        s = unsqueeze(g, seq, [g.rank(seq) - 1])  # [..., 1, M]
    else:
        s = seq
    ve = unsqueeze(g, v, [g.rank(v)])  # [..., K, 1]
    dt = _common(g, seq, v)
    s, ve = cast(g, s, dt), cast(g, ve, dt)
    if right:
        cmp = g.op("Not", g.op("Less", ve, s))
    else:
        cmp = g.op("Less", s, ve)
    n = reduce(g, "ReduceSum", g.op("Cast", cmp, to_i=7), [g.rank(v)], False, torch.int64)
    return cast(g, n, torch.int32 if out_int32 else torch.int64)


def _common(g, a, b):
    from ..helpers import result_type

    dt = result_type(g, a, b)
    return dt if dt != torch.bool else torch.int64


def search_sorted(g, take_along, seq, v, out_int32, right, side, sorter):
    """``searchsorted``: ``seq`` reordered by ``sorter`` (``take_along(g, seq, sorter)`` along the
    last dim) when given, then each value's count of elements below it."""
    if sorter is not None:
        shape = g.shape(seq)
        seq = g.set_type(take_along(g, seq, sorter), shape=shape)
    if not hasattr(v, "dtype") or isinstance(v, (int, float)):
        v = g.constant(v)
    right = right or side == "right"
    return _count_below(g, seq, v, right, out_int32)


@op("aten::searchsorted.Tensor", "aten::searchsorted.Scalar")
def searchsorted(g, seq, v, *, out_int32=False, right=False, side=None, sorter=None):
    """A ``sorter`` is applied by the flat-index ``Gather`` of ``opset7.indexing.gather`` (there
    is no GatherElements before opset 11, whose ``opset11.indexing.searchsorted`` uses it)."""
    from ..opset7.indexing import gather

    return search_sorted(g, lambda g, s, i: gather(g, s, -1, i), seq, v, out_int32, right, side, sorter)


@op("aten::bucketize.Tensor", "aten::bucketize.Scalar")
def bucketize(g, x, boundaries, *, out_int32=False, right=False):
    if isinstance(x, (int, float)):
        x = g.constant(x)
    return _count_below(g, boundaries, x, right, out_int32)


def nonzero_rows(g, x, size: int, pad_rows) -> object:
    """``nonzero(x)`` as ``[count, rank]`` rows, made at least ``size`` rows long by
    ``pad_rows(rows, rank)`` and cut to exactly ``size`` rows (``nonzero_static``)."""
    rank = g.rank(x)
    if rank == 0:
        return g.constant(torch.zeros(size, 0, dtype=torch.int64))
    nz = g.op("Transpose", g.op("NonZero", x), perm_is=[1, 0])
    return g.set_type(slice_(g, pad_rows(nz, rank), [0], [size], [0]), shape=[size, rank])


@op("aten::nonzero_static")
def nonzero_static(g, x, *, size, fill_value=-1):
    """NonZero with ``size`` rows of ``fill_value`` appended, then cut (exact int64)."""
    def append_fill(nz, rank):
        fill = g.constant(torch.full((size, rank), fill_value, dtype=torch.int64))
        return g.op("Concat", nz, fill, axis_i=0)

    return nonzero_rows(g, x, size, append_fill)

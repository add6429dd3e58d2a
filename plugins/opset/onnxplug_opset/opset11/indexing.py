"""Opset 11: GatherElements, ScatterElements, CumSum and Unique replace the compositions of opset 7.

ScatterElements gains ``reduction`` only at 16 (add/mul) and 18 (max/min): until then the
reducing scatters keep the match-matrix composition of ``opset7.indexing``.
"""

from __future__ import annotations

import torch

from ..bool_helpers import to_bool
from ..forms import slice_
from ..helpers import cast, norm_dim, reshape
from ..opset9.indexing import nonzero_rows, search_sorted
from ..registration import op
from ..shape_helpers import filled, rs, where


def src_like_index(g, src, index, dt):
    """The part of ``src`` that ``index`` covers (PyTorch allows a larger src), cast to ``dt``."""
    if not hasattr(src, "dtype") or isinstance(src, (int, float, bool)):
        shape = g.static_shape(index)
        if shape is not None:
            return filled(g, list(shape), src, dt)
        return g.op("Expand", g.constant(src, dt), g.op("Shape", index, dtype=torch.int64), dtype=dt)
    src = cast(g, src, dt)
    ss, si = g.shape(src), g.shape(index)
    if ss is not None and si is not None and tuple(ss) != tuple(si):
        ends = [s if isinstance(s, int) else g.op("Gather", g.op("Shape", index, dtype=torch.int64),
                                                   g.constant(i, torch.int64), axis_i=0, dtype=torch.int64)
                for i, s in enumerate(si)]
        src = slice_(g, src, [0] * len(si), ends, list(range(len(si))))
    return src


def scatter_elements(g, x, dim, index, src, reduction=None):
    dt = g.dtype(x)
    if g.rank(x) == 0:
        one = [rs(g, v, [1]) for v in (x, index)]
        s = src if not hasattr(src, "dtype") else rs(g, src, [1])
        return rs(g, scatter_elements(g, one[0], 0, one[1], s, reduction), [])
    src = src_like_index(g, src, index, dt)
    return g.op("ScatterElements", x, index, src, axis_i=norm_dim(dim, g.rank(x)), reduction_s=reduction)


@op("aten::gather")
def gather(g, x, dim, index, sparse_grad=False):
    if g.rank(x) == 0:
        return rs(g, g.op("GatherElements", rs(g, x, [1]), rs(g, index, [1]), axis_i=0, dtype=g.dtype(x)), [])
    return g.op("GatherElements", x, index, axis_i=norm_dim(dim, g.rank(x)))


@op("aten::scatter.src", "aten::scatter.value")
def scatter(g, x, dim, index, src):
    return scatter_elements(g, x, dim, index, src)


@op("aten::take_along_dim")
def take_along_dim(g, x, indices, dim=None):
    if dim is None:
        flat = rs(g, x, [-1])
        return g.op("Gather", flat, rs(g, indices, [-1]), axis_i=0)
    rank = g.rank(x)
    d = norm_dim(dim, rank)
    xs, is_ = g.static_shape(x), g.static_shape(indices)
    if xs is not None and is_ is not None:
        # broadcast every dim but ``d`` between x and indices, in Python when shapes are static
        both = torch.broadcast_shapes(xs[:d] + (1,) + xs[d + 1:], is_[:d] + (1,) + is_[d + 1:])
        x_to, i_to = list(both), list(both)
        x_to[d], i_to[d] = xs[d], is_[d]
        if tuple(x_to) != xs:
            x = g.op("Expand", x, g.constant(x_to))
        if tuple(i_to) != is_:
            indices = g.op("Expand", indices, g.constant(i_to))
        return g.op("GatherElements", x, indices, axis_i=d)
    xshape = g.op("Shape", x, dtype=torch.int64)
    ishape = g.op("Shape", indices, dtype=torch.int64)
    one = g.constant([1], torch.int64)
    pos = g.constant([d], torch.int64)
    x_t = g.op("ScatterElements", ishape, pos, one, axis_i=0, dtype=torch.int64)
    i_t = g.op("ScatterElements", xshape, pos, one, axis_i=0, dtype=torch.int64)
    xb = g.op("Expand", x, x_t, dtype=g.dtype(x))
    ib = g.op("Expand", indices, i_t, dtype=torch.int64)
    return g.op("GatherElements", xb, ib, axis_i=d, dtype=g.dtype(x))


@op("aten::cumsum")
def cumsum(g, x, dim, dtype=None):
    dt = g.out_dtype() or g.dtype(x)
    if g.rank(x) == 0:
        return cast(g, x, dt)
    work = dt if dt not in (torch.bool, torch.int8, torch.uint8, torch.int16, torch.float16, torch.bfloat16) \
        else (torch.int64 if not dt.is_floating_point else torch.float32)
    out = g.op("CumSum", cast(g, x, work), g.constant(norm_dim(dim, g.rank(x)), torch.int64))
    return cast(g, out, dt)


@op("aten::masked_scatter")
def masked_scatter(g, x, mask, source):
    """Take source elements in order where mask is set: CumSum numbers the set positions."""
    dt = g.dtype(x)
    shape = g.op("Shape", g.op("Expand", x, g.op("Shape", mask)))
    xb = g.op("Expand", x, shape)
    mb = g.op("Expand", cast(g, mask, torch.bool), shape)
    flat_m = reshape(g, mb, [-1])
    pos = g.op("CumSum", g.op("Cast", flat_m, to_i=7), g.constant(0, torch.int64))
    pos = g.op("Sub", pos, g.constant(1, torch.int64))
    zero = g.constant(0, torch.int64)
    pos = g.op("Where", g.op("Less", pos, zero), zero, pos)
    flat_src = reshape(g, cast(g, source, dt), [-1])
    picked = g.op("Gather", flat_src, pos, axis_i=0)
    out = where(g, flat_m, picked, reshape(g, xb, [-1]), dt)
    return reshape(g, out, shape)


def _unique(g, x, **attrs):
    """``Unique`` (sorted) with its values, inverse and counts outputs.

    onnxruntime has no bool kernel: bools go through int64 0/1 (False sorts before True as
    in PyTorch) and the unique values are cast back.
    """
    dt = g.dtype(x)
    work = torch.int64 if dt == torch.bool else dt
    y, _, inverse, counts = g.op("Unique", cast(g, x, work), sorted_i=1, outputs=4, **attrs)
    for v in (inverse, counts):
        g.set_type(v, torch.int64)
    return (to_bool(g, y) if dt == torch.bool else y), inverse, counts


@op("aten::_unique2")
def unique2(g, x, sorted=True, return_inverse=False, return_counts=False):
    y, inverse, counts = _unique(g, reshape(g, x, [-1]))
    static = g.static_shape(x)
    inverse = reshape(g, inverse, list(static) if static is not None else g.op("Shape", x, dtype=torch.int64))
    return y, inverse, counts


@op("aten::unique_dim")
def unique_dim(g, x, dim, sorted=True, return_inverse=False, return_counts=False):
    return _unique(g, x, axis_i=norm_dim(dim, g.rank(x)))



@op("aten::nonzero_static")
def nonzero_static(g, x, *, size, fill_value=-1):
    """As at opset 9, but the fill rows come from ``Pad`` (no ``size x rank`` constant)."""
    def pad_fill(nz, rank):
        return g.op("Pad", nz, g.constant([0, 0, size, 0]), g.constant(fill_value, torch.int64),
                    mode_s="constant")

    return nonzero_rows(g, x, size, pad_fill)


@op("aten::unique_consecutive")
def unique_consecutive(g, x, return_inverse=False, return_counts=False, dim=None):
    """Runs of equal values: a run starts where a value differs from its predecessor."""
    if dim is not None:
        raise NotImplementedError("unique_consecutive along a dim")
    flat = rs(g, x, [-1])
    n = g.op("Shape", flat)
    prev = slice_(g, flat, [0], [-1], [0])
    nxt = slice_(g, flat, [1], [2**63 - 1], [0])
    changed = g.op("Not", g.op("Equal", nxt, prev))
    first = g.op("Slice", g.constant([True]), g.constant([0]), n, g.constant([0]))  # [] if empty
    start = g.op("Concat", first, changed, axis_i=0)
    y = g.op("Compress", flat, start, axis_i=0)
    run = g.op("CumSum", g.op("Cast", start, to_i=7), g.constant(0, torch.int64))
    inverse = g.op("Sub", run, g.constant(1, torch.int64))
    static = g.static_shape(x)
    inverse = reshape(g, inverse, list(static) if static is not None else g.op("Shape", x, dtype=torch.int64))
    starts = reshape(g, g.op("NonZero", start), [-1])
    ends = g.op("Concat", slice_(g, starts, [1], [2**63 - 1], [0]), n, axis_i=0)
    counts = g.op("Sub", ends, starts)
    return y, inverse, counts


@op("aten::searchsorted.Tensor", "aten::searchsorted.Scalar")
def searchsorted(g, seq, v, *, out_int32=False, right=False, side=None, sorter=None):
    """A ``sorter`` is applied by ``GatherElements`` along the last dim."""
    def take_along(g, s, i):
        return g.op("GatherElements", s, i, axis_i=-1)

    return search_sorted(g, take_along, seq, v, out_int32, right, side, sorter)

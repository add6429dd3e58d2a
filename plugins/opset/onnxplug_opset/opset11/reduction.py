"""Opset 11: TopK takes ``largest``, so the median (PyTorch's lower middle value) is a TopK."""

from __future__ import annotations

import torch

from ..forms import reduce, slice_, squeeze
from ..helpers import cast, reshape
from ..elementwise_helpers import isnan
from ..forms import propagate_nan
from ..registration import op


def _lower_median(g, x, axis, keepdim):
    """``(values, indices)`` of the ``(n - 1) // 2``-th smallest element along ``axis`` (static n)."""
    n = g.shape(x)[axis]
    if not isinstance(n, int):
        raise NotImplementedError("median along a dynamic dimension")
    k = (n - 1) // 2 + 1
    dt = g.dtype(x)
    vals, idx = g.op("TopK", x, g.constant([k], torch.int64), axis_i=axis, largest_i=0, sorted_i=1,
                     outputs=2)
    g.set_type(vals, dtype=dt)
    g.set_type(idx, dtype=torch.int64)
    vals = slice_(g, vals, [k - 1], [k], [axis])
    idx = slice_(g, idx, [k - 1], [k], [axis])
    nan = isnan(g, x) if g.dtype(x).is_floating_point else None
    if nan is not None:
        vals = propagate_nan(g, vals, x, [axis], True)
        # PyTorch points at the first NaN of a slice that holds one
        first_nan = g.op("ArgMax", cast(g, nan, torch.int32), axis_i=axis, keepdims_i=1)
        any_nan = g.op("IsNaN", vals)
        idx = g.op("Where", any_nan, first_nan, idx)
    if not keepdim:
        vals, idx = squeeze(g, vals, [axis]), squeeze(g, idx, [axis])
    return vals, idx


def _prepare(g, x):
    dt = g.dtype(x)
    if dt in (torch.float16, torch.float32, torch.float64, torch.int32, torch.int64):
        return x, dt
    return cast(g, x, torch.float32), dt


def _along_dim(g, select, x, dim, keepdim):
    """``(values, indices)`` of ``select`` (a median kind) along ``dim``."""
    rank = g.rank(x)
    if rank == 0:
        return x, g.constant(0, torch.int64)
    x, dt = _prepare(g, x)
    vals, idx = select(g, x, dim % rank, keepdim)
    return cast(g, vals, dt), idx


def _over_all(g, select, x):
    """The value of ``select`` over every element (static shapes: the count decides the rank)."""
    n = 1
    for d in g.shape(x):
        if not isinstance(d, int):
            raise NotImplementedError("median of a tensor with dynamic dimensions")
        n *= d
    x, dt = _prepare(g, x)
    flat = g.set_type(reshape(g, x, [n]), shape=[n])
    vals, _ = select(g, flat, 0, False)
    return cast(g, vals, dt)


@op("aten::median.dim")
def median_dim(g, x, dim, keepdim=False):
    return _along_dim(g, _lower_median, x, dim, keepdim)


@op("aten::median")
def median(g, x):
    return _over_all(g, _lower_median, x)


def _nan_median(g, x, axis, keepdim):
    """``(values, indices)`` of the lower median of the non-NaN values along ``axis`` (static n).

    NaNs sort last (as +inf); with ``m`` non-NaN values the answer is the ``(m - 1) // 2``-th
    smallest; a slice of only NaNs gives NaN at index 0, as PyTorch does.
    """
    n = g.shape(x)[axis]
    if not isinstance(n, int):
        raise NotImplementedError("nanmedian along a dynamic dimension")
    dt = g.dtype(x)
    nan = g.op("IsNaN", x)
    filled = g.op("Where", nan, g.constant(float("inf"), dt), x)
    vals, idx = g.op("TopK", filled, g.constant([n], torch.int64), axis_i=axis, largest_i=0, sorted_i=1,
                     outputs=2)
    g.set_type(vals, dtype=dt)
    g.set_type(idx, dtype=torch.int64)
    count = reduce(g, "ReduceSum", cast(g, g.op("Not", nan), torch.int64), [axis], True)
    # integer Div truncates, so an all-NaN slice (count 0) gets position 0, not -1
    pos = g.op("Div", g.op("Sub", count, g.constant(1)), g.constant(2))
    value = g.op("GatherElements", vals, pos, axis_i=axis)
    index = g.op("GatherElements", idx, pos, axis_i=axis)
    empty = g.op("Equal", count, g.constant(0))
    value = g.op("Where", empty, g.constant(float("nan"), dt), value)
    index = g.op("Where", empty, g.constant(0), index)
    if not keepdim:
        value, index = squeeze(g, value, [axis]), squeeze(g, index, [axis])
    return value, index


def _median_kind(g, x):
    """NaN-skipping selection for floats; integers hold no NaN, so the plain median."""
    return _nan_median if g.dtype(x).is_floating_point else _lower_median


@op("aten::nanmedian.dim")
def nanmedian_dim(g, x, dim, keepdim=False):
    return _along_dim(g, _median_kind(g, x), x, dim, keepdim)


@op("aten::nanmedian")
def nanmedian(g, x):
    return _over_all(g, _median_kind(g, x), x)

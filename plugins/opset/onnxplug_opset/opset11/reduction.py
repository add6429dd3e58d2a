"""Opset 11: TopK takes ``largest``, so the median (PyTorch's lower middle value) is a TopK."""

from __future__ import annotations

import torch

from ..helpers import cast, reshape, slice_, squeeze
from ..nn_helpers import is_nan, propagate_nan, recast
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
    nan = is_nan(g, x)
    if nan is not None:
        vals = propagate_nan(g, vals, x, [axis], True)
        # PyTorch points at the first NaN of a slice that holds one
        first_nan = g.op("ArgMax", cast(g, nan, torch.int32), axis_i=axis, keepdims_i=1, dtype=torch.int64)
        any_nan = g.op("IsNaN", vals, dtype=torch.bool)
        idx = g.op("Where", any_nan, first_nan, idx, dtype=torch.int64)
    if not keepdim:
        vals, idx = squeeze(g, vals, [axis]), squeeze(g, idx, [axis])
    return vals, idx


def _prepare(g, x):
    dt = g.dtype(x)
    if dt in (torch.float16, torch.float32, torch.float64, torch.int32, torch.int64):
        return x, dt
    return recast(g, x, torch.float32), dt


@op("aten::median.dim")
def median_dim(g, x, dim, keepdim=False):
    rank = g.rank(x)
    if rank == 0:
        return x, g.constant(0, torch.int64)
    x, dt = _prepare(g, x)
    vals, idx = _lower_median(g, x, dim % rank, keepdim)
    return cast(g, vals, dt), idx


@op("aten::median")
def median(g, x):
    n = 1
    for d in g.shape(x):
        if not isinstance(d, int):
            raise NotImplementedError("median of a tensor with dynamic dimensions")
        n *= d
    x, dt = _prepare(g, x)
    flat = g.set_type(reshape(g, x, [n]), shape=[n])
    vals, _ = _lower_median(g, flat, 0, False)
    return cast(g, vals, dt)

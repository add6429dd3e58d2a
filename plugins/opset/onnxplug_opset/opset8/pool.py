"""Opset 8: MaxPool's second output (the argmax indices)."""

from __future__ import annotations

import itertools
import math

import torch

from ..forms import reduce, slice_, squeeze, unsqueeze
from ..helpers import dim_size, is_float, reshape, scalar
from ..nn_helpers import (adaptive_cells, int_max_pool_with_indices, int_pool_args, per_axis, pool_rank, spatial_rank,
                          values_only)
from ..opset7.pool import adaptive_pool, max_pool_attrs
from ..registration import op


def pooled_with_indices(g, x, attrs, n):
    """MaxPool values and PyTorch's indices.

    ONNX numbers the argmax over the whole (N, C, *spatial) tensor; PyTorch within each (n, c)
    plane, so the index is taken modulo the plane size (static spatial sizes).
    """
    dt = g.dtype(x)
    y, idx = g.op("MaxPool", x, outputs=2, **attrs)
    g.set_type(y, dtype=dt)
    g.set_type(idx, dtype=torch.int64)
    spatial = g.shape(x)[-n:]
    if not all(isinstance(s, int) for s in spatial):
        raise NotImplementedError("max pooling indices over dynamic spatial sizes")
    plane = scalar(g, math.prod(spatial), torch.int64)
    planes = g.op("Div", idx, plane)
    idx = g.op("Sub", idx, g.op("Mul", planes, plane))
    return y, idx


@op("aten::max_pool2d_with_indices", "aten::max_pool1d_with_indices", "aten::max_pool3d_with_indices")
def max_pool_with_indices(g, x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    n = spatial_rank(g, x, kernel_size) or pool_rank(g)
    if g.rank(x) == n + 1:  # unbatched
        x4 = unsqueeze(g, x, [0])
        g.set_type(x4, shape=[1] + list(g.shape(x)))
        y, idx = max_pool_with_indices(g, x4, kernel_size, stride, padding, dilation, ceil_mode)
        return squeeze(g, y, [0]), squeeze(g, idx, [0])
    if not is_float(g.dtype(x)):  # no integer MaxPool kernel: gathered windows and ArgMax
        return int_max_pool_with_indices(g, x, n, *int_pool_args(n, kernel_size, stride, padding, dilation),
                                         g.dtype(x))
    attrs = max_pool_attrs(g, n, kernel_size, stride, padding, dilation, ceil_mode)
    return pooled_with_indices(g, x, attrs, n)


@op("aten::adaptive_max_pool1d", "aten::adaptive_max_pool2d", "aten::adaptive_max_pool3d")
def adaptive_max_pool(g, x, output_size):
    """Evenly dividing output sizes are a strided MaxPool (with indices); others values only."""
    if values_only(g):
        return adaptive_pool(g, x, output_size, "ReduceMax"), None
    n = len(output_size) if isinstance(output_size, (list, tuple)) else 1
    rank = g.rank(x)
    if rank == n + 1:
        x4 = unsqueeze(g, x, [0])
        g.set_type(x4, shape=[1] + list(g.shape(x)))
        y, idx = adaptive_max_pool(g, x4, output_size)
        return squeeze(g, y, [0]), squeeze(g, idx, [0])
    size = list(g.shape(x)[rank - n:])
    out = [s if o is None else o for s, o in zip(size, per_axis(output_size, n))]
    if not all(isinstance(s, int) for s in size):
        raise NotImplementedError("adaptive max pooling indices over dynamic spatial sizes")
    if not all(s % o == 0 for s, o in zip(size, out)):
        return adaptive_max_cells(g, x, size, out)
    k = [s // o for s, o in zip(size, out)]
    return pooled_with_indices(g, x, dict(kernel_shape_is=k, strides_is=k), n)


def adaptive_max_cells(g, x, size, out):
    """Uneven adaptive max pooling with indices: an ArgMax per output cell (static sizes).

    A cell's local argmax (over its flattened window) becomes PyTorch's index into the
    flattened (n, c) plane from the window's origin and shape.
    """
    n = len(size)
    rank = g.rank(x)
    axes = list(range(rank - n, rank))
    lead = [dim_size(g, x, 0), dim_size(g, x, 1)]
    strides = [math.prod(size[i + 1:]) for i in range(n)]
    values, indices = [], []
    for cell in itertools.product(*[adaptive_cells(s, o) for s, o in zip(size, out)]):
        starts, ends = [a for a, _ in cell], [b for _, b in cell]
        shape = [b - a for a, b in cell]
        window = reshape(g, slice_(g, x, starts, ends, axes), lead + [-1])
        values.append(reduce(g, "ReduceMax", window, [2], True))
        local = g.op("ArgMax", window, axis_i=2, keepdims_i=1)
        idx = None
        for i in range(n):  # local coordinate i, shifted by the window origin, times the plane stride
            inner = math.prod(shape[i + 1:])
            coord = g.op("Div", local, scalar(g, inner, torch.int64))
            if i > 0:
                coord = g.op("Sub", coord, g.op("Mul", g.op("Div", coord, scalar(g, shape[i], torch.int64)),
                                                 scalar(g, shape[i], torch.int64)))
            term = g.op("Mul", g.op("Add", coord, scalar(g, starts[i], torch.int64)),
                        scalar(g, strides[i], torch.int64))
            idx = term if idx is None else g.op("Add", idx, term)
        indices.append(idx)
    vals = g.op("Concat", *values, axis_i=2) if len(values) > 1 else values[0]
    idxs = g.op("Concat", *indices, axis_i=2) if len(indices) > 1 else indices[0]
    return reshape(g, vals, lead + list(out)), reshape(g, idxs, lead + list(out))

"""Max, average and adaptive pooling, as of opset 7 (MaxPool's indices output: opset 8)."""

from __future__ import annotations

import torch

from .. import forms
from ..forms import reduce, slice_, squeeze, unsqueeze
from ..helpers import is_float
from ..nn_helpers import (adaptive_cells, int_avg_pool, int_max_pool, int_max_pool_with_indices, int_pool_args,
                          per_axis, pool_rank, spatial_rank, values_only)
from ..registration import op


def pool_pads(padding, n):
    p = per_axis(padding, n)
    return p + p


def max_pool_attrs(g, n, kernel_size, stride, padding, dilation, ceil_mode):
    k = per_axis(kernel_size, n)
    s = per_axis(stride, n) if stride else k
    attrs = dict(kernel_shape_is=k, strides_is=s, pads_is=pool_pads(padding, n))
    # without ceil_mode (before opset 10) its extra windows are windows over more end padding,
    # which MaxPool ignores
    return forms.pool_attrs(g, attrs, per_axis(dilation, n), bool(ceil_mode),
                            ceil_pads=lambda: _ceil_pads(g, n, k, s, per_axis(padding, n)))


def _ceil_pads(g, n, k, s, p):
    """Begin and end pads that give PyTorch's ceil-mode output size with floor-mode pooling."""
    out = g.out_shape()[-n:]
    inp = [int(d) for d in g.arg_val(0).shape[-n:]]
    end = [max(p[i], (out[i] - 1) * s[i] + k[i] - inp[i] - p[i]) for i in range(n)]
    return list(p) + end


@op("aten::max_pool1d", "aten::max_pool2d", "aten::max_pool3d")
def max_pool(g, x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    n = spatial_rank(g, x, kernel_size) or pool_rank(g)
    if g.rank(x) == n + 1:  # unbatched
        return squeeze(g, max_pool(g, unsqueeze(g, x, [0]), kernel_size, stride, padding, dilation, ceil_mode),
                       [0])
    if not is_float(g.dtype(x)):
        return int_max_pool(g, x, n, *int_pool_args(n, kernel_size, stride, padding, dilation), g.dtype(x))
    attrs = max_pool_attrs(g, n, kernel_size, stride, padding, dilation, ceil_mode)
    return g.op("MaxPool", x, **attrs)


@op("aten::max_pool2d_with_indices", "aten::max_pool1d_with_indices", "aten::max_pool3d_with_indices")
def max_pool_with_indices(g, x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    """Values only (MaxPool's indices output comes at opset 8), but integer inputs, which are
    pooled by gathering windows anyway, have their indices at every opset."""
    if values_only(g):
        return max_pool(g, x, kernel_size, stride, padding, dilation, ceil_mode), None
    if not is_float(g.dtype(x)):
        n = spatial_rank(g, x, kernel_size) or pool_rank(g)
        if g.rank(x) == n + 1:  # unbatched
            y, idx = max_pool_with_indices(g, unsqueeze(g, x, [0]), kernel_size, stride, padding, dilation,
                                           ceil_mode)
            return squeeze(g, y, [0]), squeeze(g, idx, [0])
        return int_max_pool_with_indices(g, x, n, *int_pool_args(n, kernel_size, stride, padding, dilation),
                                         g.dtype(x))
    raise NotImplementedError("max pooling indices are converted from opset 8 on")


@op("aten::adaptive_max_pool1d", "aten::adaptive_max_pool2d", "aten::adaptive_max_pool3d")
def adaptive_max_pool(g, x, output_size):
    if values_only(g):
        return adaptive_pool(g, x, output_size, "ReduceMax"), None
    raise NotImplementedError("adaptive max pooling indices are converted from opset 8 on")


@op("aten::avg_pool1d", "aten::avg_pool2d", "aten::avg_pool3d")
def avg_pool(g, x, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
             divisor_override=None):
    n = spatial_rank(g, x, kernel_size) or pool_rank(g)
    if g.rank(x) == n + 1:  # unbatched
        y = avg_pool(g, unsqueeze(g, x, [0]), kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)
        return squeeze(g, y, [0])
    if not is_float(g.dtype(x)):  # exact integer sums, truncating division as ATen's
        k, s, p, _ = int_pool_args(n, kernel_size, stride, padding, 1)
        return int_avg_pool(g, x, n, k, s, p, count_include_pad, divisor_override, g.dtype(x))
    if divisor_override is not None:
        return sum_pool(g, x, n, kernel_size, stride, padding, divisor_override)
    k = per_axis(kernel_size, n)
    s = per_axis(stride, n) if stride else k
    attrs = dict(kernel_shape_is=k, strides_is=s, pads_is=pool_pads(padding, n),
                 count_include_pad_i=int(count_include_pad))
    attrs = forms.pool_attrs(g, attrs, ceil_mode=bool(ceil_mode))
    return g.op("AveragePool", x, **attrs)


def sum_pool(g, x, n, kernel_size, stride, padding, divisor):
    """Window sums over ``divisor``: a depthwise Conv with a ones kernel.

    ceil_mode's extra windows only add zero padding at the end, which a sum does not see, so
    the padding is widened to give PyTorch's output size.
    """
    dt = g.dtype(x)
    c = g.shape(x)[1]
    if not isinstance(c, int):
        raise NotImplementedError("avg_pool with divisor_override and a dynamic channel count")
    k, p = per_axis(kernel_size, n), per_axis(padding, n)
    s = per_axis(stride, n) if stride else k
    size, out = g.shape(x)[2:], g.out_shape()[2:]
    end = [max(p[i], (out[i] - 1) * s[i] + k[i] - size[i] - p[i]) for i in range(n)]
    ones = g.constant(torch.full([c, 1] + k, 1.0 / divisor, dtype=dt))
    return g.op("Conv", x, ones, kernel_shape_is=k, strides_is=s, pads_is=p + end, group_i=c)


def adaptive_pool(g, x, output_size, onnx_reduce):
    """Adaptive pooling, one spatial axis at a time (mean and max are both separable).

    Evenly dividing sizes become one pooling node; other sizes a reduction per output cell.
    """
    dt = g.dtype(x)
    rank = g.rank(x)
    n = len(output_size) if isinstance(output_size, (list, tuple)) else 1
    size = list(g.shape(x)[rank - n:])
    out = [s if o is None else o for s, o in zip(size, per_axis(output_size, n))]
    if not all(isinstance(s, int) for s in size):
        raise NotImplementedError("adaptive pooling over dynamic spatial sizes")
    if all(o == 1 for o in out) and rank == n + 2:
        return g.op("GlobalAveragePool" if onnx_reduce == "ReduceMean" else "GlobalMaxPool", x)
    if all(s % o == 0 for s, o in zip(size, out)) and rank == n + 2:
        k = [s // o for s, o in zip(size, out)]
        pool = "AveragePool" if onnx_reduce == "ReduceMean" else "MaxPool"
        return g.op(pool, x, kernel_shape_is=k, strides_is=k, dtype=dt)
    y = x
    for i, (s, o) in enumerate(zip(size, out)):
        axis = rank - n + i
        if s == o:
            continue
        parts = [reduce(g, onnx_reduce, slice_(g, y, [a], [b], [axis]), [axis], True) for a, b in adaptive_cells(s, o)]
        y = g.op("Concat", *parts, axis_i=axis) if len(parts) > 1 else parts[0]
    return y


@op("aten::adaptive_avg_pool1d", "aten::adaptive_avg_pool2d", "aten::_adaptive_avg_pool2d",
    "aten::adaptive_avg_pool3d", "aten::_adaptive_avg_pool3d")
def adaptive_avg_pool(g, x, output_size):
    return adaptive_pool(g, x, output_size, "ReduceMean")

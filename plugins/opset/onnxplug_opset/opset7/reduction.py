"""Reductions (sum, mean, max, min, argmax, argmin), as of opset 7."""

from __future__ import annotations

import torch

from ..helpers import cast, norm_dims, reduce
from ..registration import op

_REDUCE_INT_OK = {"ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd"}


def reduction(g, onnx_op, x, dim=None, keepdim=False, dtype=None):
    out = g.out_dtype()
    rank = g.rank(x)
    compute = out
    if out == torch.bool or (onnx_op not in _REDUCE_INT_OK and not out.is_floating_point):
        compute = torch.float32
    x = cast(g, x, compute if out != torch.bool or onnx_op == "ReduceSum" else torch.int32)
    if rank == 0:
        return cast(g, x, out)
    axes = norm_dims(dim, rank) if dim not in (None, []) else None
    y = reduce(g, onnx_op, x, axes, bool(keepdim) if axes is not None else False, dt=g.dtype(x))
    return cast(g, y, out)


@op("aten::sum.dim_IntList", "aten::sum")
def sum_(g, x, dim=None, keepdim=False, *, dtype=None):
    return reduction(g, "ReduceSum", x, dim, keepdim)


@op("aten::mean.dim", "aten::mean")
def mean(g, x, dim=None, keepdim=False, *, dtype=None):
    return reduction(g, "ReduceMean", x, dim, keepdim)


@op("aten::amax")
def amax(g, x, dim=(), keepdim=False):
    return reduction(g, "ReduceMax", x, dim, keepdim)


@op("aten::amin")
def amin(g, x, dim=(), keepdim=False):
    return reduction(g, "ReduceMin", x, dim, keepdim)


@op("aten::max")
def max_all(g, x):
    return reduction(g, "ReduceMax", x)


@op("aten::min")
def min_all(g, x):
    return reduction(g, "ReduceMin", x)


def arg_reduce(g, onnx_op, x, dim=None, keepdim=False):
    rank = g.rank(x) or 1
    if dim is None:
        x = g.op("Reshape", x, g.constant([-1], torch.int64), dtype=g.dtype(x))
        dim, keepdim, rank = 0, False, 1
    y = g.op(onnx_op, x, axis_i=norm_dims(dim, rank)[0], keepdims_i=int(keepdim), dtype=torch.int64)
    return y


@op("aten::argmax")
def argmax(g, x, dim=None, keepdim=False):
    return arg_reduce(g, "ArgMax", x, dim, keepdim)


@op("aten::argmin")
def argmin(g, x, dim=None, keepdim=False):
    return arg_reduce(g, "ArgMin", x, dim, keepdim)

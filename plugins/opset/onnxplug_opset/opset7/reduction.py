"""Reductions (sum, mean, prod, max/min, arg max/min, var/std, norms, all/any), as of opset 7."""

from __future__ import annotations

import torch

from ..dtypes import float_compute
from ..forms import reduce, squeeze
from ..helpers import cast, reshape
from ..forms import propagate_nan
from ..nn_helpers import axes_of, variance, vector_norm
from ..registration import op

_REDUCE_INT_OK = {"ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd"}


def reduction(g, onnx_op, x, dim=None, keepdim=False, out=None):
    """``onnx_op`` over ``dim`` computed in the result dtype (which ``dtype=`` sets in PyTorch)."""
    out = out or g.out_dtype()
    rank = g.rank(x)
    compute = out
    if out == torch.bool or out in (torch.int8, torch.uint8, torch.int16) \
            or (onnx_op not in _REDUCE_INT_OK and not out.is_floating_point):
        compute = torch.int32 if onnx_op in _REDUCE_INT_OK else torch.float32
    if out == torch.bfloat16:
        compute = torch.float32
    x = cast(g, x, compute)
    if rank == 0:
        return cast(g, x, out)
    axes = axes_of(dim, rank)
    keepdim = bool(keepdim)
    y = reduce(g, onnx_op, x, axes, keepdim, dt=g.dtype(x))
    if onnx_op in ("ReduceMax", "ReduceMin"):
        y = propagate_nan(g, y, x, axes, keepdim)
    return cast(g, y, out)


@op("aten::sum.dim_IntList", "aten::sum")
def sum_(g, x, dim=None, keepdim=False, *, dtype=None):
    return reduction(g, "ReduceSum", x, dim, keepdim)


@op("aten::mean.dim", "aten::mean")
def mean(g, x, dim=None, keepdim=False, *, dtype=None):
    return reduction(g, "ReduceMean", x, dim, keepdim)


@op("aten::prod.dim_int")
def prod_dim(g, x, dim, keepdim=False, *, dtype=None):
    return reduction(g, "ReduceProd", x, [dim], keepdim)


@op("aten::prod")
def prod(g, x, *, dtype=None):
    return reduction(g, "ReduceProd", x)


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


@op("aten::aminmax")
def aminmax(g, x, *, dim=None, keepdim=False):
    dims = None if dim is None else [dim]
    return (reduction(g, "ReduceMin", x, dims, keepdim, out=g.out_dtype(0)),
            reduction(g, "ReduceMax", x, dims, keepdim, out=g.out_dtype(1)))


def arg_reduce(g, onnx_op, x, dim=None, keepdim=False):
    """ArgMax/ArgMin (first occurrence, like PyTorch); ``dim`` None flattens first."""
    rank = g.rank(x)
    if rank == 0:
        return g.constant(0, torch.int64)
    if dim is None:
        x = reshape(g, x, [-1])
        y = g.op(onnx_op, x, axis_i=0, keepdims_i=0)
        return reshape(g, y, [1] * rank) if keepdim else y
    dt = g.dtype(x)
    if dt in (torch.bool, torch.int8, torch.uint8, torch.int16, torch.bfloat16):
        x = cast(g, x, torch.float32 if dt == torch.bfloat16 else torch.int32)
    return g.op(onnx_op, x, axis_i=dim % rank, keepdims_i=int(keepdim))


@op("aten::argmax")
def argmax(g, x, dim=None, keepdim=False):
    return arg_reduce(g, "ArgMax", x, dim, keepdim)


@op("aten::argmin")
def argmin(g, x, dim=None, keepdim=False):
    return arg_reduce(g, "ArgMin", x, dim, keepdim)


@op("aten::max.dim")
def max_dim(g, x, dim, keepdim=False):
    """``(values, indices)`` along ``dim``."""
    return reduction(g, "ReduceMax", x, [dim], keepdim, out=g.out_dtype(0)), \
        arg_reduce(g, "ArgMax", x, dim, keepdim)


@op("aten::min.dim")
def min_dim(g, x, dim, keepdim=False):
    return reduction(g, "ReduceMin", x, [dim], keepdim, out=g.out_dtype(0)), \
        arg_reduce(g, "ArgMin", x, dim, keepdim)


# -- statistics ----------------------------------------------------------------------------------
def _var(g, x, dim, correction, keepdim):
    out = g.out_dtype(0)
    x = cast(g, x, float_compute(out))
    if g.rank(x) == 0:
        x = g.set_type(reshape(g, x, [1]), shape=[1])
        var, mean = variance(g, x, None, 1 if correction is None else correction, False)
        return var, reshape(g, mean, [])
    axes = axes_of(dim, g.rank(x))
    var, mean = variance(g, x, axes, 1 if correction is None else correction, bool(keepdim))
    if not keepdim:
        mean = reshape(g, mean, []) if axes is None else squeeze(g, mean, axes)
    return var, mean


@op("aten::var.correction")
def var(g, x, dim=None, *, correction=None, keepdim=False):
    return cast(g, _var(g, x, dim, correction, keepdim)[0], g.out_dtype())


@op("aten::var.dim")
def var_dim(g, x, dim, unbiased=True, keepdim=False):
    return cast(g, _var(g, x, dim, int(unbiased), keepdim)[0], g.out_dtype())


@op("aten::var")
def var_all(g, x, unbiased=True):
    return cast(g, _var(g, x, None, int(unbiased), False)[0], g.out_dtype())


@op("aten::std.correction")
def std(g, x, dim=None, *, correction=None, keepdim=False):
    v = _var(g, x, dim, correction, keepdim)[0]
    return cast(g, g.op("Sqrt", v), g.out_dtype())


@op("aten::std.dim")
def std_dim(g, x, dim, unbiased=True, keepdim=False):
    v = _var(g, x, dim, int(unbiased), keepdim)[0]
    return cast(g, g.op("Sqrt", v), g.out_dtype())


@op("aten::std")
def std_all(g, x, unbiased=True):
    v = _var(g, x, None, int(unbiased), False)[0]
    return cast(g, g.op("Sqrt", v), g.out_dtype())


@op("aten::var_mean.correction")
def var_mean(g, x, dim=None, *, correction=None, keepdim=False):
    v, m = _var(g, x, dim, correction, keepdim)
    return cast(g, v, g.out_dtype(0)), cast(g, m, g.out_dtype(1))


@op("aten::std_mean.correction")
def std_mean(g, x, dim=None, *, correction=None, keepdim=False):
    v, m = _var(g, x, dim, correction, keepdim)
    return cast(g, g.op("Sqrt", v), g.out_dtype(0)), cast(g, m, g.out_dtype(1))


@op("aten::std_mean.dim")
def std_mean_dim(g, x, dim, unbiased=True, keepdim=False):
    return std_mean(g, x, dim, correction=int(unbiased), keepdim=keepdim)


@op("aten::var_mean.dim")
def var_mean_dim(g, x, dim, unbiased=True, keepdim=False):
    return var_mean(g, x, dim, correction=int(unbiased), keepdim=keepdim)


# -- norms -----------------------------------------------------------------------------------------
@op("aten::linalg_vector_norm")
def linalg_vector_norm(g, x, ord=2, dim=None, keepdim=False, *, dtype=None):
    out = g.out_dtype()
    x = cast(g, x, float_compute(out))
    if g.rank(x) == 0:
        x = reshape(g, x, [1])
        y = reshape(g, vector_norm(g, x, ord, None, False), [])
        return cast(g, y, out)
    y = vector_norm(g, x, ord, axes_of(dim, g.rank(x)), bool(keepdim))
    return cast(g, y, out)


@op("aten::norm.ScalarOpt_dim", "aten::norm.ScalarOpt_dim_dtype")
def norm_dim(g, x, p=2, dim=(), keepdim=False, *, dtype=None):
    return linalg_vector_norm(g, x, 2 if p is None else p, dim, keepdim)


@op("aten::norm.Scalar", "aten::norm.ScalarOpt_dtype")
def norm_all(g, x, p=2, *, dtype=None):
    return linalg_vector_norm(g, x, 2 if p is None else p)


@op("aten::logsumexp")
def logsumexp(g, x, dim, keepdim=False):
    """``ReduceLogSumExp``: onnxruntime computes it stably (max shifted out)."""
    out = g.out_dtype()
    x = cast(g, x, float_compute(out))
    if g.rank(x) == 0:
        return cast(g, x, out)
    y = reduce(g, "ReduceLogSumExp", x, axes_of(dim, g.rank(x)), bool(keepdim))
    return cast(g, y, out)


# -- logical -------------------------------------------------------------------------------------
def _truth(g, x):
    """``x != 0`` as int32 (NaN counts as true, as in PyTorch)."""
    if g.dtype(x) == torch.bool:
        return cast(g, x, torch.int32)
    return cast(g, cast(g, x, torch.bool), torch.int32)


def _logical(g, onnx_op, x, dim, keepdim):
    out = g.out_dtype()
    t = _truth(g, x)
    if g.rank(x) == 0:
        return cast(g, t, out)
    y = reduce(g, onnx_op, t, axes_of(dim, g.rank(x)), bool(keepdim))
    return cast(g, cast(g, y, torch.bool), out)


@op("aten::all.dim", "aten::all.dims", "aten::all")
def all_(g, x, dim=None, keepdim=False):
    return _logical(g, "ReduceMin", x, dim, keepdim)


@op("aten::any.dim", "aten::any.dims", "aten::any")
def any_(g, x, dim=None, keepdim=False):
    return _logical(g, "ReduceMax", x, dim, keepdim)


@op("aten::count_nonzero.dim_IntList", "aten::count_nonzero")
def count_nonzero(g, x, dim=None):
    t = cast(g, _truth(g, x), torch.int64)
    if g.rank(x) == 0:
        return t
    return reduce(g, "ReduceSum", t, axes_of(dim, g.rank(x)), False)

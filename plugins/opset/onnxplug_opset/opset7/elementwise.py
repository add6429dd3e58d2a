"""Element-wise arithmetic and activations, as of opset 7."""

from __future__ import annotations

import math

import onnx_ir as ir
import torch

from ..helpers import FLOATS, as_value, cast, dtype, erf, promote, scalar
from ..registration import op

ONNX7_FLOATS = (torch.float16, torch.float32, torch.float64)


def binary(g, onnx_op: str, x, y, out=None):
    """``onnx_op(x, y)`` after PyTorch's type promotion; the result has the op's output dtype."""
    (a, b), dt = promote(g, x, y, to=out or g.out_dtype())
    return g.op(onnx_op, a, b, dtype=dt)


def float_unary(g, onnx_op: str, x, **attrs):
    """A unary op ONNX defines for floats only: ints are computed in float32 (PyTorch does too)."""
    out = g.out_dtype() or dtype(g, x)
    x = cast(g, x, out if out in ONNX7_FLOATS else torch.float32)
    y = g.op(onnx_op, x, dtype=g.dtype(x), **attrs)
    return cast(g, y, out)


@op("aten::add.Tensor", "aten::add.Scalar")
def add(g, x, y, alpha=1):
    dt = g.out_dtype()
    if dt == torch.bool:
        return binary(g, "Or", x, y)
    (a, b), dt = promote(g, x, y, to=dt)
    if alpha != 1:
        b = g.op("Mul", b, scalar(g, alpha, dt), dtype=dt)
    return g.op("Add", a, b, dtype=dt)


def _sub(g, x, y, alpha):
    (a, b), dt = promote(g, x, y, to=g.out_dtype())
    if alpha != 1:
        b = g.op("Mul", b, scalar(g, alpha, dt), dtype=dt)
    return g.op("Sub", a, b, dtype=dt)


@op("aten::sub.Tensor", "aten::sub.Scalar")
def sub(g, x, y, alpha=1):
    return _sub(g, x, y, alpha)


@op("aten::rsub.Tensor", "aten::rsub.Scalar")
def rsub(g, x, y, alpha=1):
    """``y - alpha * x``."""
    return _sub(g, y, x, alpha)


@op("aten::mul.Tensor", "aten::mul.Scalar")
def mul(g, x, y):
    if g.out_dtype() == torch.bool:
        return binary(g, "And", x, y)
    return binary(g, "Mul", x, y)


@op("aten::div.Tensor", "aten::div.Scalar")
def div(g, x, y):
    return binary(g, "Div", x, y)


@op("aten::neg")
def neg(g, x):
    return g.op("Neg", x, dtype=g.dtype(x))


@op("aten::relu")
def relu(g, x):
    return float_unary(g, "Relu", x)


@op("aten::sigmoid")
def sigmoid(g, x):
    return float_unary(g, "Sigmoid", x)


@op("aten::tanh")
def tanh(g, x):
    return float_unary(g, "Tanh", x)


@op("aten::exp")
def exp(g, x):
    return float_unary(g, "Exp", x)


@op("aten::log")
def log(g, x):
    return float_unary(g, "Log", x)


@op("aten::sqrt")
def sqrt(g, x):
    return float_unary(g, "Sqrt", x)


@op("aten::rsqrt")
def rsqrt(g, x):
    y = float_unary(g, "Sqrt", x)
    return g.op("Reciprocal", y, dtype=g.dtype(y))


@op("aten::erf")
def erf_(g, x):
    out = g.out_dtype()
    return cast(g, erf(g, cast(g, x, out)), out)


@op("aten::pow.Tensor_Scalar", "aten::pow.Tensor_Tensor", "aten::pow.Scalar")
def pow_(g, x, y):
    dt = g.out_dtype()
    if isinstance(y, (int, float)) and not isinstance(y, bool) and y == 2 and isinstance(x, ir.Value):
        xv = as_value(g, x, dt)
        return g.op("Mul", xv, xv, dtype=dt)
    (a, b), _ = promote(g, x, y, to=dt)
    if dt in FLOATS:
        return g.op("Pow", a, b, dtype=dt)
    fa, fb = cast(g, a, torch.float64), cast(g, b, torch.float64)
    return cast(g, g.op("Pow", fa, fb, dtype=torch.float64), dt)


@op("aten::gelu")
def gelu(g, x, approximate="none"):
    dt = g.dtype(x)
    half = scalar(g, 0.5, dt)
    one = scalar(g, 1.0, dt)
    if approximate == "tanh":
        c = scalar(g, math.sqrt(2 / math.pi), dt)
        k = scalar(g, 0.044715, dt)
        x3 = g.op("Mul", g.op("Mul", x, x, dtype=dt), x, dtype=dt)
        inner = g.op("Mul", c, g.op("Add", x, g.op("Mul", k, x3, dtype=dt), dtype=dt), dtype=dt)
        t = g.op("Tanh", inner, dtype=dt)
    else:
        t = erf(g, g.op("Mul", x, scalar(g, 1 / math.sqrt(2), dt), dtype=dt))
    return g.op("Mul", g.op("Mul", half, x, dtype=dt), g.op("Add", one, t, dtype=dt), dtype=dt)


def _softmax_last(g, onnx_op, x, dim):
    """Before opset 13 Softmax flattens from ``axis``: move ``dim`` last, then axis=-1 is exact."""
    rank = g.rank(x)
    dim = dim % rank if rank else 0
    dt = g.dtype(x)
    if rank in (0, None) or dim == rank - 1:
        return g.op(onnx_op, x, axis_i=max(rank - 1, 0) if rank else 0, dtype=dt)
    perm = list(range(rank))
    perm[dim], perm[-1] = perm[-1], perm[dim]
    t = g.op("Transpose", x, perm_is=perm, dtype=dt)
    y = g.op(onnx_op, t, axis_i=rank - 1, dtype=dt)
    return g.op("Transpose", y, perm_is=perm, dtype=dt)


@op("aten::softmax.int", "aten::_softmax")
def softmax(g, x, dim, dtype_or_half=None):
    out = g.out_dtype()
    x = cast(g, x, out)
    return _softmax_last(g, "Softmax", x, dim)


@op("aten::log_softmax.int", "aten::_log_softmax")
def log_softmax(g, x, dim, dtype_or_half=None):
    out = g.out_dtype()
    x = cast(g, x, out)
    return _softmax_last(g, "LogSoftmax", x, dim)

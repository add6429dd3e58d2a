"""Element-wise arithmetic, unary maths and activations, as of opset 7.

What needs ``Where``/``Sign``/``Sinh``-family ops (opset 9) lives in ``opset9.elementwise``.
Integer and bool inputs of float-only ONNX ops are computed in float and cast to PyTorch's
result dtype (``g.out_dtype()``), so every dtype PyTorch accepts exports.
"""

from __future__ import annotations

import math

import onnx_ir as ir
import torch

from .. import elementwise_helpers as eh
from .. import forms
from ..dtypes import float_compute
from ..elementwise_helpers import c, float_math, float_op, op1, op2, out_dtype
from ..forms import clip, erf, split
from ..helpers import as_value, cast, promote, reshape, scalar
from ..registration import op


def _scaled(g, x, y, alpha, dt):
    """``y * alpha`` (nothing emitted for alpha == 1)."""
    b = as_value(g, y, dt)
    if alpha is None or alpha == 1:
        return b
    return eh.arith(g, "Mul", b, scalar(g, alpha, dt), dt)


# -- arithmetic ----------------------------------------------------------------------------------
@op("aten::add.Tensor", "aten::add.Scalar")
def add(g, x, y, alpha=1):
    dt = out_dtype(g, x, y)
    if dt == torch.bool:
        return eh.or_(g, as_value(g, x, dt), as_value(g, y, dt))
    return eh.arith(g, "Add", x, _scaled(g, x, y, alpha, dt), dt)


@op("aten::sub.Tensor", "aten::sub.Scalar")
def sub(g, x, y, alpha=1):
    dt = out_dtype(g, x, y)
    return eh.arith(g, "Sub", x, _scaled(g, x, y, alpha, dt), dt)


@op("aten::rsub.Tensor", "aten::rsub.Scalar")
def rsub(g, x, y, alpha=1):
    """``y - alpha * x``."""
    dt = out_dtype(g, x, y)
    return eh.arith(g, "Sub", y, _scaled(g, y, x, alpha, dt), dt)


@op("aten::mul.Tensor", "aten::mul.Scalar")
def mul(g, x, y):
    dt = out_dtype(g, x, y)
    if dt == torch.bool:
        return eh.and_(g, as_value(g, x, dt), as_value(g, y, dt))
    return eh.arith(g, "Mul", x, y, dt)


def _div_rounded(g, x, y, rounding_mode):
    """``div`` with ``rounding_mode`` None (true division), 'trunc' or 'floor'."""
    dt = out_dtype(g, x, y)
    if rounding_mode is None:
        return eh.arith(g, "Div", x, y, dt)
    run = forms.arith_dtype(g, dt)
    a, b = as_value(g, x, run), as_value(g, y, run)
    if rounding_mode == "trunc":
        q = op2(g, "Div", a, b)
        return cast(g, eh.trunc(g, q) if run.is_floating_point else q, dt)
    return cast(g, eh.floor_divide(g, a, b), dt)


@op("aten::div.Tensor", "aten::div.Scalar")
def div(g, x, y):
    return _div_rounded(g, x, y, None)


@op("aten::div.Tensor_mode", "aten::div.Scalar_mode")
def div_mode(g, x, y, rounding_mode=None):
    return _div_rounded(g, x, y, rounding_mode)


@op("aten::true_divide.Tensor", "aten::true_divide.Scalar")
def true_divide(g, x, y):
    return _div_rounded(g, x, y, None)


@op("aten::floor_divide", "aten::floor_divide.Scalar")
def floor_divide(g, x, y):
    return _div_rounded(g, x, y, "floor")


@op("aten::fmod.Tensor", "aten::fmod.Scalar")
def fmod(g, x, y):
    dt = out_dtype(g, x, y)
    run = forms.arith_dtype(g, dt)
    return cast(g, eh.fmod(g, as_value(g, x, run), as_value(g, y, run)), dt)


@op("aten::neg")
def neg(g, x):
    dt = g.dtype(x)
    run = dt if dt in (torch.float16, torch.float32, torch.float64, torch.int32, torch.int64,
                       torch.int8) else torch.float32 if dt.is_floating_point else torch.int64
    return cast(g, op1(g, "Neg", cast(g, x, run)), dt)


@op("aten::abs")
def abs_(g, x):
    dt = g.dtype(x)
    if dt == torch.bool:
        return x
    run = dt if dt in (torch.float16, torch.float32, torch.float64, torch.int32, torch.int64,
                       torch.int8, torch.uint8) else torch.float32 if dt.is_floating_point else torch.int64
    return cast(g, op1(g, "Abs", cast(g, x, run)), dt)


@op("aten::positive")
def positive(g, x):
    return x


@op("aten::square")
def square(g, x):
    dt = out_dtype(g, x)
    xv = as_value(g, x, dt)
    return eh.arith(g, "Mul", xv, xv, dt)


@op("aten::reciprocal")
def reciprocal(g, x):
    return float_op(g, "Reciprocal", x)


@op("aten::addcmul")
def addcmul(g, x, t1, t2, value=1):
    """``x + value * t1 * t2``."""
    dt = out_dtype(g, x, t1, t2)
    prod = eh.arith(g, "Mul", t1, t2, dt)
    return eh.arith(g, "Add", x, _scaled(g, x, prod, value, dt), dt)


@op("aten::addcdiv")
def addcdiv(g, x, t1, t2, value=1):
    """``x + value * t1 / t2``."""
    dt = out_dtype(g, x, t1, t2)
    q = eh.arith(g, "Div", t1, t2, dt)
    return eh.arith(g, "Add", x, _scaled(g, x, q, value, dt), dt)


# -- powers and logarithms -------------------------------------------------------------------------
@op("aten::pow.Tensor_Scalar", "aten::pow.Tensor_Tensor", "aten::pow.Scalar")
def pow_(g, x, y):
    dt = out_dtype(g, x, y)
    if isinstance(y, (int, float)) and not isinstance(y, bool) and y == 2 and isinstance(x, ir.Value):
        xv = as_value(g, x, dt)
        return eh.arith(g, "Mul", xv, xv, dt)
    if dt in (torch.float32, torch.float64):
        (a, b), _ = promote(g, x, y, to=dt)
        return g.op("Pow", a, b)
    run = torch.float32 if dt.is_floating_point else torch.float64
    a, b = as_value(g, x, run), as_value(g, y, run)
    out = g.op("Pow", a, b)
    if not dt.is_floating_point:
        out = forms.round_half_even(g, out)
    return cast(g, out, dt)


@op("aten::float_power.Tensor_Tensor", "aten::float_power.Tensor_Scalar", "aten::float_power.Scalar")
def float_power(g, x, y):
    a, b = as_value(g, x, torch.float64), as_value(g, y, torch.float64)
    return g.op("Pow", a, b)


@op("aten::exp")
def exp(g, x):
    return float_op(g, "Exp", x)


@op("aten::exp2")
def exp2(g, x):
    return float_math(g, x, lambda v, d: g.op("Pow", c(g, 2.0, d), v))


@op("aten::expm1")
def expm1(g, x):
    return float_math(g, x, lambda v, d: op2(g, "Sub", op1(g, "Exp", v), c(g, 1.0, d)))


@op("aten::log")
def log(g, x):
    return float_op(g, "Log", x)


def _log_base(g, x, base):
    return float_math(g, x, lambda v, d: op2(g, "Div", op1(g, "Log", v), c(g, math.log(base), d)))


@op("aten::log2")
def log2(g, x):
    return _log_base(g, x, 2.0)


@op("aten::log10")
def log10(g, x):
    return _log_base(g, x, 10.0)


@op("aten::log1p")
def log1p(g, x):
    return float_math(g, x, lambda v, d: op1(g, "Log", op2(g, "Add", v, c(g, 1.0, d))))


@op("aten::sqrt")
def sqrt(g, x):
    return float_op(g, "Sqrt", x)


@op("aten::rsqrt")
def rsqrt(g, x):
    return float_math(g, x, lambda v, d: op1(g, "Reciprocal", op1(g, "Sqrt", v)))


@op("aten::logit")
def logit(g, x, eps=None):
    """``log(x / (1 - x))`` after clamping to ``[eps, 1 - eps]`` when eps is given."""
    def build(v, d):
        if eps is not None:
            v = clip(g, v, float(eps), 1.0 - float(eps))
        return op1(g, "Log", op2(g, "Div", v, op2(g, "Sub", c(g, 1.0, d), v)))
    return float_math(g, x, build)


@op("aten::hypot")
def hypot(g, x, y):
    """``sqrt(x^2 + y^2)``."""
    dt = out_dtype(g, x, y)
    a, b = as_value(g, x, dt), as_value(g, y, dt)
    s = op2(g, "Add", op2(g, "Mul", a, a), op2(g, "Mul", b, b))
    return op1(g, "Sqrt", s)


# -- trigonometry and special functions ---------------------------------------------------------
sin = op("aten::sin")(eh.unary_float("Sin", __name__))
cos = op("aten::cos")(eh.unary_float("Cos", __name__))
tan = op("aten::tan")(eh.unary_float("Tan", __name__))
asin = op("aten::asin")(eh.unary_float("Asin", __name__))
acos = op("aten::acos")(eh.unary_float("Acos", __name__))
atan = op("aten::atan")(eh.unary_float("Atan", __name__))


@op("aten::deg2rad")
def deg2rad(g, x):
    return float_math(g, x, lambda v, d: op2(g, "Mul", v, c(g, math.pi / 180.0, d)))


@op("aten::rad2deg")
def rad2deg(g, x):
    return float_math(g, x, lambda v, d: op2(g, "Mul", v, c(g, 180.0 / math.pi, d)))


@op("aten::erf")
def erf_(g, x):
    return float_math(g, x, lambda v, d: erf(g, v), op_type="Erf")


@op("aten::erfc")
def erfc(g, x):
    return float_math(g, x, lambda v, d: op2(g, "Sub", c(g, 1.0, d), erf(g, v)), op_type="Erf")


@op("aten::special_ndtr")
def special_ndtr(g, x):
    """``(1 + erf(x / sqrt 2)) / 2``."""
    def build(v, d):
        e = erf(g, op2(g, "Mul", v, c(g, 1 / math.sqrt(2), d)))
        return op2(g, "Mul", op2(g, "Add", e, c(g, 1.0, d)), c(g, 0.5, d))
    return float_math(g, x, build, op_type="Erf")


# -- rounding ------------------------------------------------------------------------------------
def _round_like(onnx_op: str):
    def convert(g, x):
        dt = g.dtype(x)
        if not dt.is_floating_point:
            return x  # PyTorch's floor/ceil/trunc of an integer tensor is the tensor
        run = float_compute(dt)
        if onnx_op == "Trunc":
            return cast(g, eh.trunc(g, cast(g, x, run)), dt)
        return cast(g, op1(g, onnx_op, cast(g, x, run)), dt)
    return convert


ceil = op("aten::ceil")(_round_like("Ceil"))
floor = op("aten::floor")(_round_like("Floor"))
trunc = op("aten::trunc", "aten::fix")(_round_like("Trunc"))


@op("aten::frac")
def frac(g, x):
    """``x - trunc(x)``."""
    return float_math(g, x, lambda v, d: op2(g, "Sub", v, eh.trunc(g, v)))


# -- activations -----------------------------------------------------------------------------------
@op("aten::relu")
def relu(g, x):
    return float_op(g, "Relu", x)


@op("aten::sigmoid")
def sigmoid(g, x):
    return float_op(g, "Sigmoid", x)


@op("aten::tanh")
def tanh(g, x):
    return float_op(g, "Tanh", x)


@op("aten::leaky_relu")
def leaky_relu(g, x, negative_slope=0.01):
    return float_op(g, "LeakyRelu", x, alpha_f=float(negative_slope))


@op("aten::elu")
def elu(g, x, alpha=1.0, scale=1.0, input_scale=1.0):
    """``scale * Elu(x * input_scale)`` with the negative branch ``alpha * (exp(...) - 1)``.

    Elu's ``x > 0`` branch is ``x`` itself, so ``input_scale`` is undone on that side.
    """
    def build(v, d):
        if input_scale == 1:
            y = op1(g, "Elu", v, alpha_f=float(alpha))
        else:
            pos = op1(g, "Relu", v)
            neg = op2(g, "Sub", v, pos)  # min(v, 0)
            e = op1(g, "Elu", op2(g, "Mul", neg, c(g, float(input_scale), d)), alpha_f=float(alpha))
            y = op2(g, "Add", pos, e)
        return y if scale == 1 else op2(g, "Mul", y, c(g, float(scale), d))
    return float_math(g, x, build, op_type="Elu")


@op("aten::selu")
def selu(g, x):
    return float_op(g, "Selu", x)


@op("aten::celu")
def celu(g, x, alpha=1.0):
    """``alpha * Elu(x / alpha)`` (Celu arrives at 12)."""
    a = float(alpha)
    def build(v, d):
        y = op1(g, "Elu", op2(g, "Div", v, c(g, a, d)), alpha_f=1.0)
        return op2(g, "Mul", y, c(g, a, d))
    return float_math(g, x, build, op_type="Elu")


@op("aten::hardtanh")
def hardtanh(g, x, min_val=-1.0, max_val=1.0):
    return clamp(g, x, min_val, max_val)


@op("aten::relu6")
def relu6(g, x):
    return clamp(g, x, 0, 6)


@op("aten::hardsigmoid")
def hardsigmoid(g, x):
    return float_op(g, "HardSigmoid", x, alpha_f=1 / 6, beta_f=0.5)


@op("aten::hardswish")
def hardswish(g, x):
    """``x * HardSigmoid(x)`` (HardSwish arrives at 14)."""
    return float_math(g, x, lambda v, d: op2(g, "Mul", v, op1(g, "HardSigmoid", v, alpha_f=1 / 6,
                                                                  beta_f=0.5)), op_type="HardSigmoid")


@op("aten::silu")
def silu(g, x):
    return float_math(g, x, lambda v, d: op2(g, "Mul", v, op1(g, "Sigmoid", v)))


@op("aten::softplus")
def softplus(g, x, beta=1.0, threshold=20.0):
    """Without a select (opset 9) PyTorch's linear region is only matched for large thresholds."""
    if float(threshold) < 15.0:
        raise NotImplementedError("softplus with a threshold below 15 needs opset 9 (Where)")
    return float_math(g, x, lambda v, d: eh.softplus(g, v, d, beta))


@op("aten::mish")
def mish(g, x):
    """``x * tanh(softplus(x))`` (Mish arrives at 18)."""
    return float_math(g, x, lambda v, d: op2(g, "Mul", v, op1(g, "Tanh", eh.softplus(g, v, d))))


@op("aten::log_sigmoid")
def log_sigmoid(g, x):
    """``-softplus(-x)``."""
    return float_math(g, x, lambda v, d: op1(g, "Neg", eh.softplus(g, op1(g, "Neg", v), d)))


@op("aten::log_sigmoid_forward")
def log_sigmoid_forward(g, x):
    """``(log_sigmoid(x), buffer)``; the buffer is ``exp(-|x|)``, as PyTorch's CPU kernel fills it
    (graphs that only read the first output lose the buffer's nodes in the unused-node pass)."""
    buffer = float_math(g, x, lambda v, d: op1(g, "Exp", op1(g, "Neg", op1(g, "Abs", v))))
    return log_sigmoid(g, x), buffer


@op("aten::glu")
def glu(g, x, dim=-1):
    """First half times the sigmoid of the second half along ``dim``."""
    rank = g.rank(x)
    dim = dim % rank
    size = g.static_shape(x)[dim] if g.static_shape(x) else None
    if size is None:
        raise NotImplementedError("glu needs a static size along dim")
    a, b = split(g, x, [size // 2, size // 2], dim)
    return op2(g, "Mul", a, op1(g, "Sigmoid", b))


def _prelu_weight(g, x, w):
    """PReLU's slope broadcast along dim 1 (channels), as ``aten::prelu`` defines it."""
    rank, wr = g.rank(x), g.rank(w)
    shape = g.static_shape(w)
    if rank is not None and rank >= 2 and wr == 1 and shape and shape[0] != 1:
        return reshape(g, w, [shape[0]] + [1] * (rank - 2))
    return w


@op("aten::prelu", "aten::_prelu_kernel")
def prelu(g, x, weight):
    dt = g.dtype(x)
    run = float_compute(dt)
    w = cast(g, _prelu_weight(g, x, weight), run)
    return cast(g, g.op("PRelu", cast(g, x, run), w), dt)


@op("aten::rrelu")
def rrelu(g, x, lower=1.0 / 8, upper=1.0 / 3, training=False, generator=None):
    """Inference rrelu: leaky_relu with the mean slope. Training mode is random: unsupported."""
    if training:
        raise NotImplementedError("rrelu in training mode draws random slopes")
    return leaky_relu(g, x, (float(lower) + float(upper)) / 2)


@op("aten::gelu")
def gelu(g, x, approximate="none"):
    def build(v, d):
        half, one = c(g, 0.5, d), c(g, 1.0, d)
        if approximate == "tanh":
            x3 = op2(g, "Mul", op2(g, "Mul", v, v), v)
            inner = op2(g, "Mul", c(g, math.sqrt(2 / math.pi), d),
                        op2(g, "Add", v, op2(g, "Mul", c(g, 0.044715, d), x3)))
            t = op1(g, "Tanh", inner)
        else:
            t = erf(g, op2(g, "Mul", v, c(g, 1 / math.sqrt(2), d)))
        return op2(g, "Mul", op2(g, "Mul", half, v), op2(g, "Add", one, t))
    return float_math(g, x, build, op_type="Erf" if approximate != "tanh" else "")


# -- clamp ----------------------------------------------------------------------------------------
@op("aten::clamp", "aten::clip")
def clamp(g, x, min=None, max=None):  # noqa: A002 - ATen's argument names
    """Scalar bounds: Clip. (Tensor bounds are ``clamp.Tensor``, from opset 9.)"""
    if isinstance(min, ir.Value) or isinstance(max, ir.Value):
        raise NotImplementedError("clamp with tensor bounds needs opset 9 (Where)")
    dt = out_dtype(g, x, *(b for b in (min, max) if b is not None))
    if dt == torch.float64:  # a float32 Clip would round the values
        forms.require(g, "a float64 Clip kernel", "clamp of float64 values")
    if dt in (torch.float16, torch.bfloat16):  # onnxruntime has no half-precision Clip kernel
        return cast(g, clip(g, as_value(g, x, torch.float32), min, max), dt)
    return clip(g, as_value(g, x, dt), min, max)


@op("aten::clamp_min")
def clamp_min(g, x, min):  # noqa: A002
    return clamp(g, x, min, None)


@op("aten::clamp_max")
def clamp_max(g, x, max):  # noqa: A002
    return clamp(g, x, None, max)


# -- softmax (normalisation along one axis) -----------------------------------------------------------
def _softmax_last(g, onnx_op, x, dim):
    """Before opset 13 Softmax flattens from ``axis``: move ``dim`` last, then axis=-1 is exact."""
    rank = g.rank(x)
    dim = dim % rank if rank else 0
    if rank in (0, None) or dim == rank - 1:
        return g.op(onnx_op, x, axis_i=max(rank - 1, 0) if rank else 0)
    perm = list(range(rank))
    perm[dim], perm[-1] = perm[-1], perm[dim]
    t = g.op("Transpose", x, perm_is=perm)
    y = g.op(onnx_op, t, axis_i=rank - 1)
    return g.op("Transpose", y, perm_is=perm)


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


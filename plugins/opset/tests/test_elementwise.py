"""Element-wise maths and activations: values, dtypes (int, bool, float64), scalars, 0-d, empty.

Each model returns many ops at once to keep exports few; every test runs at the lowest opset
its conversions claim and at the newest (plus one in between where the form changes).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from onnxplug.testing import NEWEST_OPSET as NEWEST

NAN, INF = float("nan"), float("inf")


def _special(*extra):
    return torch.tensor([-2.5, -1.0, -0.5, -0.0, 0.0, 0.5, 1.5, 2.5, 3.7, *extra])


class UnaryFloat(torch.nn.Module):
    """Unary maths that exists from opset 7 (u in (-1, 1), p > 0, i integers)."""

    def forward(self, x, u, p, i):
        return (
            torch.sin(x), torch.cos(x), torch.tan(u), torch.asin(u), torch.acos(u), torch.atan(x),
            torch.exp(x), torch.exp2(x), torch.expm1(x), torch.log(p), torch.log2(p),
            torch.log10(p), torch.log1p(p), torch.sqrt(p), torch.rsqrt(p), torch.reciprocal(p),
            torch.sigmoid(x), torch.tanh(x), torch.erf(x), torch.erfc(x), torch.abs(x), -x,
            torch.ceil(x), torch.floor(x), torch.trunc(x), torch.frac(x), torch.square(x),
            torch.deg2rad(x), torch.rad2deg(x), torch.logit(u.abs()), torch.logit(u.abs(), 0.2),
            torch.special.ndtr(x), torch.positive(x),
            # integer inputs: float results (sin, exp...) or integer results (abs, neg, floor...)
            torch.sin(i), torch.exp(i), torch.sqrt(i.abs()), torch.abs(i), -i, torch.floor(i),
            torch.ceil(i), torch.trunc(i), torch.square(i), torch.reciprocal(i + 10),
        )


def _unary_inputs():
    x = _special(INF, -INF, NAN)
    u = torch.tensor([-0.9, -0.3, 0.0, 0.4, 0.8])
    p = torch.tensor([0.01, 0.5, 1.0, 7.0, 1e3, INF])
    i = torch.tensor([-3, -1, 0, 2, 5])
    return x, u, p, i


@pytest.mark.parametrize("opset", [7, 13, NEWEST])
def test_unary_float(check, opset):
    check(UnaryFloat(), _unary_inputs(), opset=opset)


def test_unary_float64_and_empty(check):
    x, u, p, i = _unary_inputs()
    check(UnaryFloat(), (x.double(), u.double(), p.double(), i.int()), opset=NEWEST)
    empty = torch.zeros(0, 3)
    check(UnaryFloat(), (empty, empty, empty, empty.long()), opset=9)


class Unary9(torch.nn.Module):
    def forward(self, x, b, i):
        return (
            torch.sign(x), torch.sgn(x), torch.sign(i), torch.sign(b), torch.sinh(x.clamp(-5, 5)),
            torch.cosh(x.clamp(-5, 5)), torch.asinh(x), torch.acosh(x.abs() + 1),
            torch.atanh(x.clamp(-0.9, 0.9)), torch.sinc(x), torch.angle(x), torch.angle(i),
            torch.nan_to_num(x), torch.nan_to_num(x, nan=1.0, posinf=2.0, neginf=-3.0),
            torch.nan_to_num(i), torch.special.entr(x), torch.sinh(i),
            torch.erfinv(x.clamp(-1, 1) / 2.5), torch.erfinv(x.clamp(-1, 1)), torch.i0(x * 4),
            torch.special.i0e(x * 4), torch.special.i1(x * 4), torch.special.i1e(x * 4),
            torch.special.i0e(i), torch.special.erfcx(x * 3), torch.special.log_ndtr(x * 10),
            torch.lgamma(x), torch.lgamma(x * 7.3), torch.digamma(x), torch.digamma(x * 7.3),
            torch.polygamma(0, x), torch.polygamma(1, x * 3.1), torch.polygamma(2, x * 3.1),
            torch.polygamma(3, x), torch.special.polygamma(4, x * 0.7), torch.lgamma(i), torch.special.ndtri(x.clamp(-1, 1).abs() * 0.9),
        )


@pytest.mark.parametrize("opset", [9, NEWEST])
def test_unary_opset9(check, opset):
    check(Unary9(), (_special(INF, -INF, NAN), torch.tensor([True, False]),
                     torch.tensor([-4, 0, 3], dtype=torch.int32)), opset=opset)


class Rounding(torch.nn.Module):
    def forward(self, x, i):
        return (torch.round(x), torch.round(x, decimals=2), torch.round(x * 1000, decimals=-2),
                torch.round(i))


@pytest.mark.parametrize("opset", [9, 11, NEWEST])
def test_round(check, opset):
    x = torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 1.2345, -0.125, NAN, INF])
    check(Rounding(), (x, torch.tensor([-3, 4])), opset=opset)


class Arithmetic(torch.nn.Module):
    """add/sub/mul/div over mixed dtypes, Python scalars, 0-d tensors and alpha."""

    def forward(self, x, y, i, j, b, z):
        return (
            x + y, x - y, x * y, x / y, torch.add(x, y, alpha=2), torch.sub(x, y, alpha=0.5),
            torch.rsub(x, 2.0), 3 - i, i + j, i - j, i * j, i / j, i + 1.5, i * 2, x + i,
            b + b, b * b, b + i, i + z, x * z, z * 3, torch.true_divide(i, 2),
            torch.div(x, y, rounding_mode="trunc"), torch.div(x, y, rounding_mode="floor"),
            torch.div(i, j, rounding_mode="trunc"), torch.div(i, j, rounding_mode="floor"),
            torch.floor_divide(i, j), torch.floor_divide(x, y), i // 3, torch.fmod(x, y),
            torch.fmod(i, j), torch.fmod(i, 3), torch.addcmul(x, x, y, value=0.5),
            torch.addcdiv(x, x, y, value=2), torch.addcmul(i, i, j), torch.hypot(x, y),
        )


def _arith_inputs():
    x = torch.tensor([-7.5, -3.0, -0.5, 0.0, 2.0, 5.5, 9.0])
    y = torch.tensor([2.0, -2.0, 0.75, 3.0, -1.5, 2.0, -4.0])
    i = torch.tensor([-7, -3, -1, 0, 2, 5, 9])
    j = torch.tensor([2, -2, 3, 3, -3, 2, -4])
    b = torch.tensor([True, False, True, False, True, True, False])
    z = torch.tensor(2.5)  # 0-d float: ranks below dimensioned tensors of the same category
    return x, y, i, j, b, z


@pytest.mark.parametrize("opset", [7, 10, NEWEST])
def test_arithmetic(check, opset):
    check(Arithmetic(), _arith_inputs(), opset=opset)


def test_arithmetic_int32_float64(check):
    x, y, i, j, b, z = _arith_inputs()
    check(Arithmetic(), (x.double(), y.double(), i.int(), j.int(), b, z.double()), opset=NEWEST)


class Modulo(torch.nn.Module):
    def forward(self, x, y, i, j):
        return (torch.remainder(x, y), torch.remainder(i, j), torch.remainder(i, 3),
                torch.remainder(-5, j), torch.remainder(x, -2.0), x % y, i % j)


@pytest.mark.parametrize("opset", [9, NEWEST])
def test_remainder(check, opset):
    x, y, i, j, _, _ = _arith_inputs()
    check(Modulo(), (x, y, i, j), opset=opset)


class Powers(torch.nn.Module):
    def forward(self, x, p, i, j):
        return (x ** 2, p ** 0.5, torch.pow(p, x), torch.pow(2.0, x), i ** 2, torch.pow(i, j.abs()),
                torch.pow(2, j.abs()), torch.float_power(i, 2), torch.float_power(p, x),
                torch.pow(i, 0.5))


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_pow(check, opset):
    x = torch.tensor([-2.0, -0.5, 0.0, 1.0, 3.0])
    p = torch.tensor([0.5, 1.0, 2.0, 4.0, 9.0])
    check(Powers(), (x, p, torch.tensor([-3, 0, 1, 2, 5]), torch.tensor([3, 2, 0, -1, 4])),
          opset=opset)


class Activations7(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.prelu = torch.nn.PReLU(3)
        with torch.no_grad():
            self.prelu.weight.copy_(torch.tensor([0.1, 0.2, 0.3]))

    def forward(self, x, i):
        return (
            F.relu(x), F.relu(i), F.relu6(x), F.leaky_relu(x, 0.2), F.elu(x), F.elu(x, 0.5),
            F.selu(x), F.celu(x, 2.0), F.hardtanh(x, -2.0, 3.0), F.hardsigmoid(x), F.hardswish(x),
            F.silu(x), F.mish(x), F.softplus(x), F.logsigmoid(x), F.softsign(x), F.tanhshrink(x),
            F.glu(x, dim=2), self.prelu(x), F.gelu(x), F.gelu(x, approximate="tanh"),
            F.rrelu(x, 0.1, 0.3, training=False), torch.clamp(x, -1, 2), torch.clamp(x, min=0.5),
            torch.clamp(x, max=-0.5), torch.clamp(i, -1, 1), torch.clamp(i, 0.5),
            torch.clamp_min(x, 0.25), torch.clamp_max(i, 0), torch.sigmoid(i), torch.tanh(x),
            torch.ops.aten.elu(x, 1.5, 2.0, 0.5), torch.softmax(x, 1), torch.log_softmax(x, -1),
            F.hardswish(i.float()).half(), F.relu(x.half()), F.gelu(x.double()),
            torch.ops.aten.log_sigmoid_forward(x)[0],
        )


# A later registration takes over at 9 (softplus), 12 (relu, celu), 13 (softmax, log_softmax),
# 14 (hardswish), 18 (mish) and 20 (gelu): each runs at its first opset and the one before the next.
@pytest.mark.parametrize("opset", [7, 8, 9, 11, 12, 13, 14, 17, 18, 19, 20, NEWEST])
def test_activations(check, opset):
    x = torch.linspace(-8, 8, 24).reshape(2, 3, 4)
    x[0, 0, 0] = NAN
    check(Activations7(), (x, torch.arange(-12, 12).reshape(2, 3, 4)), opset=opset)


# Conversions that are wrong: strict xfails (a fix makes them fail until it is taken off this
# list), with the reason.
@pytest.mark.parametrize("opset", [7, NEWEST])
def test_log_sigmoid_forward_buffer(check, opset):
    check(torch.ops.aten.log_sigmoid_forward, (torch.linspace(-4, 4, 12),), opset=opset)


class Activations9(torch.nn.Module):
    def forward(self, x, lo, hi):
        return (
            F.threshold(x, 0.5, -2.0), F.hardshrink(x), F.hardshrink(x, 1.5), F.softshrink(x),
            F.softshrink(x, 2.0), F.softplus(x, beta=2.0, threshold=1.0), torch.clamp(x, lo, hi),
            torch.clamp(x, min=lo), torch.clamp(x, max=hi), torch.clamp_min(x, lo),
            torch.clamp_max(x, hi),
        )


@pytest.mark.parametrize("opset", [9, NEWEST])
def test_activations_opset9(check, opset):
    x = torch.linspace(-4, 4, 12)
    x[3] = NAN
    check(Activations9(), (x, torch.full((12,), -1.0), torch.linspace(0, 3, 12)), opset=opset)


class BinaryMath(torch.nn.Module):
    def forward(self, x, y, i):
        return (
            torch.atan2(x, y), torch.atan2(i, i + 1), torch.hypot(x, y), torch.logaddexp(x, y),
            torch.logaddexp2(x, y), torch.xlogy(x, y.abs()), torch.xlogy(2.0, y.abs()),
            torch.special.xlog1py(x, y.abs()), torch.copysign(x, y), torch.copysign(i, -1.0),
            torch.heaviside(x, y), torch.lerp(x, y, 0.25), torch.lerp(x, y, 0.75),
            torch.lerp(x, y, y.abs() / 10),
        )


@pytest.mark.parametrize("opset", [9, NEWEST])
def test_binary_math(check, opset):
    x = torch.tensor([-3.0, -1.0, 0.0, 0.0, 2.0, 5.0, INF, -INF, NAN])
    y = torch.tensor([2.0, -4.0, -1.0, 1.0, 0.0, -0.0, INF, -INF, 1.0])
    check(BinaryMath(), (x, y, torch.tensor([-2, -1, 0, 1, 2, 3, 4, 5, 6])), opset=opset)


class ScalarPromotion(torch.nn.Module):
    """0-d tensors and Python scalars promote like PyTorch: within a category they never widen."""

    def forward(self, h, i, z64, zi, b):
        return (h + z64, h * 2.5, i + z64, i * zi, b + zi, b * 1.5, torch.exp(zi), zi + 1,
                torch.abs(zi), h / 3, i.int() + zi)


@pytest.mark.parametrize("opset", [9, NEWEST])
def test_scalar_promotion(check, opset):
    check(ScalarPromotion(), (torch.tensor([0.5, -1.5], dtype=torch.float16), torch.tensor([1, -2]),
                              torch.tensor(0.25, dtype=torch.float64), torch.tensor(3),
                              torch.tensor([True, False])), opset=opset)



@pytest.mark.parametrize("opset", [9, NEWEST])
def test_arithmetic_int8(check, opset):
    x, y, i, j, b, z = _arith_inputs()
    check(Arithmetic(), (x, y, i.to(torch.int8), j.to(torch.int8), b, z), opset=opset)
    check(Modulo(), (x, y, i.to(torch.int8), j.to(torch.int8)), opset=opset)


class HalfPrecision(torch.nn.Module):
    """float16 end to end; bfloat16 inside the graph (onnxruntime feeds no bfloat16 inputs)."""

    def forward(self, h, x):
        bf = x.bfloat16()
        b_out = (torch.tanh(bf), bf * 2, torch.round(bf), torch.maximum(bf, bf.flip(0)),
                 torch.clamp(bf, -1, 1), F.silu(bf), bf > 0.5, torch.where(bf > 0, bf, 1.5))
        return (h + h, torch.sin(h), F.gelu(h), torch.remainder(h, 1.5), h > 0.5, torch.lgamma(h),
                torch.where(h > 0, h, 0.0), torch.sign(h), F.hardtanh(h), *(t.float() for t in b_out))


@pytest.mark.parametrize("opset", [13, NEWEST])
def test_half_precision(check, opset):
    x = torch.tensor([-2.5, -0.75, 0.0, 0.5, 1.25, 3.0])
    check(HalfPrecision(), (x.half(), x), opset=opset, rtol=1e-2, atol=1e-2)

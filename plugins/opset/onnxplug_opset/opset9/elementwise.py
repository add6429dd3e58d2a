"""Opset 9: Sign, the hyperbolic functions, Where, Shrink and IsNaN arrive.

Everything here needs one of them: a select (``Where``) for PyTorch's special cases (zeros,
infinities, NaN, poles), a new unary op, or both, as the special functions do (erfinv, the
Bessel functions, erfcx/log_ndtr, lgamma, digamma/polygamma), which are composed from
rational fits, Chebyshev series and recurrences evaluated in float32 or float64.
"""

from __future__ import annotations

import math

import torch

from .. import elementwise_helpers as eh
from .. import forms
from ..dtypes import unary_compute
from ..elementwise_helpers import c, float_math, op1, op2, out_dtype
from ..helpers import as_value, cast
from ..registration import op


@op("aten::sign", "aten::sgn")
def sign(g, x):
    dt = g.dtype(x)
    if dt == torch.bool:
        return x
    run = dt if dt in (torch.float16, torch.float32, torch.float64, torch.int32, torch.int64,
                       torch.int8, torch.uint8) else torch.float32 if dt.is_floating_point else torch.int64
    y = op1(g, "Sign", cast(g, x, run))
    if run.is_floating_point:  # PyTorch's sign(NaN) is 0
        y = eh.where(g, eh.isnan(g, y), c(g, 0.0, run), y, run)
    return cast(g, y, dt)


sinh = op("aten::sinh")(eh.unary_float("Sinh", __name__))
cosh = op("aten::cosh")(eh.unary_float("Cosh", __name__))
asinh = op("aten::asinh")(eh.unary_float("Asinh", __name__))
acosh = op("aten::acosh")(eh.unary_float("Acosh", __name__))
atanh = op("aten::atanh")(eh.unary_float("Atanh", __name__))


@op("aten::sinc")
def sinc(g, x):
    """``sin(pi x) / (pi x)``, 1 at zero."""
    def build(v, d):
        px = op2(g, "Mul", v, c(g, math.pi, d))
        q = op2(g, "Div", op1(g, "Sin", px), px)
        return eh.where(g, eh.compare(g, "eq", v, c(g, 0.0, d)), c(g, 1.0, d), q, d)
    return float_math(g, x, build)


@op("aten::remainder.Tensor", "aten::remainder.Scalar", "aten::remainder.Scalar_Tensor")
def remainder(g, x, y):
    dt = out_dtype(g, x, y)
    run = forms.arith_dtype(g, dt)
    return cast(g, eh.remainder(g, as_value(g, x, run), as_value(g, y, run)), dt)


@op("aten::atan2")
def atan2(g, y, x):
    """``atan(y / x)`` moved to the right quadrant; ``atan2(0, 0)`` is 0 (or pi for x < 0)."""
    dt = out_dtype(g, y, x)
    cdt = unary_compute("Atan", dt if dt.is_floating_point else torch.float32)
    a, b = as_value(g, y, cdt), as_value(g, x, cdt)
    both_inf = eh.and_(g, eh.isinf(g, a), eh.isinf(g, b))  # the angle of (sign a, sign b)
    a = eh.where(g, both_inf, op1(g, "Sign", a), a, cdt)
    b = eh.where(g, both_inf, op1(g, "Sign", b), b, cdt)
    zero = c(g, 0.0, cdt)
    base = op1(g, "Atan", op2(g, "Div", a, b))
    pi = c(g, math.pi, cdt)
    shift = eh.where(g, eh.compare(g, "ge", a, zero), pi, op1(g, "Neg", pi), cdt)
    out = eh.where(g, eh.compare(g, "lt", b, zero), op2(g, "Add", base, shift), base, cdt)
    half_pi = op2(g, "Mul", op1(g, "Sign", a), c(g, math.pi / 2, cdt))  # x == +-0: y decides
    out = eh.where(g, eh.compare(g, "eq", b, zero), half_pi, out, cdt)
    both_zero = eh.and_(g, eh.compare(g, "eq", a, zero), eh.compare(g, "eq", b, zero))
    out = eh.where(g, both_zero, eh.where(g, eh.signbit(g, b), shift, zero, cdt), out, cdt)
    return cast(g, out, dt)


def _logaddexp(g, x, y, base2: bool):
    """``max + log(1 + exp(-|x - y|))``; equal infinities give themselves (not NaN)."""
    dt = out_dtype(g, x, y)
    cdt = dt if dt in (torch.float32, torch.float64) else torch.float32
    a, b = as_value(g, x, cdt), as_value(g, y, cdt)
    m = op2(g, "Max", a, b)
    d = op1(g, "Neg", op1(g, "Abs", op2(g, "Sub", a, b)))
    if base2:
        ln2 = c(g, math.log(2.0), cdt)
        t = op2(g, "Div", op1(g, "Log", op2(g, "Add", c(g, 1.0, cdt),
                                                  op1(g, "Exp", op2(g, "Mul", d, ln2)))), ln2)
    else:
        t = op1(g, "Log", op2(g, "Add", c(g, 1.0, cdt), op1(g, "Exp", d)))
    out = op2(g, "Add", m, t)
    same_inf = eh.and_(g, eh.isinf(g, a), eh.compare(g, "eq", a, b))
    return cast(g, eh.where(g, same_inf, a, out, cdt), dt)


@op("aten::logaddexp")
def logaddexp(g, x, y):
    return _logaddexp(g, x, y, False)


@op("aten::logaddexp2")
def logaddexp2(g, x, y):
    return _logaddexp(g, x, y, True)


def _xlog(g, x, y, plus_one: bool):
    """``x * log(y)`` (or ``log1p``), 0 where x == 0 unless y is NaN."""
    dt = out_dtype(g, x, y)
    cdt = dt if dt in (torch.float32, torch.float64) else torch.float32
    a, b = as_value(g, x, cdt), as_value(g, y, cdt)
    arg = op2(g, "Add", b, c(g, 1.0, cdt)) if plus_one else b
    prod = op2(g, "Mul", a, op1(g, "Log", arg))
    out = eh.where(g, eh.compare(g, "eq", a, c(g, 0.0, cdt)), c(g, 0.0, cdt), prod, cdt)
    out = eh.where(g, eh.isnan(g, b), b, out, cdt)
    return cast(g, out, dt)


@op("aten::xlogy.Tensor", "aten::xlogy.Scalar_Self", "aten::xlogy.Scalar_Other")
def xlogy(g, x, y):
    return _xlog(g, x, y, False)


@op("aten::special_xlog1py", "aten::special_xlog1py.self_scalar", "aten::special_xlog1py.other_scalar")
def special_xlog1py(g, x, y):
    return _xlog(g, x, y, True)


@op("aten::special_entr")
def special_entr(g, x):
    """``-x log x`` for x > 0, 0 at 0, -inf below 0, NaN for NaN."""
    def build(v, d):
        val = op1(g, "Neg", op2(g, "Mul", v, op1(g, "Log", v)))
        out = eh.where(g, eh.compare(g, "eq", v, c(g, 0.0, d)), c(g, 0.0, d), val, d)
        return eh.where(g, eh.compare(g, "lt", v, c(g, 0.0, d)), c(g, -math.inf, d), out, d)
    return float_math(g, x, build)


@op("aten::heaviside")
def heaviside(g, x, values):
    """``values`` where x == 0, else ``x > 0`` (NaN counts as not positive)."""
    dt = out_dtype(g, x, values)
    a, v = as_value(g, x, dt), as_value(g, values, dt)
    step = cast(g, eh.compare(g, "gt", a, c(g, 0, dt)), dt)
    return eh.where(g, eh.compare(g, "eq", a, c(g, 0, dt)), v, step, dt)


@op("aten::lerp.Scalar", "aten::lerp.Tensor")
def lerp(g, start, end, weight):
    """PyTorch's two-sided form: from ``start`` when weight < 0.5, else back from ``end``."""
    dt = out_dtype(g, start, end)
    s, e, w = as_value(g, start, dt), as_value(g, end, dt), as_value(g, weight, dt)
    diff = op2(g, "Sub", e, s)
    lo = op2(g, "Add", s, op2(g, "Mul", w, diff))
    hi = op2(g, "Sub", e, op2(g, "Mul", diff, op2(g, "Sub", c(g, 1.0, dt), w)))
    small = eh.compare(g, "lt", op1(g, "Abs", w), c(g, 0.5, dt))
    return eh.where(g, small, lo, hi, dt)


@op("aten::nan_to_num")
def nan_to_num(g, x, nan=None, posinf=None, neginf=None):
    """NaN -> ``nan`` (0), +inf -> ``posinf`` (largest float), -inf -> ``neginf`` (lowest)."""
    dt = g.dtype(x)
    if not dt.is_floating_point:
        return op1(g, "Identity", x)
    fi = torch.finfo(dt)
    out = eh.where(g, eh.isnan(g, x), c(g, 0.0 if nan is None else float(nan), dt), x, dt)
    out = eh.where(g, eh.isinf(g, x, True, False), c(g, fi.max if posinf is None else float(posinf), dt), out, dt)
    return eh.where(g, eh.isinf(g, x, False, True), c(g, fi.min if neginf is None else float(neginf), dt), out, dt)


@op("aten::angle")
def angle(g, x):
    """For real inputs: pi below zero, 0 otherwise, NaN kept."""
    def build(v, d):
        out = eh.where(g, eh.compare(g, "lt", v, c(g, 0.0, d)), c(g, math.pi, d), c(g, 0.0, d), d)
        return eh.where(g, eh.isnan(g, v), v, out, d)
    return float_math(g, x, build)


@op("aten::copysign.Tensor", "aten::copysign.Scalar")
def copysign(g, x, y):
    """``|x|`` negated where ``y``'s sign bit is set (so ``-0.0`` counts as negative)."""
    dt = out_dtype(g, x, y)
    cdt = dt if dt in (torch.float16, torch.float32, torch.float64) else torch.float32
    a, b = as_value(g, x, cdt), as_value(g, y, cdt)
    mag = op1(g, "Abs", a)
    return cast(g, eh.where(g, eh.signbit(g, b), op1(g, "Neg", mag), mag, cdt), dt)


@op("aten::threshold")
def threshold(g, x, threshold, value):
    """``value`` where ``x <= threshold``, else ``x``."""
    dt = g.dtype(x)
    return eh.where(g, eh.compare(g, "le", x, as_value(g, threshold, dt)), value, x, dt)


def _shrink(g, x, lambd, bias):
    dt = g.dtype(x)
    run = dt if dt in (torch.float16, torch.float32, torch.float64) else torch.float32
    v = cast(g, x, run)
    y = g.op("Shrink", v, lambd_f=float(lambd), bias_f=float(bias))
    return cast(g, eh.where(g, eh.isnan(g, v), v, y, run), dt)  # Shrink maps NaN to 0


@op("aten::hardshrink")
def hardshrink(g, x, lambd=0.5):
    return _shrink(g, x, lambd, 0.0)


@op("aten::softshrink")
def softshrink(g, x, lambd=0.5):
    return _shrink(g, x, lambd, lambd)


def _bounded(g, x, lo, hi):
    """Clamp with tensor bounds: a select per bound, so NaN in ``x`` survives."""
    dt = out_dtype(g, x, *(b for b in (lo, hi) if b is not None))
    v = as_value(g, x, dt)
    if lo is not None:
        lv = as_value(g, lo, dt)
        v = eh.where(g, eh.compare(g, "lt", v, lv), lv, v, dt)
    if hi is not None:
        hv = as_value(g, hi, dt)
        v = eh.where(g, eh.compare(g, "gt", v, hv), hv, v, dt)
    return v


@op("aten::clamp.Tensor", "aten::clip.Tensor")
def clamp_tensor(g, x, min=None, max=None):  # noqa: A002 - ATen's argument names
    return _bounded(g, x, min, max)


@op("aten::clamp_min.Tensor")
def clamp_min_tensor(g, x, min):  # noqa: A002
    return _bounded(g, x, min, None)


@op("aten::clamp_max.Tensor")
def clamp_max_tensor(g, x, max):  # noqa: A002
    return _bounded(g, x, None, max)



@op("aten::softplus")
def softplus(g, x, beta=1.0, threshold=20.0):
    """``log1p(exp(beta x)) / beta``, and ``x`` itself where ``beta x > threshold``."""
    def build(v, d):
        bv = op2(g, "Mul", v, c(g, float(beta), d))
        linear = eh.compare(g, "gt", bv, c(g, float(threshold), d))
        return eh.where(g, linear, v, eh.softplus(g, v, d, beta), d)
    return float_math(g, x, build)


@op("aten::round")
def round_(g, x):
    """Half to even, like PyTorch (ONNX Round from 11; composed with Where before)."""
    return eh.round_decimals(g, x)


@op("aten::round.decimals")
def round_decimals(g, x, decimals=0):
    return eh.round_decimals(g, x, decimals)


_ERFINV_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                   -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_ERFINV_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


@op("aten::erfinv")
def erfinv(g, x):
    """M. Giles' single-precision rational fit of erfinv ("Approximating the erfinv function").

    ``w = -log(1 - x^2)``; one polynomial in ``w - 2.5`` below 5, one in ``sqrt(w) - 3``
    above; +-1 map to +-inf, |x| > 1 to NaN (from the log).
    """
    def horner(w, coefs, d):
        p = c(g, coefs[0], d)
        for k in coefs[1:]:
            p = op2(g, "Add", op2(g, "Mul", p, w), c(g, k, d))
        return p

    def build(v, d):
        one = c(g, 1.0, d)
        w = op1(g, "Neg", op1(g, "Log", op2(g, "Mul", op2(g, "Sub", one, v), op2(g, "Add", one, v))))
        central = horner(op2(g, "Sub", w, c(g, 2.5, d)), _ERFINV_CENTRAL, d)
        tail = horner(op2(g, "Sub", op1(g, "Sqrt", w), c(g, 3.0, d)), _ERFINV_TAIL, d)
        p = eh.where(g, eh.compare(g, "lt", w, c(g, 5.0, d)), central, tail, d)
        y = op2(g, "Mul", p, v)
        edge = eh.compare(g, "eq", op1(g, "Abs", v), one)
        return eh.where(g, edge, op2(g, "Mul", v, c(g, float("inf"), d)), y, d)
    return float_math(g, x, build, op_type="Erf")


def _bessel(name: str, order: int, scaled: bool):
    @op(f"aten::{name}")
    def convert(g, x):
        return float_math(g, x, lambda v, d: eh.bessel(g, v, order, scaled))
    convert.__name__ = convert.__qualname__ = name
    convert.__doc__ = f"Modified Bessel function I{order}{' (scaled)' if scaled else ''}: Chebyshev fits."
    return convert


i0 = _bessel("i0", 0, False)
special_i0e = _bessel("special_i0e", 0, True)
special_i1 = _bessel("special_i1", 1, False)
special_i1e = _bessel("special_i1e", 1, True)


@op("aten::special_erfcx")
def special_erfcx(g, x):
    return float_math(g, x, lambda v, d: eh.erfcx(g, v))


@op("aten::special_log_ndtr")
def special_log_ndtr(g, x):
    """``log(ndtr(x))`` without underflow: ``ndtr(x) = erfcx(z) exp(-z^2) / 2`` with ``z = -x/sqrt 2``."""
    def build(v, d):
        z = op2(g, "Mul", v, c(g, -1 / math.sqrt(2), d))
        half_x2 = op2(g, "Mul", op2(g, "Mul", v, v), c(g, 0.5, d))
        ex = eh.erfcx(g, z)
        lower = op2(g, "Sub", op2(g, "Add", op1(g, "Log", ex), c(g, math.log(0.5), d)), half_x2)
        tail = op2(g, "Mul", op2(g, "Mul", eh.erfcx(g, op1(g, "Neg", z)), op1(g, "Exp", op1(g, "Neg", half_x2))),
                   c(g, 0.5, d))
        upper = op1(g, "Log", op2(g, "Sub", c(g, 1.0, d), tail))
        return eh.where(g, eh.compare(g, "lt", v, c(g, 0.0, d)), lower, upper, d)
    return float_math(g, x, build)


@op("aten::special_ndtri")
def special_ndtri(g, x):
    """Inverse of the normal CDF: ``sqrt 2 * erfinv(2p - 1)``."""
    def build(v, d):
        arg = op2(g, "Sub", op2(g, "Mul", v, c(g, 2.0, d)), c(g, 1.0, d))
        return op2(g, "Mul", erfinv(g, arg), c(g, math.sqrt(2.0), d))
    return float_math(g, x, build)


_LANCZOS = (0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
            1.5056327351493116e-7)


def _lgamma_pos(g, x, d):
    """Lanczos (g = 7) for ``x >= 0.5``."""
    xm = op2(g, "Sub", x, c(g, 1.0, d))
    a = c(g, _LANCZOS[0], d)
    for i, p in enumerate(_LANCZOS[1:], start=1):
        a = op2(g, "Add", a, op2(g, "Div", c(g, p, d), op2(g, "Add", xm, c(g, float(i), d))))
    t = op2(g, "Add", xm, c(g, 7.5, d))
    y = op2(g, "Mul", op2(g, "Add", xm, c(g, 0.5, d)), op1(g, "Log", t))
    y = op2(g, "Add", op2(g, "Sub", y, t), c(g, 0.5 * math.log(2 * math.pi), d))
    return op2(g, "Add", y, op1(g, "Log", a))


def _nonpositive_int(g, v, d):
    return eh.and_(g, eh.compare(g, "le", v, c(g, 0.0, d)),
                   eh.compare(g, "eq", v, op1(g, "Floor", v)))


@op("aten::lgamma")
def lgamma(g, x):
    """``log|Gamma(x)|``: Lanczos, reflected below 0.5; computed in float64 (cancellation)."""
    out = out_dtype(g, x)
    d = torch.float64
    v = as_value(g, x, d)
    half = c(g, 0.5, d)
    small = eh.compare(g, "lt", v, half)
    refl_arg = eh.where(g, small, op2(g, "Sub", c(g, 1.0, d), v), v, d)  # keep both branches finite
    lg = _lgamma_pos(g, refl_arg, d)
    sin_pi = op1(g, "Abs", op1(g, "Sin", op2(g, "Mul", v, c(g, math.pi, d))))
    reflected = op2(g, "Sub", op1(g, "Log", op2(g, "Div", c(g, math.pi, d), sin_pi)), lg)
    y = eh.where(g, small, reflected, lg, d)
    inf = c(g, math.inf, d)
    y = eh.where(g, eh.or_(g, _nonpositive_int(g, v, d), eh.isinf(g, v)), inf, y, d)
    return cast(g, y, out)


@op("aten::digamma", "aten::special_digamma")
def digamma(g, x):
    """Reflection below 0.5, six recurrence steps up, then the asymptotic series (float64)."""
    out = out_dtype(g, x)
    d = torch.float64
    v = as_value(g, x, d)
    one = c(g, 1.0, d)
    small = eh.compare(g, "lt", v, c(g, 0.5, d))
    z = eh.where(g, small, op2(g, "Sub", one, v), v, d)
    acc = c(g, 0.0, d)
    for k in range(6):
        acc = op2(g, "Add", acc, op1(g, "Reciprocal", op2(g, "Add", z, c(g, float(k), d))))
    w = op2(g, "Add", z, c(g, 6.0, d))
    inv2 = op1(g, "Reciprocal", op2(g, "Mul", w, w))
    series = c(g, -1 / 132, d)  # -1/(12w^2) + 1/(120w^4) - 1/(252w^6) + 1/(240w^8) - 1/(132w^10)
    for coef in (1 / 240, -1 / 252, 1 / 120, -1 / 12):
        series = op2(g, "Add", op2(g, "Mul", series, inv2), c(g, coef, d))
    series = op2(g, "Mul", series, inv2)
    psi = op2(g, "Sub", op2(g, "Add", op1(g, "Log", w), series),
              op2(g, "Div", c(g, 0.5, d), w))
    psi = op2(g, "Sub", psi, acc)
    pix = op2(g, "Mul", v, c(g, math.pi, d))  # pi cot(pi x); Tan has no float64 kernel
    cot = op2(g, "Div", op2(g, "Mul", c(g, math.pi, d), op1(g, "Cos", pix)), op1(g, "Sin", pix))
    y = eh.where(g, small, op2(g, "Sub", psi, cot), psi, d)
    pole = _nonpositive_int(g, v, d)
    at_zero = eh.compare(g, "eq", v, c(g, 0.0, d))
    zero_val = eh.where(g, eh.signbit(g, v), c(g, math.inf, d), c(g, -math.inf, d), d)  # -0 -> +inf
    y = eh.where(g, pole, eh.where(g, at_zero, zero_val, c(g, math.nan, d), d), y, d)
    return cast(g, y, out)


_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730)


def _cot_derivative_poly(n: int) -> list[float]:
    """Coefficients (in powers of c) of ``P_n`` with ``d^n/dx^n cot(pi x) = pi^n P_n(cot(pi x))``.

    ``P_0 = c`` and ``P_{k+1} = -(1 + c^2) P_k'``, since ``d cot(pi x)/dx = -pi (1 + cot^2)``.
    """
    import numpy.polynomial.polynomial as P

    poly = [0.0, 1.0]
    for _ in range(n):
        poly = list(-P.polymul([1.0, 0.0, 1.0], P.polyder(poly)))
    return [float(v) for v in poly]


def _polygamma_pos(g, n: int, y, d):
    """psi^(n)(y) for y >= 0.5: ten recurrence steps, then the asymptotic series at y + 10."""
    sign = -1.0 if n % 2 == 0 else 1.0  # (-1)^(n+1)
    fact = float(math.factorial(n))
    p = c(g, float(n + 1), d)
    acc = c(g, 0.0, d)
    for k in range(10):
        acc = op2(g, "Add", acc, op1(g, "Reciprocal", g.op("Pow", op2(g, "Add", y, c(g, float(k), d)), p)))
    z = op2(g, "Add", y, c(g, 10.0, d))
    inv = op1(g, "Reciprocal", z)
    series = op2(g, "Add", op2(g, "Mul", g.op("Pow", inv, c(g, float(n), d)),
                               c(g, float(math.factorial(n - 1)), d)),
                 op2(g, "Mul", g.op("Pow", inv, p), c(g, fact / 2, d)))
    for k, b in enumerate(_BERNOULLI, start=1):
        coef = b * math.factorial(2 * k + n - 1) / math.factorial(2 * k)
        term = op2(g, "Mul", g.op("Pow", inv, c(g, float(2 * k + n), d)), c(g, coef, d))
        series = op2(g, "Add", series, term)
    return op2(g, "Mul", op2(g, "Add", series, op2(g, "Mul", acc, c(g, fact, d))), c(g, sign, d))


@op("aten::polygamma", "aten::special_polygamma")
def polygamma(g, n, x):
    """Order 0 is digamma; order n >= 1 reflects below 0.5 through the n-th derivative of cot.

    ``psi^(n)(x) = (-1)^n psi^(n)(1 - x) - pi^(n+1) P_n(cot(pi x))``; poles give
    ``(-1)^(n+1) inf``, as PyTorch's Hurwitz zeta does. Computed in float64.
    """
    if n == 0:
        return digamma(g, x)
    out = out_dtype(g, x)
    d = torch.float64
    v = as_value(g, x, d)
    small = eh.compare(g, "lt", v, c(g, 0.5, d))
    y = eh.where(g, small, op2(g, "Sub", c(g, 1.0, d), v), v, d)
    psi = _polygamma_pos(g, n, y, d)
    pix = op2(g, "Mul", v, c(g, math.pi, d))
    cot = op2(g, "Div", op1(g, "Cos", pix), op1(g, "Sin", pix))
    poly = c(g, 0.0, d)
    for coef in reversed(_cot_derivative_poly(n)):
        poly = op2(g, "Add", op2(g, "Mul", poly, cot), c(g, coef, d))
    refl = op2(g, "Sub", op2(g, "Mul", psi, c(g, 1.0 if n % 2 == 0 else -1.0, d)),
               op2(g, "Mul", poly, c(g, math.pi ** (n + 1), d)))
    out_v = eh.where(g, small, refl, psi, d)
    pole = eh.and_(g, _nonpositive_int(g, v, d), eh.not_(g, eh.isinf(g, v)))
    out_v = eh.where(g, pole, c(g, math.inf if n % 2 else -math.inf, d), out_v, d)
    if n >= 2:  # PyTorch: NaN at +inf, the pole's infinity at -inf
        out_v = eh.where(g, eh.isinf(g, v, True, False), c(g, math.nan, d), out_v, d)
        out_v = eh.where(g, eh.isinf(g, v, False, True), c(g, math.inf if n % 2 else -math.inf, d),
                         out_v, d)
    return cast(g, out_v, out)

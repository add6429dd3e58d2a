"""Maths shared by the element-wise, activation and comparison conversions.

Every helper takes ``g`` first. Where an ONNX op is missing at the target opset (or has no
onnxruntime kernel for a dtype) the helper composes it, asking :mod:`onnxplug_opset.forms`
what exists, so the conversions themselves stay free of version branches. The compute-dtype
pickers are in :mod:`onnxplug_opset.dtypes`; ``where`` is ``shape_helpers.where``.
"""

from __future__ import annotations

from typing import Any

import onnx_ir as ir
import torch

from . import forms
from .dtypes import ONNX_FLOATS, arith_dtype, float_compute, unary_compute
from .helpers import as_value, cast, result_type
from .shape_helpers import where  # noqa: F401 - the one ``where``, re-exported for ``eh.where``

Value = ir.Value


def out_dtype(g, *xs: Any) -> torch.dtype:
    """PyTorch's result dtype of the op being converted (promotion of ``xs`` when unknown)."""
    return g.out_dtype() or result_type(g, *xs)


def c(g, value: Any, dt: torch.dtype) -> Value:
    """A 0-d constant of dtype ``dt``."""
    return g.constant(value, dt)


def float_op(g, op_type: str, x: Any, out: torch.dtype | None = None, **attrs) -> Value:
    """``op_type(x)`` for an ONNX op defined on floats only; the result has dtype ``out``."""
    out = out or out_dtype(g, x)
    cdt = unary_compute(op_type, out if out.is_floating_point else torch.float32)
    xv = as_value(g, x, cdt)
    return cast(g, g.op(op_type, xv, **attrs), out)


def float_math(g, x: Any, build, out: torch.dtype | None = None, op_type: str = "") -> Value:
    """``build(xf, cdt)`` on ``x`` cast to a float compute dtype, cast back to ``out``."""
    out = out or out_dtype(g, x)
    cdt = unary_compute(op_type, out if out.is_floating_point else torch.float32)
    return cast(g, build(as_value(g, x, cdt), cdt), out)


def op1(g, op_type: str, x: Value, **attrs) -> Value:
    """A node whose output has the dtype of its first input."""
    return g.op(op_type, x, **attrs)


def op2(g, op_type: str, a: Value, b: Value, **attrs) -> Value:
    return g.op(op_type, a, b, **attrs)


def bool_op(g, op_type: str, *xs: Value) -> Value:
    return g.op(op_type, *xs)


# -- logic ---------------------------------------------------------------------------------------
def to_bool(g, x: Any) -> Value:
    """``x != 0`` as bool (PyTorch's truthiness of numbers), or ``x`` when already bool."""
    if not isinstance(x, ir.Value):
        return g.constant(bool(x), torch.bool)
    if g.dtype(x) == torch.bool:
        return x
    return not_(g, compare(g, "eq", x, c(g, 0, g.dtype(x))))


def not_(g, x: Value) -> Value:
    return bool_op(g, "Not", x)


def and_(g, a: Value, b: Value) -> Value:
    return bool_op(g, "And", a, b)


def or_(g, a: Value, b: Value) -> Value:
    return bool_op(g, "Or", a, b)


# -- classification -------------------------------------------------------------------------------
def isnan(g, x: Value) -> Value:
    """``x != x``: IsNaN from opset 9; before it, a NaN is neither > 0 nor < 1."""
    dt = g.dtype(x)
    if not dt.is_floating_point:
        return compare(g, "ne", x, x)
    if dt not in ONNX_FLOATS:
        x = cast(g, x, torch.float32)
    if forms.has_isnan(g):
        return bool_op(g, "IsNaN", x)
    d = g.dtype(x)
    return not_(g, or_(g, bool_op(g, "Greater", x, c(g, 0, d)), bool_op(g, "Less", x, c(g, 1, d))))


def isinf(g, x: Value, positive: bool = True, negative: bool = True) -> Value:
    """``x == +inf`` and/or ``x == -inf`` (IsInf from 10; comparisons with the largest float before)."""
    dt = g.dtype(x)
    if not dt.is_floating_point:
        return compare(g, "ne", x, x)
    if dt not in (torch.float32, torch.float64):
        x, dt = cast(g, x, torch.float32), torch.float32
    if forms.has_isinf(g):
        return g.op("IsInf", x, detect_positive_i=int(positive), detect_negative_i=int(negative))
    big = c(g, torch.finfo(dt).max, dt)
    if positive and negative:
        return bool_op(g, "Greater", op1(g, "Abs", x), big)
    if positive:
        return bool_op(g, "Greater", x, big)
    return bool_op(g, "Less", x, op1(g, "Neg", big))


def signbit(g, x: Value) -> Value:
    """The sign bit: ``x < 0``, and for zeros ``1/x < 0`` (so ``-0.0`` counts as negative)."""
    dt = g.dtype(x)
    if not dt.is_floating_point:
        return compare(g, "lt", x, c(g, 0, dt))
    if dt not in ONNX_FLOATS:
        x, dt = cast(g, x, torch.float32), torch.float32
    neg = bool_op(g, "Less", x, c(g, 0, dt))
    return or_(g, neg, bool_op(g, "Less", op1(g, "Reciprocal", x), c(g, 0, dt)))


# -- comparisons ------------------------------------------------------------------------------
def compare(g, kind: str, a: Value, b: Value) -> Value:
    """``a <kind> b`` for values of one dtype (kind: lt gt le ge eq ne), as a bool value.

    Works around what each opset lacks: Less/Greater take floats only before 9, Equal takes
    floats from 11, LessOrEqual/GreaterOrEqual arrive at 12; bools compare as int32.
    """
    dt = g.dtype(a)
    if kind == "ne":
        return not_(g, compare(g, "eq", a, b))
    if dt == torch.bool and (kind != "eq" or not forms.equal_takes_bools(g)):
        a, b, dt = cast(g, a, torch.int32), cast(g, b, torch.int32), torch.int32
    if dt not in (torch.float32, torch.float64, torch.int32, torch.int64, torch.int8, torch.uint8,
                  torch.bool):  # onnxruntime lacks half-precision comparison kernels
        to = torch.float32 if dt.is_floating_point else torch.int64
        a, b, dt = cast(g, a, to), cast(g, b, to), to
    if kind == "eq":
        if forms.equal_takes_floats(g) or dt in (torch.int32, torch.int64, torch.bool):
            return bool_op(g, "Equal", a, b)
        if not dt.is_floating_point:
            return bool_op(g, "Equal", cast(g, a, torch.int64), cast(g, b, torch.int64))
        neither = not_(g, or_(g, bool_op(g, "Less", a, b), bool_op(g, "Greater", a, b)))
        return and_(g, neither, not_(g, or_(g, isnan(g, a), isnan(g, b))))
    if not forms.less_takes_ints(g) and not dt.is_floating_point:
        a, b = cast(g, a, torch.float64), cast(g, b, torch.float64)
    if kind in ("lt", "gt"):
        return bool_op(g, "Less" if kind == "lt" else "Greater", a, b)
    if forms.has_ordered_compare(g):
        return bool_op(g, "LessOrEqual" if kind == "le" else "GreaterOrEqual", a, b)
    strict = bool_op(g, "Less" if kind == "le" else "Greater", a, b)
    return or_(g, strict, compare(g, "eq", a, b))


def promote_compare(g, x: Any, y: Any) -> tuple[Value, Value]:
    """Both operands at their promoted dtype (the dtype PyTorch compares in)."""
    dt = result_type(g, x, y)
    return as_value(g, x, dt), as_value(g, y, dt)


# -- rounding and division ---------------------------------------------------------------------
def trunc(g, x: Value) -> Value:
    """Round toward zero: ``floor(x)``, plus one where ``x`` is negative with a fraction."""
    dt = g.dtype(x)
    if not dt.is_floating_point:
        return x
    fl = op1(g, "Floor", x)
    has_frac = bool_op(g, "Greater", op2(g, "Sub", x, fl), c(g, 0, dt))
    bump = and_(g, bool_op(g, "Less", x, c(g, 0, dt)), has_frac)
    return op2(g, "Add", fl, cast(g, bump, dt))


def fmod(g, a: Value, b: Value) -> Value:
    """C's fmod (sign of the dividend): Mod(fmod=1) from opset 10."""
    dt = g.dtype(a)
    if forms.has_mod(g):
        return op2(g, "Mod", a, b, fmod_i=1)
    if dt.is_floating_point:
        return op2(g, "Sub", a, op2(g, "Mul", trunc(g, op2(g, "Div", a, b)), b))
    return op2(g, "Sub", a, op2(g, "Mul", op2(g, "Div", a, b), b))  # int Div truncates


def remainder(g, a: Value, b: Value) -> Value:
    """Python's modulo (sign of the divisor): fmod, plus ``b`` where the signs disagree."""
    dt = g.dtype(a)
    if forms.has_mod(g) and not dt.is_floating_point:
        return op2(g, "Mod", a, b, fmod_i=0)
    r = fmod(g, a, b)
    zero = c(g, 0, dt)
    fix = and_(g, not_(g, compare(g, "eq", r, zero)),
               not_(g, compare(g, "eq", compare(g, "lt", r, zero), compare(g, "lt", b, zero))))
    return where(g, fix, op2(g, "Add", r, b), r, dt)


def floor_divide(g, a: Value, b: Value) -> Value:
    """``floor(a / b)``: ints truncate and step down where the remainder's sign disagrees."""
    dt = g.dtype(a)
    if dt.is_floating_point:
        return op1(g, "Floor", op2(g, "Div", a, b))
    q = op2(g, "Div", a, b)
    r = fmod(g, a, b)
    zero = c(g, 0, dt)
    fix = and_(g, not_(g, compare(g, "eq", r, zero)),
               not_(g, compare(g, "eq", compare(g, "lt", r, zero), compare(g, "lt", b, zero))))
    return op2(g, "Sub", q, cast(g, fix, dt))


def arith(g, op_type: str, x: Any, y: Any, out: torch.dtype) -> Value:
    """``op_type(x, y)`` computed in a dtype onnxruntime supports, with the result in ``out``."""
    run = arith_dtype(out, forms.arith_takes_int8(g))
    a, b = as_value(g, x, out), as_value(g, y, out)
    return cast(g, g.op(op_type, cast(g, a, run), cast(g, b, run)), out)


def round_half_even(g, x: Value) -> Value:
    """Round to nearest, ties to even: Round from opset 11, else ``floor(x + 0.5)`` fixed at ties.

    The composition needs Where (opset 9): values too large to have a fraction are kept.
    """
    if forms.has_round(g):
        return op1(g, "Round", x)
    dt = g.dtype(x)
    r = op1(g, "Floor", op2(g, "Add", x, c(g, 0.5, dt)))
    tie = compare(g, "eq", op2(g, "Sub", r, x), c(g, 0.5, dt))
    odd = not_(g, compare(g, "eq", fmod(g, r, c(g, 2.0, dt)), c(g, 0.0, dt)))
    r = op2(g, "Sub", r, cast(g, and_(g, tie, odd), dt))
    exact = 1.0 / torch.finfo(dt).eps  # from here on every float is an integer
    big = not_(g, compare(g, "lt", op1(g, "Abs", x), c(g, exact, dt)))
    return where(g, big, x, r, dt)


def round_decimals(g, x: Value, decimals: int = 0) -> Value:
    """``round(x * 10^d) / 10^d`` (for d < 0: ``round(x / 10^-d) * 10^-d``), as PyTorch does."""
    dt = g.dtype(x)
    if not dt.is_floating_point:
        return x
    run = float_compute(dt)
    v = cast(g, x, run)
    if decimals == 0:
        return cast(g, round_half_even(g, v), dt)
    scale = c(g, 10.0 ** abs(decimals), run)
    if decimals > 0:
        y = op2(g, "Div", round_half_even(g, op2(g, "Mul", v, scale)), scale)
    else:
        y = op2(g, "Mul", round_half_even(g, op2(g, "Div", v, scale)), scale)
    return cast(g, y, dt)


def softplus(g, v: Value, d: torch.dtype, beta: float = 1.0) -> Value:
    """``log(1 + exp(beta * v)) / beta``, overflow-free (Softplus is float32-only in onnxruntime).

    PyTorch returns ``v`` past ``threshold``; this form already equals ``v`` there to within
    float rounding, so no select is needed.
    """
    bv = v if beta == 1 else op2(g, "Mul", v, c(g, float(beta), d))
    pos = op1(g, "Relu", bv)
    neg_abs = op1(g, "Neg", op1(g, "Abs", bv))
    y = op2(g, "Add", pos, op1(g, "Log", op2(g, "Add", op1(g, "Exp", neg_abs), c(g, 1.0, d))))
    return y if beta == 1 else op2(g, "Div", y, c(g, float(beta), d))


# -- modified Bessel functions of the first kind ---------------------------------------------------
def chebyshev(g, t: Value, coefs) -> Value:
    """Clenshaw's recurrence for ``sum c_k T_k(t)`` (stable in float32, unlike a power basis)."""
    dt = g.dtype(t)
    two_t = op2(g, "Add", t, t)
    b1, b2 = c(g, 0.0, dt), c(g, 0.0, dt)
    for ck in reversed(list(coefs)[1:]):
        b1, b2 = op2(g, "Add", op2(g, "Sub", op2(g, "Mul", two_t, b1), b2), c(g, float(ck), dt)), b1
    return op2(g, "Add", op2(g, "Sub", op2(g, "Mul", t, b1), b2), c(g, float(coefs[0]), dt))


def _fits():
    """Chebyshev fits of smooth scaled special functions, computed once from PyTorch in float64.

    Near zero (``|x| <= 8``, ``t = |x|/4 - 1``): ``i0e(x)``, ``i1e(x)/x``, ``erfcx(x)``; beyond
    it (``s = 16/|x| - 1``): ``i0e(x) sqrt|x|``, ``i1e(x) sqrt|x|``, ``erfcx(x) x``.
    """
    from numpy.polynomial import chebyshev as cheb

    def near(fn, divide):
        def f(t):
            x = torch.from_numpy(4.0 * (t + 1.0))
            y = fn(x)
            return (y / x if divide else y).numpy()
        return cheb.chebinterpolate(f, 26)

    def far(fn, weight):
        def f(s):
            x = torch.from_numpy(16.0 / (s + 1.0))
            return (fn(x) * weight(x)).numpy()
        return cheb.chebinterpolate(f, 22)

    sp = torch.special
    with torch.no_grad():
        return {"i0": (near(sp.i0e, False), far(sp.i0e, torch.sqrt)),
                "i1": (near(sp.i1e, True), far(sp.i1e, torch.sqrt)),
                "erfcx": (near(sp.erfcx, False), far(sp.erfcx, lambda x: x))}


_FITS: dict = {}


def _fit(name: str):
    if not _FITS:
        _FITS.update(_fits())
    return _FITS[name]


def bessel(g, x: Value, order: int, scaled: bool) -> Value:
    """``I0``/``I1`` (``scaled``: times ``exp(-|x|)``) of a float value, via two Chebyshev fits."""
    near_c, far_c = _fit(f"i{order}")
    dt = g.dtype(x)
    a = op1(g, "Abs", x)
    near = chebyshev(g, op2(g, "Sub", op2(g, "Div", a, c(g, 4.0, dt)), c(g, 1.0, dt)), near_c)
    far = op2(g, "Div", chebyshev(g, op2(g, "Sub", op2(g, "Div", c(g, 16.0, dt), a), c(g, 1.0, dt)),
                                  far_c), op1(g, "Sqrt", a))
    if order == 1:
        near = op2(g, "Mul", near, x)
        far = op2(g, "Mul", far, op1(g, "Sign", x))
    y = where(g, compare(g, "le", a, c(g, 8.0, dt)), near, far, dt)
    if scaled:
        return y
    return op2(g, "Mul", y, op1(g, "Exp", a))  # PyTorch's I0(inf) is NaN as well: 0 * inf


def erfcx(g, x: Value) -> Value:
    """``exp(x^2) erfc(x)``: fits for ``x >= 0``; ``2 exp(x^2) - erfcx(-x)`` below zero."""
    near_c, far_c = _fit("erfcx")
    dt = g.dtype(x)
    a = op1(g, "Abs", x)
    near = chebyshev(g, op2(g, "Sub", op2(g, "Div", a, c(g, 4.0, dt)), c(g, 1.0, dt)), near_c)
    far = op2(g, "Div", chebyshev(g, op2(g, "Sub", op2(g, "Div", c(g, 16.0, dt), a), c(g, 1.0, dt)),
                                  far_c), a)
    pos = where(g, compare(g, "le", a, c(g, 8.0, dt)), near, far, dt)
    neg = op2(g, "Sub", op2(g, "Mul", c(g, 2.0, dt), op1(g, "Exp", op2(g, "Mul", x, x))), pos)
    return where(g, compare(g, "lt", x, c(g, 0.0, dt)), neg, pos, dt)


def unary_float(onnx_op: str, module: str):
    """A conversion to the float-only unary ``onnx_op`` (trigonometric, hyperbolic), for
    ``module`` to register by key: ``sin = op("aten::sin")(unary_float("Sin", __name__))``.

    Integer inputs run in float32; the result has PyTorch's dtype.
    """
    def convert(g, x):
        return float_op(g, onnx_op, x)

    convert.__name__ = convert.__qualname__ = onnx_op.lower()
    convert.__module__ = module  # the plugin collects conversions by the module that registers them
    convert.__doc__ = f"``{onnx_op}``; integer inputs run in float32."
    return convert

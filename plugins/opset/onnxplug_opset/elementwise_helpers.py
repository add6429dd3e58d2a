"""Maths shared by the element-wise, activation and comparison conversions.

Every helper takes ``g`` first. What changes across opsets (the comparisons, the NaN and inf
tests, fmod/remainder, Round: ``forms.selection`` and ``forms.arithmetic``) is a form of
:mod:`onnxplug_opset.forms`, re-exported here for ``eh.compare``-style callers; the helpers
below build on them and read no opset. The compute-dtype pickers are in
:mod:`onnxplug_opset.dtypes`; ``where`` is ``shape_helpers.where``.
"""

from __future__ import annotations

from typing import Any

import onnx_ir as ir
import torch

from . import forms
from .dtypes import ONNX_FLOATS, float_compute, unary_compute
from .forms import compare, fmod, isinf, isnan, remainder, round_half_even  # noqa: F401 - ``eh.compare``...
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


# -- classification (``isnan``/``isinf`` are forms) -----------------------------------------------
def signbit(g, x: Value) -> Value:
    """The sign bit: ``x < 0``, and for zeros ``1/x < 0`` (so ``-0.0`` counts as negative)."""
    dt = g.dtype(x)
    if not dt.is_floating_point:
        return compare(g, "lt", x, c(g, 0, dt))
    if dt not in ONNX_FLOATS:
        x, dt = cast(g, x, torch.float32), torch.float32
    neg = bool_op(g, "Less", x, c(g, 0, dt))
    return or_(g, neg, bool_op(g, "Less", op1(g, "Reciprocal", x), c(g, 0, dt)))


# -- comparisons (``compare`` is forms.compare) ----------------------------------------------------
def promote_compare(g, x: Any, y: Any) -> tuple[Value, Value]:
    """Both operands at their promoted dtype (the dtype PyTorch compares in)."""
    dt = result_type(g, x, y)
    return as_value(g, x, dt), as_value(g, y, dt)


# -- rounding and division (``fmod``/``remainder``/``round_half_even`` are forms) ---------------
def trunc(g, x: Value) -> Value:
    """Round toward zero: ``floor(x)``, plus one where ``x`` is negative with a fraction."""
    dt = g.dtype(x)
    if not dt.is_floating_point:
        return x
    fl = op1(g, "Floor", x)
    has_frac = bool_op(g, "Greater", op2(g, "Sub", x, fl), c(g, 0, dt))
    bump = and_(g, bool_op(g, "Less", x, c(g, 0, dt)), has_frac)
    return op2(g, "Add", fl, cast(g, bump, dt))


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
    run = forms.arith_dtype(g, out)
    a, b = as_value(g, x, out), as_value(g, y, out)
    return cast(g, g.op(op_type, cast(g, a, run), cast(g, b, run)), out)


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

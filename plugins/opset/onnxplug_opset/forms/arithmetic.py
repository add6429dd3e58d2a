"""Arithmetic that changes across opsets: Erf (9), int8 arithmetic (14), integer MatMul
(9), Mod (10), Round (11) and the 16-bit Q/DQ types (21)."""

from __future__ import annotations

import onnx_ir as ir
import torch

from .. import helpers as h
from .availability import (
    arith_takes_int8, has_erf, has_mod, has_round, matmul_takes_ints, quantize_takes_int16,
)
from .axes import squeeze
from .selection import compare, select

Value = ir.Value


def erf(g, x: Value) -> Value:
    """``Erf`` from opset 9; below it, Abramowitz-Stegun 7.1.26 (max error 1.5e-7)."""
    dt = g.dtype(x)
    if has_erf(g):
        return g.op("Erf", x)
    a1, a2, a3, a4, a5, p = 0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429, 0.3275911
    c = lambda v: g.constant(v, dt)  # noqa: E731
    sign = g.op("Sub", h.cast(g, g.op("Greater", x, c(0.0)), dt),  # (x > 0) - (x < 0): inf-safe
                h.cast(g, g.op("Less", x, c(0.0)), dt))
    ax = g.op("Abs", x)
    t = g.op("Reciprocal", g.op("Add", c(1.0), g.op("Mul", c(p), ax)))
    poly = c(a5)
    for coef in (a4, a3, a2, a1):
        poly = g.op("Add", g.op("Mul", poly, t), c(coef))
    poly = g.op("Mul", poly, t)
    e = g.op("Exp", g.op("Neg", g.op("Mul", ax, ax)))
    y = g.op("Sub", c(1.0), g.op("Mul", poly, e))
    return g.op("Mul", sign, y)


def arith_dtype(g, dt: torch.dtype) -> torch.dtype:
    """The dtype ``Add``/``Sub``/``Mul``/``Div`` compute a ``dt`` result in
    (:func:`dtypes.arith_dtype`): int8/uint8 as they are from opset 14, widened before."""
    from ..dtypes import arith_dtype as pick

    return pick(dt, arith_takes_int8(g))


def matmul_int_dtype(g, dt: torch.dtype) -> torch.dtype:
    """The dtype ``MatMul`` multiplies integers of dtype ``dt`` in: int32/int64 as they are (and
    narrower ones as int64) from opset 9; float64 before (MatMul-1 takes floats only)."""
    if matmul_takes_ints(g):
        return dt if dt in (torch.int32, torch.int64) else torch.int64
    return torch.float64


def int_row_sum(g, rows: Value, n: int, count: int) -> Value:
    """The exact int64 column sums of ``rows`` (a static ``[n, count]``): a ``MatMul`` with ones
    from opset 9 (integer MatMul); before it a pairwise tree of ``Add``
    (``shape_helpers.tree_reduce``). onnxruntime's int64 ReduceSum rounds beyond 2**53."""
    if matmul_takes_ints(g):
        ones = g.constant(torch.ones(1, n, dtype=torch.int64))
        return squeeze(g, g.set_type(g.op("MatMul", ones, rows), shape=[1, count]), [0])
    from ..shape_helpers import tree_reduce  # builds on these forms: imported when used

    return tree_reduce(g, "Add", rows, n, count)


def fmod(g, a: Value, b: Value) -> Value:
    """C's fmod (the sign of the dividend): ``Mod(fmod=1)`` from opset 10; before it
    ``a - trunc(a / b) * b`` (integer Div truncates already)."""
    if has_mod(g):
        return g.op("Mod", a, b, fmod_i=1)
    q = g.op("Div", a, b)
    if g.dtype(a).is_floating_point:
        from ..elementwise_helpers import trunc  # builds on these forms: imported when used

        q = trunc(g, q)
    return g.op("Sub", a, g.op("Mul", q, b))


def remainder(g, a: Value, b: Value) -> Value:
    """Python's modulo (the sign of the divisor): integer ``Mod(fmod=0)`` from opset 10; floats
    (and integers before 10) take :func:`fmod` plus ``b`` where the signs disagree."""
    dt = g.dtype(a)
    if has_mod(g) and not dt.is_floating_point:
        return g.op("Mod", a, b, fmod_i=0)
    r = fmod(g, a, b)
    zero = g.constant(0, dt)
    nonzero = g.op("Not", compare(g, "eq", r, zero))
    signs_differ = g.op("Not", compare(g, "eq", compare(g, "lt", r, zero), compare(g, "lt", b, zero)))
    return select(g, g.op("And", nonzero, signs_differ), g.op("Add", r, b), r, dt)


def round_half_even(g, x: Value) -> Value:
    """Round to nearest, ties to even: ``Round`` from opset 11; before it ``floor(x + 0.5)``
    stepped down at odd ties, values too large to have a fraction kept (a :func:`select`)."""
    if has_round(g):
        return g.op("Round", x)
    dt = g.dtype(x)
    c = lambda v: g.constant(v, dt)  # noqa: E731
    r = g.op("Floor", g.op("Add", x, c(0.5)))
    tie = compare(g, "eq", g.op("Sub", r, x), c(0.5))
    odd = g.op("Not", compare(g, "eq", fmod(g, r, c(2.0)), c(0.0)))
    r = g.op("Sub", r, h.cast(g, g.op("And", tie, odd), dt))
    exact = 1.0 / torch.finfo(dt).eps  # from here on every float is an integer
    big = g.op("Not", compare(g, "lt", g.op("Abs", x), c(exact)))
    return select(g, big, x, r, dt)


def quantize_types(g) -> tuple[torch.dtype, ...]:
    """The integer types ``QuantizeLinear``/``DequantizeLinear`` take, narrowest first: uint8 and
    int8, and from opset 21 uint16 and int16."""
    wide = (torch.uint16, torch.int16) if quantize_takes_int16(g) else ()
    return (torch.uint8, torch.int8) + wide

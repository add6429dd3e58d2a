"""Where and the comparisons: Where from opset 9 (a blend or a gather before), integer
Less/Greater from 9, float Equal from 11, LessOrEqual/GreaterOrEqual from 12, IsNaN from 9 and
IsInf from 10, integer Max/Min from 12."""

from __future__ import annotations

import math

import onnx_ir as ir
import torch

from .. import helpers as h
from .availability import (
    equal_takes_bools, equal_takes_floats, has_isinf, has_isnan, has_ordered_compare,
    has_where, less_takes_ints, minmax_take_ints,
)
from .bounds import clip

Value = ir.Value


def select(g, cond: Value, a: Value, b: Value, dt: torch.dtype) -> Value:
    """``Where(cond, a, b)`` of non-bool values ``a``/``b`` of dtype ``dt`` (``shape_helpers.where``
    is the entry point that also takes bools and Python scalars).

    From opset 9 ``Where``, run in a dtype onnxruntime has a kernel for (half precision as
    float32, narrow integers as int64) and cast back; below it the stand-in of
    ``shape_helpers.select_without_where`` (a blend, or an exact gather for static floats).
    """
    if has_where(g):
        run = dt if dt in (torch.float32, torch.float64, torch.int32, torch.int64, torch.uint8) \
            else torch.float32 if dt.is_floating_point else torch.int64
        return h.cast(g, g.op("Where", cond, h.cast(g, a, run), h.cast(g, b, run)), dt)
    from ..shape_helpers import select_without_where  # builds on these forms: imported when used

    return select_without_where(g, cond, a, b, dt)


def blend_safe(g, x: Value, lowest: float) -> Value:
    """``x`` as :func:`select` can take it: as it is from opset 9 (Where); below it the selection
    is a blend that multiplies, so ``x`` is clipped to ``lowest`` (a -inf would give NaN)."""
    return x if has_where(g) else clip(g, x, lowest)


def blend_safe_constant(g, value: float, dt: torch.dtype) -> float:
    """A constant :func:`select` can take: any value from opset 9; below it (a blend) an
    infinity becomes the largest finite value of its sign."""
    if has_where(g) or math.isfinite(value):
        return value
    return float(torch.finfo(dt).max if value > 0 else torch.finfo(dt).min)


def less_greater(g, op_type: str, a: Value, b: Value, via: torch.dtype = torch.float64) -> Value:
    """``Less``/``Greater`` (``op_type``) of two values of one dtype: integers are compared as
    they are from opset 9, and below it (float-only Less/Greater-7) as ``via``."""
    if not less_takes_ints(g) and not g.dtype(a).is_floating_point:
        a, b = h.cast(g, a, via), h.cast(g, b, via)
    return g.op(op_type, a, b)


def compare(g, kind: str, a: Value, b: Value) -> Value:
    """``a <kind> b`` for values of one dtype (kind: lt gt le ge eq ne), as a bool value.

    Works around what each opset lacks: Less/Greater take floats only before 9, Equal takes
    floats from 11 (and bools with onnxruntime kernels from 11), LessOrEqual/GreaterOrEqual
    arrive at 12; bools compare as int32 otherwise.
    """
    dt = g.dtype(a)
    if kind == "ne":
        return g.op("Not", compare(g, "eq", a, b))
    if dt == torch.bool and (kind != "eq" or not equal_takes_bools(g)):
        a, b, dt = h.cast(g, a, torch.int32), h.cast(g, b, torch.int32), torch.int32
    if dt not in (torch.float32, torch.float64, torch.int32, torch.int64, torch.int8, torch.uint8,
                  torch.bool):  # onnxruntime lacks half-precision comparison kernels
        to = torch.float32 if dt.is_floating_point else torch.int64
        a, b, dt = h.cast(g, a, to), h.cast(g, b, to), to
    if kind == "eq":
        if equal_takes_floats(g) or dt in (torch.int32, torch.int64, torch.bool):
            return g.op("Equal", a, b)
        if not dt.is_floating_point:
            return g.op("Equal", h.cast(g, a, torch.int64), h.cast(g, b, torch.int64))
        either_nan = g.op("Or", isnan(g, a), isnan(g, b))
        return g.op("And", float_equal(g, a, b), g.op("Not", either_nan))
    if kind in ("lt", "gt"):
        return less_greater(g, "Less" if kind == "lt" else "Greater", a, b)
    if has_ordered_compare(g):
        return g.op("LessOrEqual" if kind == "le" else "GreaterOrEqual", a, b)
    strict = less_greater(g, "Less" if kind == "le" else "Greater", a, b)
    return g.op("Or", strict, compare(g, "eq", a, b))


def float_equal(g, a: Value, b: Value) -> Value:
    """``a == b`` of floats: ``Equal`` from opset 11; before it ``Not(Or(Less, Greater))``, which
    is True for a NaN operand (a caller that may see NaN masks it, as ``compare`` does)."""
    if equal_takes_floats(g):
        return g.op("Equal", a, b)
    return g.op("Not", g.op("Or", g.op("Less", a, b), g.op("Greater", a, b)))


def isnan(g, x: Value) -> Value:
    """``x != x``, the plugin's one NaN test: IsNaN from opset 9; before it a NaN is the value
    neither > 0 nor < 1. Integers are never NaN (``x != x``); half precision runs as float32."""
    from ..dtypes import ONNX_FLOATS

    dt = g.dtype(x)
    if not dt.is_floating_point:
        return compare(g, "ne", x, x)
    if dt not in ONNX_FLOATS:
        x = h.cast(g, x, torch.float32)
    if has_isnan(g):
        return g.op("IsNaN", x)
    d = g.dtype(x)
    return g.op("Not", g.op("Or", g.op("Greater", x, g.constant(0, d)), g.op("Less", x, g.constant(1, d))))


def isinf(g, x: Value, positive: bool = True, negative: bool = True) -> Value:
    """``x == +inf`` and/or ``x == -inf``: IsInf from opset 10; before it, comparisons with the
    largest float. Integers are never infinite."""
    dt = g.dtype(x)
    if not dt.is_floating_point:
        return compare(g, "ne", x, x)
    if dt not in (torch.float32, torch.float64):
        x, dt = h.cast(g, x, torch.float32), torch.float32
    if has_isinf(g):
        return g.op("IsInf", x, detect_positive_i=int(positive), detect_negative_i=int(negative))
    big = g.constant(torch.finfo(dt).max, dt)
    if positive and negative:
        return g.op("Greater", g.op("Abs", x), big)
    if positive:
        return g.op("Greater", x, big)
    return g.op("Less", x, g.op("Neg", big))


def minmax_int(g, op_type: str, a: Value, b: Value) -> Value:
    """``Max``/``Min`` (``op_type``) of two int64 values: the op from opset 12 (integer Max/Min),
    a :func:`select` on ``Less``/``Greater`` before."""
    if minmax_take_ints(g):
        return g.op(op_type, a, b)
    other_wins = less_greater(g, "Less" if op_type == "Max" else "Greater", a, b)
    return select(g, other_wins, b, a, torch.int64)

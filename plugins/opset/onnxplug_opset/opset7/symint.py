"""Arithmetic on symbolic sizes (``x.shape[0] * 2`` in a dynamic graph), as 0-d int64 values.

torch.export records Python arithmetic on SymInts as ``_operator.*`` calls; static sizes
never reach here (they are plain ints in the graph).
"""

from __future__ import annotations

import torch

from .. import forms
from ..helpers import as_value, cast, dtype
from ..registration import op


def _sym_dtype(g, a, b):
    """SymInt arithmetic stays int64; a SymFloat on either side makes it float32."""
    return torch.float32 if torch.float32 in (dtype(g, a), dtype(g, b)) else torch.int64


def _int_binary(g, onnx_op, a, b):
    dt = _sym_dtype(g, a, b)
    return g.op(onnx_op, as_value(g, a, dt), as_value(g, b, dt))


@op("_operator::add")
def sym_add(g, a, b):
    return _int_binary(g, "Add", a, b)


@op("_operator::sub")
def sym_sub(g, a, b):
    return _int_binary(g, "Sub", a, b)


@op("_operator::mul")
def sym_mul(g, a, b):
    return _int_binary(g, "Mul", a, b)


@op("_operator::floordiv")
def sym_floordiv(g, a, b):
    """Python's floor division (sizes are non-negative, where Div's truncation agrees)."""
    a_v, b_v = as_value(g, a, torch.int64), as_value(g, b, torch.int64)
    q = g.op("Div", a_v, b_v)
    # correct truncation toward zero into flooring when the signs differ and it is inexact
    prod = g.op("Mul", q, b_v)
    inexact = g.op("Not", g.op("Equal", prod, a_v))
    zero = g.constant(0, torch.int64)
    neg = g.op("Xor", _compare(g, "Less", a_v, zero), _compare(g, "Less", b_v, zero))
    fix = cast(g, g.op("And", inexact, neg), torch.int64)
    return g.op("Sub", q, fix)


@op("_operator::mod")
def sym_mod(g, a, b):
    q = sym_floordiv(g, a, b)
    b_v, a_v = as_value(g, b, torch.int64), as_value(g, a, torch.int64)
    return g.op("Sub", a_v, g.op("Mul", q, b_v))


@op("_operator::neg")
def sym_neg(g, a):
    return g.op("Neg", as_value(g, a, torch.int64))


@op("_operator::truediv")
def sym_truediv(g, a, b):
    return g.op("Div", as_value(g, a, torch.float32), as_value(g, b, torch.float32))


def _extremum(g, onnx_op, a, b):
    """Max/Min of two sizes. Integer Max/Min arrive at opset 12; below it, exactly in int64:
    max(a, b) = (a + b + |a - b|) / 2 and min(a, b) = (a + b - |a - b|) / 2 (the sum is even)."""
    dt = _sym_dtype(g, a, b)
    a_v, b_v = as_value(g, a, dt), as_value(g, b, dt)
    if dt != torch.int64:
        return g.op(onnx_op, a_v, b_v)
    return forms.minmax_int(g, onnx_op, a_v, b_v)
    spread = g.op("Abs", g.op("Sub", a_v, b_v))
    total = g.op("Add" if onnx_op == "Max" else "Sub", g.op("Add", a_v, b_v), spread)
    return g.op("Div", total, g.constant(2, dt))


@op("torch::sym_max")
def sym_max(g, a, b):
    return _extremum(g, "Max", a, b)


@op("torch::sym_min")
def sym_min(g, a, b):
    return _extremum(g, "Min", a, b)


@op("torch::sym_float")
def sym_float(g, a):
    return as_value(g, a, torch.float32)


@op("torch::sym_int", "math::floor", "math::trunc")
def sym_int(g, a):
    if dtype(g, a) == torch.int64:
        return a
    f = g.op("Floor", as_value(g, a, torch.float32))
    return cast(g, f, torch.int64)


@op("math::ceil")
def sym_ceil(g, a):
    if dtype(g, a) == torch.int64:
        return a
    return cast(g, g.op("Ceil", as_value(g, a, torch.float32)), torch.int64)


@op("aten::sym_numel")
def sym_numel(g, x):
    return g.op("Size", x)


def _compare(g, onnx_op, a, b, negate=False):
    dt = _sym_dtype(g, a, b)
    a_v, b_v = as_value(g, a, dt), as_value(g, b, dt)
    if onnx_op in ("Less", "Greater"):
        y = forms.less_greater(g, onnx_op, a_v, b_v, via=torch.float32)
    else:
        y = g.op(onnx_op, a_v, b_v)
    return g.op("Not", y) if negate else y


@op("_operator::eq")
def sym_eq(g, a, b):
    return _compare(g, "Equal", a, b)


@op("_operator::ne")
def sym_ne(g, a, b):
    return _compare(g, "Equal", a, b, negate=True)


@op("_operator::lt")
def sym_lt(g, a, b):
    return _compare(g, "Less", a, b)


@op("_operator::gt")
def sym_gt(g, a, b):
    return _compare(g, "Greater", a, b)


@op("_operator::le")
def sym_le(g, a, b):
    """``a <= b`` as ``not (a > b)`` (LessOrEqual only exists from opset 12)."""
    return _compare(g, "Greater", a, b, negate=True)


@op("_operator::ge")
def sym_ge(g, a, b):
    return _compare(g, "Less", a, b, negate=True)


@op("torch::sym_not", "_operator::not_")
def sym_not(g, a):
    return g.op("Not", as_value(g, a, torch.bool))

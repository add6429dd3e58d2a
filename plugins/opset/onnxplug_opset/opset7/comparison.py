"""Comparisons, logical ops and value classification, as of opset 7.

Operands are compared at PyTorch's promoted dtype; ``elementwise_helpers.compare`` picks the
ONNX form each opset allows (Equal on floats only from 11, LessOrEqual from 12...).
"""

from __future__ import annotations

import torch

from .. import elementwise_helpers as eh
from ..helpers import as_value
from ..registration import op


def _cmp(kind: str):
    def convert(g, x, y):
        a, b = eh.promote_compare(g, x, y)
        return eh.compare(g, kind, a, b)
    convert.__doc__ = f"``x {kind} y`` at the promoted dtype, as bool."
    return convert


eq = op("aten::eq.Tensor", "aten::eq.Scalar")(_cmp("eq"))
ne = op("aten::ne.Tensor", "aten::ne.Scalar")(_cmp("ne"))
lt = op("aten::lt.Tensor", "aten::lt.Scalar")(_cmp("lt"))
le = op("aten::le.Tensor", "aten::le.Scalar")(_cmp("le"))
gt = op("aten::gt.Tensor", "aten::gt.Scalar")(_cmp("gt"))
ge = op("aten::ge.Tensor", "aten::ge.Scalar")(_cmp("ge"))


@op("aten::logical_not")
def logical_not(g, x):
    return eh.not_(g, eh.to_bool(g, x))


def _logical(onnx_op: str):
    def convert(g, x, y):
        return eh.bool_op(g, onnx_op, eh.to_bool(g, x), eh.to_bool(g, y))
    convert.__doc__ = f"``{onnx_op}`` of the operands' truth values."
    return convert


logical_and = op("aten::logical_and")(_logical("And"))
logical_or = op("aten::logical_or")(_logical("Or"))
logical_xor = op("aten::logical_xor")(_logical("Xor"))


@op("aten::isnan")
def isnan(g, x):
    return eh.isnan(g, x)


@op("aten::isinf")
def isinf(g, x):
    return eh.isinf(g, x)


@op("aten::isposinf")
def isposinf(g, x):
    return eh.isinf(g, x, True, False)


@op("aten::isneginf")
def isneginf(g, x):
    return eh.isinf(g, x, False, True)


@op("aten::isfinite")
def isfinite(g, x):
    """Neither NaN nor infinite (every integer is finite)."""
    if not g.dtype(x).is_floating_point:
        return eh.compare(g, "eq", x, x)
    return eh.not_(g, eh.or_(g, eh.isnan(g, x), eh.isinf(g, x)))


@op("aten::signbit")
def signbit(g, x):
    return eh.signbit(g, x)


def bitwise(bool_op: str, int_op: str, ints: bool = False, module: str = __name__):
    """The conversion of a binary bitwise op: ``bool_op`` (And/Or/Xor) on bools, ``int_op``
    (``BitwiseAnd``...) on integers when ``ints`` (it exists from opset 18: ``opset18.elementwise``
    registers those, passing its ``module``); before 18 integers decline."""
    def convert(g, x, y):
        dt = eh.out_dtype(g, x, y)
        a, b = as_value(g, x, dt), as_value(g, y, dt)
        if dt == torch.bool:
            return eh.bool_op(g, bool_op, a, b)
        if not ints:
            raise NotImplementedError(f"{int_op} on integer tensors needs opset 18 or later")
        return g.op(int_op, a, b)
    convert.__doc__ = f"``{bool_op}`` on bools; ``{int_op}`` on integers (opset 18)."
    convert.__module__ = module  # the plugin collects conversions by the module that registers them
    return convert


bitwise_and = op("aten::bitwise_and.Tensor", "aten::bitwise_and.Scalar",
                 "aten::bitwise_and.Scalar_Tensor", "aten::__and__.Tensor",
                 "aten::__and__.Scalar")(bitwise("And", "BitwiseAnd"))
bitwise_or = op("aten::bitwise_or.Tensor", "aten::bitwise_or.Scalar",
                "aten::bitwise_or.Scalar_Tensor", "aten::__or__.Tensor",
                "aten::__or__.Scalar")(bitwise("Or", "BitwiseOr"))
bitwise_xor = op("aten::bitwise_xor.Tensor", "aten::bitwise_xor.Scalar",
                 "aten::bitwise_xor.Scalar_Tensor", "aten::__xor__.Tensor",
                 "aten::__xor__.Scalar")(bitwise("Xor", "BitwiseXor"))


@op("aten::bitwise_not")
def bitwise_not(g, x):
    """``Not`` on bools; on integers ``255 - x`` (uint8) or ``-x - 1`` (BitwiseNot from 18)."""
    dt = g.dtype(x)
    if dt == torch.bool:
        return eh.not_(g, x)
    if dt == torch.uint8:  # ~x == 255 - x
        return eh.arith(g, "Sub", eh.c(g, 255, dt), x, dt)
    return eh.arith(g, "Sub", eh.arith(g, "Sub", eh.c(g, 0, dt), x, dt), eh.c(g, 1, dt), dt)  # -x - 1

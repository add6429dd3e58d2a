"""Opset 18: Mish, and the integer bitwise ops (BitwiseAnd/Or/Xor/Not)."""

from __future__ import annotations

import torch

from .. import elementwise_helpers as eh
from ..elementwise_helpers import float_op
from ..opset7.comparison import bitwise
from ..registration import op


@op("aten::mish")
def mish(g, x):
    return float_op(g, "Mish", x)


bitwise_and = op("aten::bitwise_and.Tensor", "aten::bitwise_and.Scalar",
                 "aten::bitwise_and.Scalar_Tensor", "aten::__and__.Tensor",
                 "aten::__and__.Scalar")(bitwise("And", "BitwiseAnd", ints=True, module=__name__))
bitwise_or = op("aten::bitwise_or.Tensor", "aten::bitwise_or.Scalar",
                "aten::bitwise_or.Scalar_Tensor", "aten::__or__.Tensor",
                "aten::__or__.Scalar")(bitwise("Or", "BitwiseOr", ints=True, module=__name__))
bitwise_xor = op("aten::bitwise_xor.Tensor", "aten::bitwise_xor.Scalar",
                 "aten::bitwise_xor.Scalar_Tensor", "aten::__xor__.Tensor",
                 "aten::__xor__.Scalar")(bitwise("Xor", "BitwiseXor", ints=True, module=__name__))


@op("aten::bitwise_not")
def bitwise_not(g, x):
    """``Not`` on bools, ``BitwiseNot`` on integers."""
    if g.dtype(x) == torch.bool:
        return eh.not_(g, x)
    return g.op("BitwiseNot", x)

"""Opset 18: Mish."""

from __future__ import annotations

from ..elementwise_helpers import float_op
from ..registration import op


@op("aten::mish")
def mish(g, x):
    return float_op(g, "Mish", x)

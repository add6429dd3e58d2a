"""Opset 14: HardSwish."""

from __future__ import annotations

from ..elementwise_helpers import float_op
from ..registration import op


@op("aten::hardswish")
def hardswish(g, x):
    return float_op(g, "HardSwish", x)

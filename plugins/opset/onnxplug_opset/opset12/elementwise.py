"""Opset 12: Celu, and Max on integers (exact integer relu)."""

from __future__ import annotations

import torch

from ..elementwise_helpers import c, float_op, op2
from ..registration import op


@op("aten::celu")
def celu(g, x, alpha=1.0):
    return float_op(g, "Celu", x, alpha_f=float(alpha))


@op("aten::relu")
def relu(g, x):
    """Integers: ``Max(x, 0)`` (a float round trip would round int64); floats: Relu."""
    dt = g.dtype(x)
    if dt in (torch.int32, torch.int64, torch.int8, torch.uint8):
        return op2(g, "Max", x, c(g, 0, dt))
    return float_op(g, "Relu", x)

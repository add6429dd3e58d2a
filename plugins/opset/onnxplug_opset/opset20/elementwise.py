"""Opset 20: Gelu (onnxruntime computes it in float32; other dtypes are cast around it)."""

from __future__ import annotations

from ..elementwise_helpers import float_op
from ..registration import op


@op("aten::gelu")
def gelu(g, x, approximate="none"):
    return float_op(g, "Gelu", x, approximate_s=approximate)

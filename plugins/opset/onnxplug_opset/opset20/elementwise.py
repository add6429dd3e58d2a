"""Opset 20: Gelu."""

from __future__ import annotations

from ..registration import op


@op("aten::gelu")
def gelu(g, x, approximate="none"):
    return g.op("Gelu", x, approximate_s=approximate, dtype=g.dtype(x))

"""Opset 13: Softmax and LogSoftmax normalise along one axis (no 2-D coercion)."""

from __future__ import annotations

from ..helpers import cast
from ..registration import op


@op("aten::softmax.int", "aten::_softmax")
def softmax(g, x, dim, dtype_or_half=None):
    x = cast(g, x, g.out_dtype())
    return g.op("Softmax", x, axis_i=dim)


@op("aten::log_softmax.int", "aten::_log_softmax")
def log_softmax(g, x, dim, dtype_or_half=None):
    x = cast(g, x, g.out_dtype())
    return g.op("LogSoftmax", x, axis_i=dim)

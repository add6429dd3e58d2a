"""Opset 9: selects (``Where``) and element-wise maximum/minimum with PyTorch's NaN rules."""

from __future__ import annotations

import torch

from .. import elementwise_helpers as eh
from ..helpers import as_value
from ..registration import op


@op("aten::where.self", "aten::where.ScalarSelf", "aten::where.ScalarOther", "aten::where.Scalar")
def where(g, condition, x, y):
    dt = eh.out_dtype(g, x, y)
    return eh.where(g, eh.to_bool(g, condition), x, y, dt)


def _extreme(g, x, y, kind: str, ignore_nan: bool):
    """maximum/minimum: NaN wins (``fmax``/``fmin``: the other operand wins)."""
    dt = eh.out_dtype(g, x, y)
    a, b = as_value(g, x, dt), as_value(g, y, dt)
    if dt == torch.bool:
        return eh.bool_op(g, "Or" if kind == "gt" else "And", a, b)
    if dt.is_floating_point:
        pick_a = eh.or_(g, eh.compare(g, kind, a, b), eh.isnan(g, a))
        out = eh.where(g, pick_a, a, b, dt)
        if ignore_nan:
            out = eh.where(g, eh.isnan(g, a), b, eh.where(g, eh.isnan(g, b), a, out, dt), dt)
        return out
    return eh.where(g, eh.compare(g, kind, a, b), a, b, dt)


@op("aten::maximum", "aten::max.other")
def maximum(g, x, y):
    return _extreme(g, x, y, "gt", False)


@op("aten::minimum", "aten::min.other")
def minimum(g, x, y):
    return _extreme(g, x, y, "lt", False)


@op("aten::fmax")
def fmax(g, x, y):
    return _extreme(g, x, y, "gt", True)


@op("aten::fmin")
def fmin(g, x, y):
    return _extreme(g, x, y, "lt", True)

"""Tensor factories new at opset 11: ``arange`` of large or dynamic bounds as ``Range``."""

from __future__ import annotations

import torch

from ..helpers import cast
from ..opset7.creation import arange_bounds, arange_work, out_dtype, static_arange
from ..registration import op
from ..shape_helpers import SMALL


@op("aten::arange", "aten::arange.start", "aten::arange.start_step")
def arange(g, *args, **kwargs):
    """Small static bounds: a constant; else one ``Range`` in a dtype onnxruntime runs."""
    start, end, step = arange_bounds(args)
    dt = out_dtype(g, torch.int64)
    t = static_arange(g, start, end, step, dt)
    if t is not None and t.numel() <= SMALL:
        return g.constant(t)
    (s, e, d), _ = arange_work(g, start, end, step, dt)
    return cast(g, g.op("Range", s, e, d), dt)

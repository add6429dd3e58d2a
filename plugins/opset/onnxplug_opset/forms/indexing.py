"""Indices: Gather's negative indices (opset 11), ScatterND (11; with ``reduction`` from
16)."""

from __future__ import annotations

import onnx_ir as ir
import torch

from .. import helpers as h
from .availability import gather_takes_negative, has_scatter_nd
from .selection import less_greater

Value = ir.Value


def gather_indices(g, idx: Value, x: Value, axis: int) -> Value:
    """``idx`` as ``Gather`` along ``axis`` of ``x`` takes it: negative indices count from the end
    from opset 11, as int64; before it they are wrapped (``shape_helpers.normalize_index``)."""
    if gather_takes_negative(g):
        return h.cast(g, idx, torch.int64)
    from ..shape_helpers import normalize_index  # builds on these forms: imported when used

    return normalize_index(g, idx, h.dim_size(g, x, axis))


def is_negative(g, idx: Value) -> Value:
    """``idx < 0`` for int64 ``idx``: integer ``Less`` from opset 9, a float32 copy before."""
    return less_greater(g, "Less", idx, g.constant(0, torch.int64), via=torch.float32)


def scatter_nd(g, data: Value, index: Value, updates: Value, accumulate: bool, finish, stand_in) -> Value:
    """``finish(ScatterND(data, index, updates))`` (``index`` is ``[N, 1]``): from opset 11, and
    with ``reduction="add"`` (``accumulate``) from 16; below those ``stand_in()`` builds the
    whole result from older ops."""
    if not has_scatter_nd(g, reduction=accumulate):
        return stand_in()
    out = g.op("ScatterND", data, index, updates, reduction_s="add" if accumulate else None)
    if g.shape(data) is not None:
        g.set_type(out, shape=g.shape(data))
    return finish(out)

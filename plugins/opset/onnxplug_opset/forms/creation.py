"""Filled and ranged tensors: ConstantOfShape (opset 9), Range (11; NonZero at 9-10)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx_ir as ir
import torch

from .. import helpers as h
from .availability import has_constant_of_shape, has_range, require
from .axes import squeeze, unsqueeze

Value = ir.Value


def constant_fill(g, shape: Sequence | Value, value: Any, dt: torch.dtype) -> Value:
    """A tensor of ``shape`` (ints and 0-d values, or a 1-D int64 value) holding the Python
    number ``value``: ``ConstantOfShape`` from opset 9; before it a constant, so the shape must
    be static (else NotImplementedError)."""
    static = not isinstance(shape, ir.Value) and all(isinstance(s, int) for s in shape)
    if not has_constant_of_shape(g) and static:
        return g.constant(torch.full(list(shape), value, dtype=dt))
    require(g, "ConstantOfShape", "a constant fill of a dynamic shape")
    shp = shape if isinstance(shape, ir.Value) else h.int_list(g, shape)
    return g.op("ConstantOfShape", shp, value=torch.tensor([value], dtype=dt))


def range_(g, n: Value, dt: torch.dtype) -> Value:
    """``0..n-1`` for a dynamic 0-d int64 ``n``, as ``dt``: ``Range`` from opset 11; at 9-10
    ``NonZero`` of a ``ConstantOfShape`` of ones; NotImplementedError before."""
    if has_range(g):
        return h.cast(g, g.op("Range", g.constant(0, torch.int64), n, g.constant(1, torch.int64)), dt)
    require(g, "NonZero", "a dynamic arange")
    ones = g.op("ConstantOfShape", unsqueeze(g, n, [0]), value=torch.tensor([1], dtype=torch.int64))
    return h.cast(g, squeeze(g, g.op("NonZero", ones), [0]), dt)

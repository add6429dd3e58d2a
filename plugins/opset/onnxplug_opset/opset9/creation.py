"""Tensor factories new at opset 9: ``eye`` of large or dynamic sizes as ``EyeLike``."""

from __future__ import annotations

import torch

from ..helpers import cast, int_list
from ..registration import op
from ..shape_helpers import SMALL
from ..opset7.creation import out_dtype


@op("aten::eye", "aten::eye.m")
def eye(g, n, m=None, *args, **kwargs):
    """Small static sizes: a constant; else ``EyeLike`` of a ``ConstantOfShape`` of zeros."""
    dt = out_dtype(g)
    m = n if m is None else m
    if isinstance(n, int) and isinstance(m, int) and n * m <= SMALL:
        return g.constant(torch.eye(n, m, dtype=dt))
    work = dt if dt != torch.bool else torch.int64
    z = g.op("ConstantOfShape", int_list(g, [n, m]), value=torch.tensor([0], dtype=work))
    return cast(g, g.op("EyeLike", z), dt)

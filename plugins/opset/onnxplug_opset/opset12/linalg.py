"""Opset 12: Einsum."""

from __future__ import annotations

import torch

from ..helpers import cast
from ..registration import op

_EINSUM_TYPES = (torch.float16, torch.float32, torch.float64, torch.int32, torch.int64)


@op("aten::einsum")
def einsum(g, equation, operands, path=None):
    """One ``Einsum`` node; the equation is PyTorch's without spaces (same implicit-output rule)."""
    dt = g.out_dtype()
    compute = dt if dt in _EINSUM_TYPES else torch.float32
    inputs = [cast(g, v, compute) for v in operands]
    y = g.op("Einsum", *inputs, equation_s=equation.replace(" ", ""))
    return cast(g, y, dt)

"""Opset 21: GroupNormalization with per-channel scale and bias (opset 18's were per group)."""

from __future__ import annotations

import torch

from ..helpers import cast
from ..registration import op


@op("aten::group_norm")
def group_norm(g, x, num_groups, weight=None, bias=None, eps=1e-5, cudnn_enabled=True):
    dt = g.dtype(x)
    c = g.shape(x)[1]
    if not isinstance(c, int):
        from ..opset7.norm import group_norm as composed

        return composed(g, x, num_groups, weight, bias, eps)
    scale = cast(g, weight, dt) if weight is not None else g.constant(torch.ones(c, dtype=dt))
    shift = cast(g, bias, dt) if bias is not None else g.constant(torch.zeros(c, dtype=dt))
    return g.op("GroupNormalization", x, scale, shift, num_groups_i=int(num_groups), epsilon_f=float(eps))

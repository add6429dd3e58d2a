"""Opset 23: RMSNormalization."""

from __future__ import annotations

import torch

from ..registration import op


@op("aten::rms_norm")
def rms_norm(g, x, normalized_shape, weight=None, eps=None):
    dt = g.dtype(x)
    if eps is None:
        eps = torch.finfo(dt).eps
    axis = g.rank(x) - len(normalized_shape)
    if weight is None:
        weight = g.constant(torch.ones(list(normalized_shape), dtype=dt))
    return g.op("RMSNormalization", x, weight, axis_i=axis, epsilon_f=float(eps))

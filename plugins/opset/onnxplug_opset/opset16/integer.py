"""Opset 16: ``bincount`` as one ScatterElements add into zeros, linear in ``len(x) + n``
(opset 9's one-hot match is ``len(x) x n``)."""

from __future__ import annotations

import torch

from ..forms import unsqueeze
from ..helpers import cast
from ..opset9.integer import bincount_dtype, output_length
from ..registration import op


@op("aten::bincount")
def bincount(g, x, weights=None, minlength=0):
    """``torch.bincount``: ones (or the weights) added at positions ``x`` of ``n`` zeros, with
    ``n = max(max(x) + 1, minlength)`` computed at run time."""
    dt = bincount_dtype(g, weights)
    x64 = cast(g, x, torch.int64)
    n = output_length(g, x64, minlength)
    zeros = g.op("ConstantOfShape", unsqueeze(g, n, [0]), value=torch.zeros(1, dtype=dt))
    if weights is None:
        updates = g.op("Expand", g.constant(1, dt), g.op("Shape", x64))
    else:
        updates = cast(g, weights, dt)
    out = g.op("ScatterElements", zeros, x64, updates, axis_i=0, reduction_s="add")
    return g.set_type(out, shape=g.out_shape())

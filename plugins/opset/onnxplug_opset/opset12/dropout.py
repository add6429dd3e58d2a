"""Opset 12: Dropout's training_mode input.

``p == 1`` in training mode drops everything, but onnxruntime refuses a ``ratio`` of 1 ("ratio
must be in the range [0, 1)"): it is ``x * 0`` with an all-false mask instead, as PyTorch
computes it (NaN and infinities become NaN there too).
"""

from __future__ import annotations

import torch

from ..helpers import scalar
from ..nn_helpers import all_true_mask, drop_everything
from ..registration import op


def _dropout(g, x, p):
    dt = g.dtype(x)
    if float(p) >= 1.0:
        return drop_everything(g, x)
    y, mask = g.op("Dropout", x, scalar(g, float(p), dt), g.constant(True), outputs=2)
    g.set_type(y, dtype=dt)
    g.set_type(mask, dtype=torch.bool)
    return y, mask


@op("aten::dropout")
def dropout(g, x, p, train):
    """Training mode is a real Dropout (random, as in PyTorch); inference is the identity."""
    if not train or p == 0:
        return x
    return _dropout(g, x, p)[0]


@op("aten::native_dropout")
def native_dropout(g, x, p, train):
    if not train or p == 0:
        return x, all_true_mask(g, x)
    return _dropout(g, x, p)

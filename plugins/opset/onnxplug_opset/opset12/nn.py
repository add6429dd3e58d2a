"""Opset 12: Dropout's training_mode input, NegativeLogLikelihoodLoss."""

from __future__ import annotations

import torch

from ..helpers import scalar
from ..nn_helpers import nll_loss_node
from ..registration import op
from ..opset7 import nn as nn7


def _dropout(g, x, p):
    dt = g.dtype(x)
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
        return x, nn7._all_true_mask(g, x)
    return _dropout(g, x, p)


@op("aten::nll_loss_nd", "aten::nll_loss", "aten::nll_loss2d")
def nll_loss(g, x, target, weight=None, reduction=1, ignore_index=-100):
    logp, target, added = nn7._batched(g, x, target)
    loss = nll_loss_node(g, logp, target, weight, reduction, ignore_index)
    if added and reduction in (0, "none"):
        loss = nn7.squeeze(g, loss, [0])
    return loss

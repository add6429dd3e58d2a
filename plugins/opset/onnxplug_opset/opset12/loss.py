"""Opset 12: NegativeLogLikelihoodLoss."""

from __future__ import annotations

from ..forms import squeeze
from ..nn_helpers import batch_nll_inputs, nll_loss_node
from ..registration import op


@op("aten::nll_loss_nd", "aten::nll_loss", "aten::nll_loss2d")
def nll_loss(g, x, target, weight=None, reduction=1, ignore_index=-100):
    logp, target, added = batch_nll_inputs(g, x, target)
    loss = nll_loss_node(g, logp, target, weight, reduction, ignore_index)
    if added and reduction in (0, "none"):
        loss = squeeze(g, loss, [0])
    return loss

"""Loss functions, composed (NegativeLogLikelihoodLoss: opset 12)."""

from __future__ import annotations

import math
import torch

from .. import forms
from ..forms import clip, reduce, squeeze, unsqueeze
from ..helpers import cast, reshape, scalar
from ..forms import log_softmax_axis1
from ..nn_helpers import batch_nll_inputs, eq_scalar, mean_or_sum, nll_composed, relu_
from ..registration import op
from ..shape_helpers import where
from .distance import pairwise_distance


def _reduced(g, loss, reduction):
    return mean_or_sum(g, loss, reduction)


def _pair_loss(g, x, y):
    dt = g.out_dtype() if g.out_dtype().is_floating_point else g.dtype(x)
    return g.op("Sub", cast(g, x, dt), cast(g, y, dt)), dt


@op("aten::mse_loss")
def mse_loss(g, x, y, reduction=1):
    d, _ = _pair_loss(g, x, y)
    return _reduced(g, g.op("Mul", d, d), reduction)


@op("aten::l1_loss")
def l1_loss(g, x, y, reduction=1):
    d, _ = _pair_loss(g, x, y)
    return _reduced(g, g.op("Abs", d), reduction)


@op("aten::smooth_l1_loss")
def smooth_l1_loss(g, x, y, reduction=1, beta=1.0):
    d, dt = _pair_loss(g, x, y)
    ad = g.op("Abs", d)
    if beta == 0:
        return _reduced(g, ad, reduction)
    quad = g.op("Div", g.op("Mul", scalar(g, 0.5, dt), g.op("Mul", d, d)),
                scalar(g, beta, dt))
    lin = g.op("Sub", ad, scalar(g, 0.5 * beta, dt))
    small = g.op("Less", ad, scalar(g, beta, dt))
    return _reduced(g, where(g, small, quad, lin, dt), reduction)


@op("aten::huber_loss")
def huber_loss(g, x, y, reduction=1, delta=1.0):
    d, dt = _pair_loss(g, x, y)
    ad = g.op("Abs", d)
    quad = g.op("Mul", scalar(g, 0.5, dt), g.op("Mul", d, d))
    lin = g.op("Mul", scalar(g, delta, dt), g.op("Sub", ad, scalar(g, 0.5 * delta, dt)))
    small = g.op("Less", ad, scalar(g, delta, dt))
    return _reduced(g, where(g, small, quad, lin, dt), reduction)


def _clamped_log(g, v, dt):
    """``max(log(v), -100)``: PyTorch's binary cross entropy clamps its logs there."""
    return clip(g, g.op("Log", v), -100.0)


@op("aten::binary_cross_entropy")
def binary_cross_entropy(g, x, y, weight=None, reduction=1):
    dt = g.out_dtype()
    one = scalar(g, 1.0, dt)
    x, y = cast(g, x, dt), cast(g, y, dt)
    pos = g.op("Mul", y, _clamped_log(g, x, dt))
    neg = g.op("Mul", g.op("Sub", one, y), _clamped_log(g, g.op("Sub", one, x), dt))
    loss = g.op("Neg", g.op("Add", pos, neg))
    if weight is not None:
        loss = g.op("Mul", loss, cast(g, weight, dt))
    return _reduced(g, loss, reduction)


@op("aten::binary_cross_entropy_with_logits")
def binary_cross_entropy_with_logits(g, x, y, weight=None, pos_weight=None, reduction=1):
    """``(1 - y) x + (1 + (pw - 1) y) (log(1 + exp(-|x|)) + max(-x, 0))``: ATen's stable form."""
    dt = g.out_dtype()
    one = scalar(g, 1.0, dt)
    x, y = cast(g, x, dt), cast(g, y, dt)
    neg_x = g.op("Neg", x)
    softplus = g.op("Add", g.op("Relu", neg_x),
                    g.op("Log", g.op("Add", one, g.op("Exp", g.op("Neg", g.op("Abs", x))))))
    if pos_weight is not None:
        lw = g.op("Add", one, g.op("Mul", g.op("Sub", cast(g, pos_weight, dt), one), y))
        softplus = g.op("Mul", lw, softplus)
    loss = g.op("Add", g.op("Mul", g.op("Sub", one, y), x), softplus)
    if weight is not None:
        loss = g.op("Mul", loss, cast(g, weight, dt), dtype=dt)
    return _reduced(g, loss, reduction)


@op("aten::kl_div")
def kl_div(g, x, y, reduction=1, log_target=False):
    dt = g.out_dtype()
    x, y = cast(g, x, dt), cast(g, y, dt)
    if log_target:
        loss = g.op("Mul", g.op("Exp", y), g.op("Sub", y, x))
    else:
        # xlogy(y, y): 0 where y == 0 (log of y + 1 there), without a NaN from 0 * -inf
        zero = cast(g, eq_scalar(g, y, 0.0), dt)
        ylogy = g.op("Mul", y, g.op("Log", g.op("Add", y, zero)))
        loss = g.op("Sub", ylogy, g.op("Mul", y, x))
    return _reduced(g, loss, reduction)


@op("aten::soft_margin_loss")
def soft_margin_loss(g, x, y, reduction=1):
    dt = g.out_dtype()
    z = g.op("Neg", g.op("Mul", cast(g, x, dt), cast(g, y, dt)))
    loss = g.op("Log", g.op("Add", scalar(g, 1.0, dt), g.op("Exp", z)))
    return _reduced(g, loss, reduction)


@op("aten::margin_ranking_loss")
def margin_ranking_loss(g, x1, x2, y, margin=0.0, reduction=1):
    dt = g.out_dtype()
    d = g.op("Sub", cast(g, x1, dt), cast(g, x2, dt))
    v = g.op("Add", g.op("Neg", g.op("Mul", cast(g, y, dt), d)), scalar(g, margin, dt))
    return _reduced(g, relu_(g, v), reduction)


@op("aten::hinge_embedding_loss")
def hinge_embedding_loss(g, x, y, margin=1.0, reduction=1):
    dt = g.out_dtype()
    x, y = cast(g, x, dt), cast(g, y, dt)
    zero = scalar(g, 0.0, dt)
    margin_part = relu_(g, g.op("Sub", scalar(g, margin, dt), x))
    out_margin = where(g, eq_scalar(g, y, 1.0), zero, margin_part, dt)
    out_self = where(g, eq_scalar(g, y, -1.0), zero, x, dt)
    return _reduced(g, g.op("Add", out_margin, out_self), reduction)


@op("aten::poisson_nll_loss")
def poisson_nll_loss(g, x, y, log_input, full, eps, reduction):
    dt = g.out_dtype()
    x, y = cast(g, x, dt), cast(g, y, dt)
    if log_input:
        loss = g.op("Sub", g.op("Exp", x), g.op("Mul", y, x))
    else:
        logx = g.op("Log", g.op("Add", x, scalar(g, eps, dt)))
        loss = g.op("Sub", x, g.op("Mul", y, logx))
    if full:
        logy = g.op("Log", y)
        stirling = g.op("Add", g.op("Sub", g.op("Mul", y, logy), y),
                        g.op("Mul", scalar(g, 0.5, dt),
                             g.op("Log", g.op("Mul", scalar(g, 2 * math.pi, dt), y))))
        big = g.op("Greater", y, scalar(g, 1.0, dt))
        loss = g.op("Add", loss, where(g, big, stirling, scalar(g, 0.0, dt), dt))
    return _reduced(g, loss, reduction)


@op("aten::cosine_embedding_loss")
def cosine_embedding_loss(g, x1, x2, y, margin=0.0, reduction=1):
    dt = g.out_dtype()  # float also for integer inputs (ATen adds a float epsilon)
    axis = max(g.rank(x1), g.rank(x2), 1) - 1
    x1, x2, y = cast(g, x1, dt), cast(g, x2, dt), cast(g, y, dt)
    eps = scalar(g, 1e-12, dt)

    def ssum(v):
        return reduce(g, "ReduceSum", v, [axis], False)

    prod = ssum(g.op("Mul", x1, x2))
    m1 = g.op("Add", ssum(g.op("Mul", x1, x1)), eps)
    m2 = g.op("Add", ssum(g.op("Mul", x2, x2)), eps)
    cos = g.op("Div", prod, g.op("Sqrt", g.op("Mul", m1, m2)))
    zero = scalar(g, 0.0, dt)
    pos = g.op("Sub", scalar(g, 1.0, dt), cos)
    neg = relu_(g, g.op("Sub", cos, scalar(g, margin, dt)))
    loss = g.op("Add", where(g, eq_scalar(g, y, 1.0), pos, zero, dt),
                where(g, eq_scalar(g, y, -1.0), neg, zero, dt))
    return _reduced(g, loss, reduction)


@op("aten::triplet_margin_loss")
def triplet_margin_loss(g, anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction=1):
    dt = g.out_dtype()
    d_ap = pairwise_distance(g, anchor, positive, p, eps)
    d_an = pairwise_distance(g, anchor, negative, p, eps)
    if swap:
        d_pn = pairwise_distance(g, positive, negative, p, eps)
        d_an = g.op("Min", d_an, d_pn)
    loss = relu_(g, g.op("Add", g.op("Sub", d_ap, d_an), scalar(g, margin, dt)))
    return _reduced(g, loss, reduction)


def nll(g, logp, target, weight, reduction, ignore_index):
    logp, target, added = batch_nll_inputs(g, logp, target)
    loss = forms.nll_loss(g, logp, target, weight, reduction, ignore_index)
    if added and reduction in (0, "none"):
        loss = squeeze(g, loss, [0])
    return loss


@op("aten::nll_loss_nd", "aten::nll_loss", "aten::nll_loss2d")
def nll_loss(g, x, target, weight=None, reduction=1, ignore_index=-100):
    dt = g.out_dtype()
    return cast(g, nll(g, cast(g, x, dt) if g.dtype(x) == dt else x, target, weight, reduction,
                       ignore_index), dt)


@op("aten::nll_loss_forward", "aten::nll_loss2d_forward")
def nll_loss_forward(g, x, target, weight, reduction, ignore_index):
    """``(loss, total_weight)``: ``total_weight`` sums the weights of the targets not ignored,
    except that ATen leaves it 0 for an unreduced batched loss (an unbatched one still sums)."""
    logp, target, added = batch_nll_inputs(g, x, target)
    loss, keep = nll_composed(g, logp, target, weight, reduction, ignore_index)
    if reduction in (0, "none"):
        if not added:
            return loss, g.constant(0, g.dtype(logp))
        loss = squeeze(g, loss, [0])
    return loss, reduce(g, "ReduceSum", keep, None, False)


@op("aten::cross_entropy_loss")
def cross_entropy_loss(g, x, target, weight=None, reduction=1, ignore_index=-100, label_smoothing=0.0):
    dt = g.out_dtype()
    x = cast(g, x, dt)
    rank = g.rank(x)
    if rank == 1:
        x = g.set_type(unsqueeze(g, x, [0]), shape=[1, g.shape(x)[0]])
        target = unsqueeze(g, target, [0])
    logp = g.set_type(log_softmax_axis1(g, x), shape=g.shape(x))
    c = g.shape(x)[1]
    w = None if weight is None else reshape(g, cast(g, weight, dt), [1, c] + [1] * (g.rank(x) - 2))
    if g.dtype(target).is_floating_point:
        loss = _soft_target_ce(g, logp, cast(g, target, dt), w, reduction, label_smoothing, c, dt)
    else:
        loss = forms.nll_loss(g, logp, target, weight, reduction, ignore_index)
        if label_smoothing > 0:
            smooth = _smoothing_term(g, logp, target, w, weight, reduction, ignore_index, dt)
            loss = g.op("Add", g.op("Mul", loss, scalar(g, 1 - label_smoothing, dt)),
                        g.op("Mul", smooth, scalar(g, label_smoothing / c, dt)))
    if rank == 1 and reduction in (0, "none"):
        loss = squeeze(g, loss, [0])
    return loss


def _soft_target_ce(g, logp, target, w, reduction, label_smoothing, c, dt):
    """Cross entropy against class probabilities: ``-sum_c(w_c y_c logp_c)``; mean is over N."""
    if label_smoothing > 0:
        target = g.op("Add", g.op("Mul", target, scalar(g, 1 - label_smoothing, dt)),
                      scalar(g, label_smoothing / c, dt))
    prod = g.op("Mul", logp, target)
    if w is not None:
        prod = g.op("Mul", prod, w, dtype=dt)
    loss = g.op("Neg", reduce(g, "ReduceSum", prod, [1], False))
    return _reduced(g, loss, reduction)


def _smoothing_term(g, logp, target, w, weight, reduction, ignore_index, dt):
    """ATen's label-smoothing part: ``-sum_c(w_c logp_c)`` per element, 0 where ignored."""
    prod = logp if w is None else g.op("Mul", logp, w)
    smooth = g.op("Neg", reduce(g, "ReduceSum", prod, [1], False))
    _, keep = nll_composed(g, logp, target, weight, 0, ignore_index)
    ignored = g.op("Equal", cast(g, target, torch.int64), g.constant(ignore_index, torch.int64))
    smooth = where(g, ignored, scalar(g, 0.0, dt), smooth, dt)
    if reduction in (0, "none"):
        return smooth
    total = reduce(g, "ReduceSum", smooth, None, False)
    if reduction in (2, "sum"):
        return total
    return g.op("Div", total, reduce(g, "ReduceSum", keep, None, False))

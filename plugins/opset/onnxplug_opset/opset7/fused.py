"""Fused losses: PyTorch's chunked ``linear_cross_entropy`` custom ops (``torch_nn`` namespace).

``F.linear_cross_entropy(..., options=LinearCrossEntropyOptions(...))`` runs one of two custom
ops, registered by ``torch.nn.modules.linear_cross_entropy`` and kept as they are by
torch.export:

* ``torch_nn::_linear_cross_entropy_batch_chunked`` (reduction ``'mean'`` / ``'sum'``) returns
  ``(loss, grad_input, grad_linear_weight, grad_linear_bias)``: the gradients are computed in
  the forward pass when the matching ``compute_*_grad`` flag is set, and are empty tensors
  (``(0, 0)``, ``(0, 0)``, ``(0,)``) otherwise.
* ``torch_nn::_linear_cross_entropy_batch_chunked_no_reduction`` returns the per-sample loss.

The chunking only bounds PyTorch's peak memory; the values are those of
``cross_entropy(linear(input, linear_weight, linear_bias), target, weight, ...)``, so the
conversion emits the plain graph: one Gemm, ``log_softmax`` along the classes and the NLL loss
(``NegativeLogLikelihoodLoss`` from opset 12, composed below), all from the shared helpers.
``input`` is always ``(N, in_features)`` and ``target`` ``(N,)`` class indices here (the
functional adds the batch axis and keeps every other case on its reference path).

The maths runs in the op's ``acc_dtype`` (float32 for half-precision inputs, as PyTorch
accumulates them) and the results come back in the dtypes PyTorch gives them.
"""

from __future__ import annotations

import torch

from .. import forms
from ..forms import reduce, unsqueeze
from ..helpers import cast, transpose
from ..dtypes import float_compute
from ..forms import log_softmax_axis1
from ..nn_helpers import class_mask, matmul, nll_composed
from ..registration import op


def _log_probs(g, x, linear_weight, linear_bias, dt: torch.dtype):
    """``log_softmax(x @ linear_weight.T + linear_bias, 1)`` in ``dt``, with its static shape."""
    if g.rank(x) != 2 or g.rank(linear_weight) != 2:
        raise NotImplementedError("chunked linear_cross_entropy takes a 2-D input and a 2-D linear weight")
    c = g.shape(linear_weight)[0]
    if not isinstance(c, int):
        raise NotImplementedError("chunked linear_cross_entropy with a dynamic number of classes")
    x, w = cast(g, x, dt), cast(g, linear_weight, dt)
    b = None if linear_bias is None else cast(g, linear_bias, dt)
    logits = forms.gemm_transposed(g, x, w, b)  # aten::linear's 2-D float form
    g.set_type(logits, dtype=dt, shape=[g.shape(x)[0], c])
    logp = g.set_type(log_softmax_axis1(g, logits), dtype=dt, shape=[g.shape(x)[0], c])
    return x, w, logp, c


def _logits_grad(g, logp, target, weight, reduction: str, ignore_index: int, c: int, dt: torch.dtype):
    """``d loss / d logits`` ([N, C]): ``a_n (softmax_n - onehot(t_n))`` with ``a_n`` the weight
    of sample n's target (0 where it is ignored), divided by the sum of those weights for 'mean'."""
    _, keep = nll_composed(g, logp, target, weight, 0, ignore_index)  # a_n before the mean
    if reduction == "mean":
        keep = g.op("Div", keep, reduce(g, "ReduceSum", keep, None, False))
    hot = cast(g, class_mask(g, target, c, 2), dt)
    diff = g.op("Sub", g.op("Exp", logp), hot)
    return g.op("Mul", diff, unsqueeze(g, keep, [1]))


@op("torch_nn::_linear_cross_entropy_batch_chunked.default")
def linear_cross_entropy_batch_chunked(g, x, linear_weight, target, linear_bias, weight, reduction, ignore_index,
                                       label_smoothing, batch_chunk_size, acc_policy, acc_dtype,
                                       allow_retain_graph, compute_input_grad, compute_linear_weight_grad,
                                       compute_linear_bias_grad):
    """The reduced loss and, where the flags ask for them, its gradients with respect to the input,
    the linear weight and the linear bias (``dz @ W``, ``dz.T @ x`` and ``sum_n dz`` for
    ``dz`` the gradient of the loss with respect to the logits); empty tensors otherwise.

    ``batch_chunk_size``, ``acc_policy``, ``acc_dtype`` and ``allow_retain_graph`` only steer
    PyTorch's memory use and autograd, not the values.
    """
    if reduction not in ("mean", "sum"):
        raise NotImplementedError(f"chunked linear_cross_entropy with reduction={reduction!r}")
    if label_smoothing:
        # the functional never routes label smoothing here and the op's kernel ignores it
        raise NotImplementedError("chunked linear_cross_entropy with label_smoothing")
    out_dt = g.out_dtype(0)
    dt = float_compute(out_dt, acc_dtype)
    x, w, logp, c = _log_probs(g, x, linear_weight, linear_bias, dt)
    loss = cast(g, forms.nll_loss(g, logp, target, weight, reduction, int(ignore_index)), out_dt)

    dz = None
    if compute_input_grad or compute_linear_weight_grad or compute_linear_bias_grad:
        dz = _logits_grad(g, logp, target, weight, reduction, int(ignore_index), c, dt)

    def grad(flag, i, make):
        out = g.out_dtype(i)
        if not flag:
            return g.constant(torch.empty(g.out_shape(i), dtype=out))
        return cast(g, make(), out)

    grad_input = grad(compute_input_grad, 1, lambda: matmul(g, dz, w, dt))
    grad_weight = grad(compute_linear_weight_grad, 2, lambda: matmul(g, transpose(g, dz, [1, 0]), x, dt))
    grad_bias = grad(compute_linear_bias_grad, 3, lambda: reduce(g, "ReduceSum", dz, [0], False))
    return loss, grad_input, grad_weight, grad_bias


@op("torch_nn::_linear_cross_entropy_batch_chunked_no_reduction.default")
def linear_cross_entropy_batch_chunked_no_reduction(g, x, linear_weight, target, linear_bias, weight, ignore_index,
                                                    batch_chunk_size, acc_policy, acc_dtype):
    """The per-sample loss ``w[t_n] * -log_softmax(x_n @ W.T + b)[t_n]`` (0 where ``t_n`` is
    ``ignore_index``); the chunking arguments do not change the values."""
    out_dt = g.out_dtype()
    dt = float_compute(out_dt, acc_dtype)
    _, _, logp, _ = _log_probs(g, x, linear_weight, linear_bias, dt)
    return cast(g, forms.nll_loss(g, logp, target, weight, 0, int(ignore_index)), out_dt)


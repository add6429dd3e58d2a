"""Fused losses: ``F.linear_cross_entropy`` with chunking options, i.e. PyTorch's custom ops
``torch_nn::_linear_cross_entropy_batch_chunked`` (mean/sum) and
``torch_nn::_linear_cross_entropy_batch_chunked_no_reduction`` (none), converted in
``opset7/fused.py``.

Each case runs at its lowest opset and at ``NEWEST``. The ops' gradient outputs (computed in
the forward pass when the ``compute_*_grad`` flags are set) are reached by calling the op
directly through ``torch.ops.torch_nn``: torch.export keeps it as it is.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.nn import LinearCrossEntropyOptions

from onnxplug.capture import FunctionModule as Fn
from onnxplug.testing import NEWEST_OPSET as NEWEST, export_and_compare

torch.manual_seed(0)
N, IN, C = 6, 5, 4
X = torch.randn(N, IN)
W = torch.randn(C, IN)
B = torch.randn(C)
T = torch.tensor([1, 0, 3, 2, 1, 3])
T_IGNORED = torch.tensor([1, -100, 3, 2, -100, 0])  # the default ignore_index
CW = torch.rand(C) + 0.5  # class weights
# the cases the functional keeps off the chunked ops warn that it ignores ``options``
pytestmark = pytest.mark.filterwarnings("ignore:linear_cross_entropy. ..options.. ignored:UserWarning")

OPTS = LinearCrossEntropyOptions(batch_chunk_size=4, allow_retain_graph=True)  # chunks of 4 and 2 rows


def _lce(**kw):
    """``F.linear_cross_entropy`` with chunking, on (x, w, t) or (x, w, t, linear_bias)."""
    def fn(x, w, t, b=None):
        return F.linear_cross_entropy(x, w, t, linear_bias=b, options=OPTS, **kw)
    return fn


def _lce_w(**kw):
    """With class weights as a model input: (x, w, t, b, class_weight)."""
    return lambda x, w, t, b, cw: F.linear_cross_entropy(x, w, t, linear_bias=b, weight=cw, options=OPTS, **kw)


def _chunked_op(compute, reduction="mean", ignore_index=-100):
    """The scalar-reduction op itself with all four outputs; ``compute`` are the three grad flags."""
    def fn(x, w, t, b, cw):
        return torch.ops.torch_nn._linear_cross_entropy_batch_chunked(
            x, w, t, b, cw, reduction, ignore_index, 0.0, 4, "compact", torch.float32, True, *compute)
    return fn


# name: (fn, args, lowest opset). Every case also runs at NEWEST.
CASES = {
    # reductions, with and without bias
    "mean": (_lce(), (X, W, T), 7),
    "sum": (_lce(reduction="sum"), (X, W, T), 7),
    "none": (_lce(reduction="none"), (X, W, T), 7),
    "mean_bias": (_lce(), (X, W, T, B), 7),
    "sum_bias": (_lce(reduction="sum"), (X, W, T, B), 7),
    "none_bias": (_lce(reduction="none"), (X, W, T, B), 7),
    # class weights (the mean divides by the targets' weights)
    "mean_weight": (_lce_w(), (X, W, T, B, CW), 7),
    "sum_weight": (_lce_w(reduction="sum"), (X, W, T, B, CW), 7),
    "none_weight": (_lce_w(reduction="none"), (X, W, T, B, CW), 7),
    # ignore_index: the default -100 in the targets, and a real class
    "mean_ignored": (_lce_w(), (X, W, T_IGNORED, B, CW), 7),
    "none_ignored": (_lce(reduction="none"), (X, W, T_IGNORED), 7),
    "mean_ignore_class": (_lce_w(ignore_index=1), (X, W, T, B, CW), 7),
    "sum_ignore_class": (_lce(reduction="sum", ignore_index=3), (X, W, T), 7),
    "none_ignore_class": (_lce_w(reduction="none", ignore_index=1), (X, W, T, B, CW), 7),
    # an unbatched input (the functional adds the batch axis around the op)
    "unbatched_mean": (_lce(), (X[0], W, T[0], B), 7),
    "unbatched_none": (_lce(reduction="none"), (X[0], W, T[0]), 7),
    # the paths the functional keeps off the chunked ops (reference linear + cross_entropy)
    "label_smoothing": (_lce(label_smoothing=0.2), (X, W, T, B), 7),
    "k_dim": (_lce(), (X, torch.randn(2, 3, IN), torch.randint(0, 2, (N, 3)), torch.randn(2, 3)), 7),
    "probabilities": (_lce(), (X, W, torch.softmax(torch.randn(N, C), 1), B), 7),
    # the gradient outputs of the scalar-reduction op
    "grads_mean": (_chunked_op((True, True, True)), (X, W, T_IGNORED, B, CW), 7),
    "grads_sum": (_chunked_op((True, True, True), "sum", 2), (X, W, T, B, CW), 7),
    "grads_some": (_chunked_op((False, True, False)), (X, W, T, B, CW), 7),
    "grads_none": (_chunked_op((False, False, False), "sum"), (X, W, T, B, CW), 7),
}


def _params():
    for name, (fn, args, lo) in CASES.items():
        for opset in sorted({lo, NEWEST}):
            yield pytest.param(fn, args, opset, id=f"{name}-{opset}")


@pytest.mark.parametrize(("fn", "args", "opset"), list(_params()))
def test_linear_cross_entropy(fn, args, opset):
    export_and_compare(Fn(fn), args, opset=opset, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opset", [7, 12, NEWEST])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_dynamic_batch(reduction, opset):
    """A batch size known only at run time: the Gemm, log_softmax and loss do not need it."""
    model = Fn(_lce(reduction=reduction))
    export_and_compare(model, (X, W, T, B), opset=opset, input_names=["x", "w", "t", "b"],
                       dynamic_axes={"x": {0: "n"}, "t": {0: "n"}},
                       run_inputs=(torch.randn(9, IN), W, torch.randint(0, C, (9,)), B))


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_half_input_accumulates_in_float32(opset):
    """A float16 input: the op accumulates in float32 (its acc_dtype), the loss comes back in float16."""
    result = export_and_compare(Fn(_lce(reduction="none")), (X.half(), W.half(), T, B.half()), opset=opset,
                                rtol=1e-3, atol=1e-3)
    assert result is not None

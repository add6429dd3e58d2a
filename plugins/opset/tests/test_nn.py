"""Neural-network conversions (norms, pools, resizing, losses, attention) and small whole models."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from onnxplug.testing import NEWEST_OPSET as NEWEST


from onnxplug.capture import FunctionModule as Fn  # a function as a module, for export


torch.manual_seed(0)
IMG = torch.randn(2, 4, 6, 6)
LOGITS = torch.randn(4, 5)
LOGITS_2D = torch.randn(2, 5, 3, 3)
TARGET = torch.tensor([1, 0, 4, 2])
TARGET_2D = torch.randint(0, 5, (2, 3, 3))
PROBS = torch.softmax(torch.randn(4, 5), 1)
A, B = torch.randn(4, 6), torch.randn(4, 6)
SIGN = torch.tensor([1.0, -1.0, 1.0, -1.0])
W5 = torch.rand(5) + 0.5

CASES = {
    # normalisation
    "group_norm": (lambda x, w, b: F.group_norm(x, 2, w, b), (IMG, torch.randn(4), torch.randn(4)), 7),
    "group_norm_plain": (lambda x: F.group_norm(x, 4), (IMG,), 7),
    "instance_norm": (lambda x, w: F.instance_norm(x, weight=w, bias=None), (IMG, torch.randn(4)), 7),
    "rms_norm": (lambda x, w: F.rms_norm(x, [6], w, eps=1e-6), (IMG, torch.randn(6)), 7),
    "rms_norm_no_eps": (lambda x: F.rms_norm(x, [6, 6]), (IMG,), 7),
    "batch_norm_train": (lambda x: F.batch_norm(x, None, None, training=True), (IMG,), 7),
    "normalize": (lambda x: F.normalize(x, dim=1), (IMG,), 8),
    "bilinear_layer": (lambda a, b, w, c: F.bilinear(a, b, w, c),
                       (torch.randn(2, 3, 4), torch.randn(2, 3, 5), torch.randn(6, 4, 5), torch.randn(6)), 7),
    "embedding_bag_sum": (lambda w, i, o, p: F.embedding_bag(i, w, o, mode="sum", per_sample_weights=p,
                                                             padding_idx=-1),
                          (torch.randn(5, 4), torch.tensor([0, 4, 1, 4, 2, 3]), torch.tensor([0, 3]),
                           torch.randn(6)), 9),
    "embedding_bag_mean": (lambda w, i, o: F.embedding_bag(i, w, o, mode="mean", include_last_offset=True),
                           (torch.randn(5, 4), torch.tensor([0, 4, 1, 4, 2, 3]), torch.tensor([0, 2, 2, 6])), 9),
    "embedding_bag_max": (lambda w, i: F.embedding_bag(i, w, mode="max", padding_idx=1),
                          (torch.randn(5, 4), torch.tensor([[0, 1, 2], [1, 1, 1], [3, 4, 0]])), 9),
    # distances
    "cosine_similarity": (lambda a, b: F.cosine_similarity(a, b, dim=1), (A, B), 7),
    "pairwise_distance": (lambda a, b: F.pairwise_distance(a, b, p=3.0, keepdim=True), (A, B), 7),
    "pdist": (lambda a: F.pdist(a), (A,), 7),
    # pooling
    "conv_unbatched": (lambda x, w: F.conv2d(x, w, padding=1), (IMG[0], torch.randn(3, 4, 3, 3)), 7),
    "max_pool_indices": (lambda x: F.max_pool2d(x, 3, 2, 1, return_indices=True), (IMG,), 8),
    "max_pool1d_indices": (lambda x: F.max_pool1d(x, 2, return_indices=True), (IMG[0],), 8),
    "max_pool_values": (lambda x: F.max_pool2d(x, 2), (IMG,), 7),
    "adaptive_max_pool": (lambda x: F.adaptive_max_pool2d(x, 3, return_indices=True), (IMG,), 8),
    "adaptive_max_pool_uneven": (lambda x: F.adaptive_max_pool2d(x, (4, 5)), (IMG,), 7),
    "adaptive_max_pool_uneven_indices": (lambda x: F.adaptive_max_pool2d(x, (4, 5), return_indices=True),
                                         (IMG,), 8),
    "max_pool_ceil": (lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True), (IMG[:, :, :5],), 8),
    "conv_transpose_wide_output_padding": (
        lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=3, dilation=4),
        (torch.randn(1, 2, 4, 4), torch.randn(2, 3, 3, 3), torch.randn(3)), 7),
    "adaptive_avg_pool_uneven": (lambda x: F.adaptive_avg_pool2d(x, (4, 5)), (IMG,), 7),
    "avg_pool_divisor": (lambda x: F.avg_pool2d(x, 3, 2, 1, divisor_override=2), (IMG,), 7),
    # rearranging and resampling
    "pixel_shuffle": (lambda x: F.pixel_shuffle(x, 2), (IMG,), 7),
    "pixel_shuffle_crd": (lambda x: F.pixel_shuffle(x, 2), (IMG,), 11),
    "pixel_unshuffle": (lambda x: F.pixel_unshuffle(x, 2), (IMG,), 7),
    "channel_shuffle": (lambda x: F.channel_shuffle(x, 2), (IMG,), 7),
    "nearest": (lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), (IMG,), 11),
    "nearest_size": (lambda x: F.interpolate(x, size=(9, 4), mode="nearest"), (IMG,), 11),
    "nearest_exact": (lambda x: F.interpolate(x, size=(9, 4), mode="nearest-exact"), (IMG,), 11),
    "bilinear": (lambda x: F.interpolate(x, scale_factor=1.5, mode="bilinear"), (IMG,), 11),
    "bilinear_corners": (lambda x: F.interpolate(x, size=(5, 8), mode="bilinear", align_corners=True), (IMG,), 11),
    "bicubic": (lambda x: F.interpolate(x, size=(9, 7), mode="bicubic"), (IMG,), 11),
    "linear": (lambda x: F.interpolate(x, size=9, mode="linear"), (IMG[0],), 11),
    "trilinear": (lambda x: F.interpolate(x, scale_factor=2, mode="trilinear"), (IMG[None],), 11),
    "grid_sample": (lambda x, g: F.grid_sample(x, g, align_corners=False), (IMG, torch.rand(2, 3, 3, 2) * 2 - 1), 16),
    "grid_sample_nearest": (lambda x, g: F.grid_sample(x, g, mode="nearest", padding_mode="border",
                                                       align_corners=True), (IMG, torch.rand(2, 3, 3, 2) * 2 - 1), 16),
    # attention
    "sdpa_gqa": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True),
                 (torch.randn(2, 4, 3, 8), torch.randn(2, 2, 3, 8), torch.randn(2, 2, 3, 8)), 7),
    "sdpa_mask": (lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
                  (torch.randn(2, 2, 3, 8), torch.randn(2, 2, 5, 8), torch.randn(2, 2, 5, 8),
                   torch.rand(3, 5) > 0.3), 9),
    # losses
    "mse": (lambda a, b: F.mse_loss(a, b), (A, B), 7),
    "l1_sum": (lambda a, b: F.l1_loss(a, b, reduction="sum"), (A, B), 7),
    "smooth_l1": (lambda a, b: F.smooth_l1_loss(a, b, beta=0.5), (A, B), 7),
    "huber": (lambda a, b: F.huber_loss(a, b, reduction="none", delta=0.7), (A, B), 7),
    "bce": (lambda a, b, w: F.binary_cross_entropy(a, b, w), (torch.rand(4, 6), torch.rand(4, 6), torch.rand(6)), 7),
    "bce_logits": (lambda a, b, p: F.binary_cross_entropy_with_logits(a * 10, b, pos_weight=p),
                   (A, torch.rand(4, 6), torch.rand(6)), 7),
    "kl_div": (lambda a, b: F.kl_div(a, b, reduction="batchmean"),
               (torch.log_softmax(A, 1), torch.softmax(B, 1) * (B > 0)), 7),
    "kl_div_log_target": (lambda a, b: F.kl_div(a, b, log_target=True), (A, B), 7),
    "soft_margin": (lambda a, y: F.soft_margin_loss(a, y), (A[:, 0], SIGN), 7),
    "margin_ranking": (lambda a, b, y: F.margin_ranking_loss(a, b, y, margin=0.2), (A[:, 0], B[:, 0], SIGN), 7),
    "hinge_embedding": (lambda a, y: F.hinge_embedding_loss(a, y, reduction="none"), (A[:, 0], SIGN), 7),
    "poisson_nll": (lambda a, b: F.poisson_nll_loss(a, b, full=True), (A, torch.rand(4, 6) * 3), 7),
    "poisson_nll_raw": (lambda a, b: F.poisson_nll_loss(a, b, log_input=False), (A.abs(), torch.rand(4, 6)), 7),
    "cosine_embedding": (lambda a, b, y: F.cosine_embedding_loss(a, b, y, margin=0.1), (A, B, SIGN), 7),
    "triplet": (lambda a, b, c: F.triplet_margin_loss(a, b, c, swap=True), (A, B, torch.randn(4, 6)), 7),
    "nll": (lambda x, t: F.nll_loss(torch.log_softmax(x, 1), t, ignore_index=2), (LOGITS, TARGET), 7),
    "nll_weight_2d": (lambda x, t, w: F.nll_loss(x, t, w), (LOGITS_2D, TARGET_2D, W5), 7),
    "nll_unbatched": (lambda x, t: F.nll_loss(x, t, reduction="none"), (LOGITS[0], TARGET[0]), 7),
    "cross_entropy": (lambda x, t: F.cross_entropy(x, t), (LOGITS, TARGET), 7),
    "cross_entropy_smooth": (lambda x, t, w: F.cross_entropy(x, t, w, ignore_index=0, label_smoothing=0.2),
                             (LOGITS_2D, TARGET_2D, W5), 7),
    "cross_entropy_probs": (lambda x, p: F.cross_entropy(x, p, label_smoothing=0.1), (LOGITS, PROBS), 7),
}


def _params():
    for name, (_, _, lowest) in CASES.items():
        for opset in sorted({lowest, NEWEST}):
            yield pytest.param(name, opset, id=f"{name}-{opset}")
    for name in ("cross_entropy_smooth", "sdpa_mask"):
        yield pytest.param(name, 17, id=f"{name}-17")


@pytest.mark.parametrize("name,opset", list(_params()))
def test_nn(check, name, opset):
    fn, inputs, _ = CASES[name]
    check(Fn(fn), inputs, opset=opset, atol=1e-4)


def _op_types(result):
    return {n.op_type for n in result.model.graph.node}


@pytest.mark.parametrize("name,opset,op_type", [
    ("group_norm", 21, "GroupNormalization"), ("rms_norm", 23, "RMSNormalization"),
    ("nll", 12, "NegativeLogLikelihoodLoss"), ("bilinear", 11, "Resize"),
    ("pixel_shuffle_crd", 11, "DepthToSpace"), ("sdpa_gqa", 23, "Attention"),
    ("max_pool_indices", 8, "MaxPool"), ("grid_sample", 20, "GridSample"),
])
def test_uses_the_onnx_op(check, name, opset, op_type):
    fn, inputs, _ = CASES[name]
    assert op_type in _op_types(check(Fn(fn), inputs, opset=opset, atol=1e-4))


def test_group_norm_not_before_21(check):
    """Opset 18's GroupNormalization scales per group, not per channel: it must not be used."""
    fn, inputs, _ = CASES["group_norm"]
    assert "GroupNormalization" not in _op_types(check(Fn(fn), inputs, opset=18))


def test_dropout_training_keeps_shape_and_scale(check):
    """Training-mode dropout is random; with p=0 it is exact at every opset that has it."""
    check(Fn(lambda x: F.dropout(x, 0.0, training=True)), (A,), opset=12)


# -- whole models --------------------------------------------------------------------------------
MODEL_OPSETS = sorted({9, 13, 17, 18, NEWEST})


def cnn_block():
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Conv2d(8, 8, 3, padding=1, groups=2), torch.nn.GroupNorm(2, 8),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 4)).eval()


def mlp():
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.GELU(), torch.nn.LayerNorm(16),
                               torch.nn.Dropout(0.1), torch.nn.Linear(16, 3)).eval()


def encoder_layer():
    return torch.nn.TransformerEncoderLayer(16, 2, 32, activation="gelu", batch_first=True).eval()


@pytest.mark.parametrize("opset", MODEL_OPSETS)
@pytest.mark.parametrize("build,shape", [(cnn_block, (2, 3, 8, 8)), (mlp, (4, 6)), (encoder_layer, (2, 5, 16))],
                         ids=["cnn", "mlp", "transformer"])
def test_model(check, build, shape, opset):
    torch.manual_seed(0)
    model = build()
    with torch.no_grad():
        check(model, (torch.randn(*shape),), opset=opset, atol=1e-4)


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_batch_norm_with_update_overload(check, opset):
    def fn(x, w, b):
        mean, var = torch.zeros(3), torch.ones(3)
        return torch.ops.aten._batch_norm_with_update(x, w, b, mean, var, 0.1, 1e-5)[:3]

    check(fn, (torch.randn(4, 3, 5), torch.rand(3) + 0.5, torch.randn(3)), opset=opset)

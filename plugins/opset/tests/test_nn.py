"""Neural-network conversions (norms, pools, resizing, losses, attention) and small whole models.

Each case of ``CASES`` runs at its lowest opset, at the boundary opsets it lists (the last opset
a conversion serves before a later registration of the same key takes over, and the first of
that later one) and at ``NEWEST``, so every conversion runs at its lowest and newest opsets
(plugins/opset/tests/conftest.py checks it). ATen ops that ``F.*`` does not reach (the
``native_*`` ops, ``convolution``, the non-``.vec`` upsample overloads) are called directly
through ``torch.ops.aten``: torch.export keeps them as they are.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from onnxplug.testing import NEWEST_OPSET as NEWEST, export_and_run


from onnxplug.capture import FunctionModule as Fn  # a function as a module, for export

aten = torch.ops.aten

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
W4, B4 = torch.rand(4) + 0.5, torch.randn(4)  # per-channel affine parameters of IMG
MEAN4, VAR4 = torch.randn(4) * 0.1, torch.rand(4) + 0.5  # running statistics of IMG's channels

# name: (fn, args, opsets). ``opsets`` is the lowest opset the case runs at, or a tuple of it and
# the boundary opsets to run at too; every case also runs at NEWEST (see _params).
CASES = {
    # normalisation (GroupNormalization from 21, LayerNormalization from 17, RMSNormalization from 23)
    "group_norm": (lambda x, w, b: F.group_norm(x, 2, w, b), (IMG, torch.randn(4), torch.randn(4)), (7, 20)),
    "group_norm_plain": (lambda x: F.group_norm(x, 4), (IMG,), (7, 20)),
    "native_group_norm": (lambda x, w, b: aten.native_group_norm(x, w, b, 2, 4, 36, 2, 1e-5), (IMG, W4, B4), 7),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, [6], w, b), (IMG, torch.randn(6), torch.randn(6)), (7, 16, 17)),
    "native_layer_norm": (lambda x: aten.native_layer_norm(x, [6, 6], None, None, 1e-5), (IMG,), (7, 16, 17)),
    "instance_norm": (lambda x, w: F.instance_norm(x, weight=w, bias=None), (IMG, torch.randn(4)), 7),
    "rms_norm": (lambda x, w: F.rms_norm(x, [6], w, eps=1e-6), (IMG, torch.randn(6)), (7, 22)),
    "rms_norm_no_eps": (lambda x: F.rms_norm(x, [6, 6]), (IMG,), (7, 22)),
    "batch_norm_train": (lambda x: F.batch_norm(x, None, None, training=True), (IMG,), 7),
    # (training mode updates the running statistics in place: the model makes its own)
    "native_batch_norm_train": (lambda x, w, b: aten.native_batch_norm(x, w, b, torch.zeros(4), torch.ones(4), True,
                                                                       0.1, 1e-5), (IMG, W4, B4), 7),
    "native_batch_norm_legit_eval": (lambda x, w, b, m, v: aten._native_batch_norm_legit(x, w, b, m, v, False, 0.1,
                                                                                          1e-5),
                                     (IMG, W4, B4, MEAN4, VAR4), 7),
    "native_batch_norm_functional": (lambda x, w, b, m, v: aten._native_batch_norm_legit_functional(
        x, w, b, m, v, True, 0.1, 1e-5), (IMG, W4, B4, MEAN4, VAR4), 7),
    "native_batch_norm_no_training": (lambda x, w, b, m, v: aten._native_batch_norm_legit_no_training(
        x, w, b, m, v, 0.1, 1e-5), (IMG, W4, B4, MEAN4, VAR4), 7),
    "batch_norm_no_update": (lambda x, w, b, m, v: aten._batch_norm_no_update(x, w, b, m, v, 0.1, 1e-5),
                             (IMG, W4, B4, MEAN4, VAR4), 7),
    "normalize": (lambda x: F.normalize(x, dim=1), (IMG,), 8),
    # Gemm without C (bias) only from opset 11: below it, MatMul
    "linear_no_bias": (lambda x, w: F.linear(x, w), (A, torch.randn(3, 6)), (7, 10, 11)),
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
    # convolution and pooling
    "conv_unbatched": (lambda x, w: F.conv2d(x, w, padding=1), (IMG[0], torch.randn(3, 4, 3, 3)), 7),
    "convolution_grouped": (lambda x, w, b: aten.convolution(x, w, b, [1, 1], [1, 1], [1, 1], False, [0, 0], 2),
                            (IMG, torch.randn(6, 2, 3, 3), torch.randn(6)), 7),
    "convolution_transposed": (lambda x, w: aten.convolution(x, w, None, [2, 2], [1, 1], [1, 1], True, [1, 1], 1),
                               (IMG, torch.randn(4, 3, 3, 3)), 7),
    "max_pool_indices_unused": (lambda x: aten.max_pool2d_with_indices(x, [3, 3], [2, 2], [1, 1])[0], (IMG,), 7),
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
    "pixel_shuffle": (lambda x: F.pixel_shuffle(x, 2), (IMG,), (7, 10)),
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
    # the upsample overloads with output size and per-axis scales (interpolate gives the .vec ones)
    "upsample_nearest_scales": (lambda x: aten.upsample_nearest2d(x, [12, 12], 2.0, 2.0), (IMG,), 11),
    "upsample_nearest_size": (lambda x: aten.upsample_nearest3d(x, [3, 9, 4]), (IMG[None],), 11),
    "upsample_nearest_exact": (lambda x: aten._upsample_nearest_exact1d(x, [9]), (IMG[0],), 11),
    "upsample_bilinear_scales": (lambda x: aten.upsample_bilinear2d(x, [9, 9], False, 1.5, 1.5), (IMG,), 11),
    "upsample_linear_corners": (lambda x: aten.upsample_linear1d(x, [9], True), (IMG[0],), 11),
    "upsample_bicubic": (lambda x: aten.upsample_bicubic2d(x, [9, 7], False), (IMG,), 11),
    # GridSample from 16 (4-D), from 20 with 3-D grids too
    "grid_sample": (lambda x, g: F.grid_sample(x, g, align_corners=False), (IMG, torch.rand(2, 3, 3, 2) * 2 - 1),
                    (16, 19)),
    "grid_sample_nearest": (lambda x, g: F.grid_sample(x, g, mode="nearest", padding_mode="border",
                                                       align_corners=True), (IMG, torch.rand(2, 3, 3, 2) * 2 - 1),
                            (16, 19)),
    # inference-mode dropout (Dropout with a training_mode input from 12)
    "alpha_dropout": (lambda x: F.alpha_dropout(x, 0.5, training=False), (IMG,), 7),
    "feature_dropout": (lambda x: F.dropout2d(x, 0.5, training=False), (IMG,), 7),
    "native_dropout": (lambda x: aten.native_dropout(x, 0.5, False), (IMG,), (7, 11, 12)),
    # attention (Attention from 23)
    "sdpa_gqa": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True),
                 (torch.randn(2, 4, 3, 8), torch.randn(2, 2, 3, 8), torch.randn(2, 2, 3, 8)), (7, 22)),
    "sdpa_mask": (lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
                  (torch.randn(2, 2, 3, 8), torch.randn(2, 2, 5, 8), torch.randn(2, 2, 5, 8),
                   torch.rand(3, 5) > 0.3), (9, 17, 22)),
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
    # (NegativeLogLikelihoodLoss from 12)
    "nll": (lambda x, t: F.nll_loss(torch.log_softmax(x, 1), t, ignore_index=2), (LOGITS, TARGET), (7, 11)),
    "nll_weight_2d": (lambda x, t, w: F.nll_loss(x, t, w), (LOGITS_2D, TARGET_2D, W5), (7, 11)),
    "nll_forward": (lambda x, t: aten.nll_loss_forward(torch.log_softmax(x, 1), t, None, 1, 2), (LOGITS, TARGET), 7),
    "nll2d_forward_weight": (lambda x, t, w: aten.nll_loss2d_forward(x, t, w, 2, 0), (LOGITS_2D, TARGET_2D, W5), 7),
    "nll_forward_none": (lambda x, t, w: aten.nll_loss_forward(x, t, w, 0, -100), (LOGITS, TARGET, W5), 7),
    "nll_unbatched": (lambda x, t: F.nll_loss(x, t, reduction="none"), (LOGITS[0], TARGET[0]), 7),
    "cross_entropy": (lambda x, t: F.cross_entropy(x, t), (LOGITS, TARGET), 7),
    "cross_entropy_smooth": (lambda x, t, w: F.cross_entropy(x, t, w, ignore_index=0, label_smoothing=0.2),
                             (LOGITS_2D, TARGET_2D, W5), (7, 17)),
    "cross_entropy_probs": (lambda x, p: F.cross_entropy(x, p, label_smoothing=0.1), (LOGITS, PROBS), 7),
}


# Cases whose conversion disagrees with PyTorch: they run as strict xfails (a fix makes them fail
# until they are taken off this list), with the reason.
KNOWN_BROKEN: dict[str, str] = {}


def _params():
    for name, (_, _, opsets) in CASES.items():
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_BROKEN[name])] if name in KNOWN_BROKEN else []
        for opset in sorted({*(opsets if isinstance(opsets, tuple) else (opsets,)), NEWEST}):
            yield pytest.param(name, opset, id=f"{name}-{opset}", marks=marks)


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


@pytest.mark.parametrize("opset", [12, NEWEST])
def test_native_dropout_training_keeps_and_rescales(opset):
    """From opset 12 training-mode native_dropout is a real (random) Dropout: check what it returns
    against its own mask, since eager PyTorch draws another one."""
    p = 0.5
    x = torch.rand(64, 32) + 1.0
    _, (y, mask) = export_and_run(Fn(lambda x: aten.native_dropout(x, p, True)), (x,), opset=opset)
    assert mask.dtype == bool and 0.3 < mask.mean() < 0.7
    torch.testing.assert_close(torch.from_numpy(y), torch.where(torch.from_numpy(mask), x / (1 - p), 0.0))


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


@pytest.mark.parametrize("opset", [7, 13, 16])
def test_composed_layer_norm_is_the_form_onnxruntime_fuses(check, opset, tmp_path):
    # below 17 (no LayerNormalization op) onnxruntime fuses the composition into its own
    # LayerNormalization kernel only when the variance squares with Pow(., 2)
    import onnx
    import onnxruntime as ort

    torch.manual_seed(0)
    norm = torch.nn.LayerNorm(16).eval()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-1, 1)
    result = check(norm, (torch.randn(2, 5, 16),), opset=opset, atol=1e-5)
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "fused.onnx")
    ort.InferenceSession(result.model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    assert [n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node] == ["LayerNormalization"]

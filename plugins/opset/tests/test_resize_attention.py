"""Attention whose mask hides every key from a query, im2col (``F.unfold``), resizing before
opset 11 (Upsample at 7 and 9, Resize-10) and antialiased resizing (Resize-18).

Cases run at the lowest opset of the conversions they reach, at the boundary opsets listed
(the last opset a registration serves before a later one of the same key) and at ``NEWEST``,
as in test_nn.py.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from onnxplug.capture import FunctionModule as Fn
from onnxplug.errors import UnsupportedOperatorError
from onnxplug.testing import NEWEST_OPSET as NEWEST

aten = torch.ops.aten

torch.manual_seed(0)
Q, K, V = torch.randn(2, 4, 3, 8), torch.randn(2, 4, 5, 8), torch.randn(2, 4, 5, 8)
DEAD_ROW = torch.rand(3, 5) > 0.3  # query 1 may attend nowhere
DEAD_ROW[1] = False
DEAD_ROW[:, 0] |= torch.tensor([True, False, True])
FLOAT_DEAD_ROW = torch.randn(3, 5)
FLOAT_DEAD_ROW[2] = float("-inf")
IMG = torch.randn(2, 3, 5, 6)


def _sdpa(**kw):
    return lambda q, k, v, *m: F.scaled_dot_product_attention(q, k, v, *m, **kw)


# name: (fn, args, opsets); ``opsets`` is the lowest opset or a tuple with the boundaries too.
ATTENTION = {
    # a fully masked query gets zeros, as PyTorch's safe softmax gives (a Softmax alone: NaN);
    # a boolean mask is Log(Cast) below 9, Where from 9; the Attention op takes over at 23
    "sdpa_bool_mask_dead_row": (_sdpa(), (Q, K, V, DEAD_ROW), (7, 8, 9, 22)),
    "sdpa_float_mask_dead_row": (_sdpa(scale=0.3), (Q, K, V, FLOAT_DEAD_ROW), (7, 22)),
    "sdpa_gqa_mask_dead_row": (_sdpa(enable_gqa=True), (Q, K[:, :2], V[:, :2], DEAD_ROW), (7, 22)),
    "sdpa_3d_dead_row": (_sdpa(), (Q[0], K[0], V[0], DEAD_ROW), (7, 22, 23)),  # composed at 23 too
    "sdpa_causal_more_queries": (_sdpa(is_causal=True), (K, Q, Q), (7, 22)),
    "sdpa_causal_fewer_queries": (_sdpa(is_causal=True), (Q, K, V), (7, 22)),
}


@pytest.mark.parametrize("name,opset", [
    pytest.param(name, opset, id=f"{name}-{opset}")
    for name, (_, _, opsets) in ATTENTION.items()
    for opset in sorted({*(opsets if isinstance(opsets, tuple) else (opsets,)), NEWEST})])
def test_attention(check, name, opset):
    fn, args, _ = ATTENTION[name]
    check(Fn(fn), args, opset=opset, atol=1e-4)


E, HEADS = 8, 2
MHA_ARGS = (torch.randn(3, 2, E), torch.randn(5, 2, E), torch.randn(5, 2, E), torch.randn(3 * E, E),
            torch.randn(3 * E), torch.randn(E, E), torch.randn(E),
            torch.tensor([[False, False, True, True, False], [False, True, True, True, True]]))


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("opset", [9, 17, NEWEST])
def test_multi_head_attention_forward(check, opset, need_weights):
    """Training mode with dropout 0 is deterministic: the OpInfo samples that differ use dropout 0.5."""
    def mha(q, k, v, w_in, b_in, w_out, b_out, pad):
        return F.multi_head_attention_forward(q, k, v, E, HEADS, w_in, b_in, None, None, False, 0.0, w_out, b_out,
                                              training=True, key_padding_mask=pad, need_weights=need_weights)

    check(Fn(mha), MHA_ARGS, opset=opset, atol=1e-4)


# -- im2col --------------------------------------------------------------------------------------
IM2COL = {
    "empty_batch": (torch.randn(0, 1, 5, 5), dict(kernel_size=2)),
    "dilation_padding_stride": (IMG, dict(kernel_size=(2, 3), dilation=(1, 2), padding=(1, 2), stride=(2, 1))),
    "unbatched": (IMG[0], dict(kernel_size=(2, 3), dilation=2, padding=1, stride=2)),
    "whole_image": (IMG, dict(kernel_size=(5, 6))),
}


@pytest.mark.parametrize("opset", [7, NEWEST])
@pytest.mark.parametrize("name", list(IM2COL))
def test_im2col(check, name, opset):
    x, kw = IM2COL[name]
    result = check(Fn(lambda x: F.unfold(x, **kw)), (x,), opset=opset)
    assert not result.decomposed


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_im2col_dynamic_batch(check, opset):
    check(Fn(lambda x: F.unfold(x, 3, padding=1)), (IMG,), opset=opset, input_names=["x"],
          dynamic_axes={"x": {0: "n"}}, run_inputs=(torch.randn(5, 3, 5, 6),))


# -- resizing before opset 11 --------------------------------------------------------------------
# name: (fn, args, converted); ``converted`` False where PyTorch's decomposition must be exported
# (an Upsample/Resize-10 would give other values), else the opsets at which the ONNX op is used.
UPSAMPLE = {
    "nearest_x2": (lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), (IMG,), True),
    "nearest_x1.7": (lambda x: F.interpolate(x, scale_factor=1.7, mode="nearest"), (IMG,), True),
    "nearest_size_up": (lambda x: F.interpolate(x, size=(10, 13), mode="nearest"), (IMG,), True),
    "nearest_5_to_18": (lambda x: F.interpolate(x, size=18, mode="nearest"), (IMG[0],), True),
    "nearest_3d": (lambda x: F.interpolate(x, scale_factor=(2, 1, 3), mode="nearest"), (IMG[None],), True),
    "nearest_uint8": (lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), ((IMG * 9).to(torch.uint8),), True),
    "nearest_float64": (lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), (IMG.double(),), False),
    "nearest_halve": (lambda x: F.interpolate(x, scale_factor=0.5, mode="nearest"), (torch.randn(1, 2, 8, 6),),
                      "Resize-10 shrinks"),
    "nearest_shrink_uneven": (lambda x: F.interpolate(x, size=(9, 4), mode="nearest"), (IMG,), False),
    "upsample_nearest_scales": (lambda x: aten.upsample_nearest2d(x, [10, 12], 2.0, 2.0), (IMG,), True),
    "nearest_exact_x3": (lambda x: F.interpolate(x, scale_factor=3, mode="nearest-exact"), (IMG,), True),
    "nearest_exact_uneven": (lambda x: F.interpolate(x, size=(9, 4), mode="nearest-exact"), (IMG,), False),
    "upsample_nearest_exact": (lambda x: aten._upsample_nearest_exact1d(x, [12]), (IMG[0],), True),
    # linear qualifies only where it copies: from a single pixel, or sizes unchanged
    "bilinear_from_1x1": (lambda x: F.interpolate(x, size=(7, 9), mode="bilinear"), (torch.randn(2, 3, 1, 1),), True),
    "bilinear_corners_1xw": (lambda x: F.interpolate(x, size=(7, 6), mode="bilinear", align_corners=True),
                             (torch.randn(2, 3, 1, 6),), True),
    "trilinear_from_1": (lambda x: F.interpolate(x, scale_factor=(3, 1, 2), mode="trilinear"),
                         (torch.randn(1, 2, 1, 4, 1),), True),
    "upsample_linear_same_size": (lambda x: aten.upsample_linear1d(x, [6], True), (IMG[0],), True),
    "bilinear_x1.5": (lambda x: F.interpolate(x, scale_factor=1.5, mode="bilinear"), (IMG,), False),
    "bilinear_corners": (lambda x: F.interpolate(x, size=(7, 9), mode="bilinear", align_corners=True), (IMG,), False),
    "upsample_linear_scale": (lambda x: aten.upsample_linear1d(x, [8], False, 8.0), (IMG[0, :, :1],), False),
}


@pytest.mark.parametrize("opset", [7, 8, 9, 10])
@pytest.mark.parametrize("name", list(UPSAMPLE))
def test_upsample_before_11(check, name, opset):
    fn, args, converted = UPSAMPLE[name]
    result = check(Fn(fn), args, opset=opset, atol=1e-5)
    used = {n.op_type for n in result.model.graph.node} & {"Upsample", "Resize"}
    expected = {"Resize"} if opset == 10 else {"Upsample"}
    if converted is True or (converted == "Resize-10 shrinks" and opset == 10):
        assert used == expected and not result.decomposed
    else:
        assert not used and result.decomposed


@pytest.mark.parametrize("opset", [11, NEWEST])
@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "nearest"])
def test_resize_scale_below_its_size(check, mode, opset):
    """0.9 as float32 is 0.89999998: 20 * it floors to 17 for ONNX's shape inference, PyTorch gives
    18. The next float32 up is used for linear and cubic modes; nearest declines (that step could
    move a source index) and PyTorch's decomposition is exported."""
    result = check(Fn(lambda x: F.interpolate(x, scale_factor=(1.7, 0.9), mode=mode)), (torch.randn(1, 2, 10, 20),),
                   opset=opset, atol=1e-4)
    assert bool(result.decomposed) == (mode == "nearest")


@pytest.mark.parametrize("opset", [11, 13, NEWEST])
@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("size", [(1, 5), (7, 1), (1, 1), (121, 71)])
def test_resize_to_an_axis_of_one(check, mode, size, opset):
    """An output axis of size 1 samples the input's centre in PyTorch (align_corners=False);
    Resize's pytorch_half_pixel samples 0 there, so half_pixel is used (Keypoint R-CNN resizes
    its heatmaps bicubic to each box's size, and a box under a pixel gives 1)."""
    check(Fn(lambda x: F.interpolate(x, size=size, mode=mode, align_corners=False)),
          (torch.randn(2, 3, 12, 10),), opset=opset, atol=1e-4)


# -- antialiased resizing (Resize-18's antialias) ------------------------------------------------
AA_IMG = torch.randn(2, 3, 12, 10)
ANTIALIAS = {
    "bilinear_shrink": lambda x: F.interpolate(x, size=(5, 4), mode="bilinear", antialias=True),
    "bilinear_grow": lambda x: F.interpolate(x, size=(20, 17), mode="bilinear", antialias=True),
    "bilinear_mixed_scales": lambda x: F.interpolate(x, scale_factor=(0.37, 2.5), mode="bilinear", antialias=True),
    "bilinear_to_1x1": lambda x: F.interpolate(x, size=(1, 1), mode="bilinear", antialias=True),
    "bicubic_shrink": lambda x: F.interpolate(x, scale_factor=0.37, mode="bicubic", antialias=True),
    "bicubic_grow": lambda x: F.interpolate(x, size=(20, 17), mode="bicubic", antialias=True),
    "bilinear_aa_scales": lambda x: aten._upsample_bilinear2d_aa(x, [6, 4], False, 0.5, 0.4),
    "bicubic_aa_size": lambda x: aten._upsample_bicubic2d_aa(x, [6, 5], False),
}


@pytest.mark.parametrize("opset", [18, NEWEST])
@pytest.mark.parametrize("name", list(ANTIALIAS))
def test_antialias(check, name, opset):
    result = check(Fn(ANTIALIAS[name]), (AA_IMG,), opset=opset, rtol=1e-3, atol=1e-4)
    resize = [n for n in result.model.graph.node if n.op_type == "Resize"]
    assert len(resize) == 1 and any(a.name == "antialias" and a.i == 1 for a in resize[0].attribute)


AA_UNSUPPORTED = {
    # no antialias filter before Resize-18
    "before_18": (lambda x: F.interpolate(x, size=(5, 4), mode="bilinear", antialias=True), 17),
    # Resize's filter with align_corners is not PyTorch's
    "align_corners": (lambda x: F.interpolate(x, size=(5, 4), mode="bilinear", antialias=True, align_corners=True),
                      18),
    # PyTorch samples at the scales but outputs the given size; Resize takes one or the other
    "size_and_scales_disagree": (lambda x: aten._upsample_bilinear2d_aa(x, [3, 3], False, 1.7, 0.9), NEWEST),
}


@pytest.mark.parametrize("name", list(AA_UNSUPPORTED))
def test_antialias_unsupported(check, name):
    """These decline, and PyTorch has no decomposition of the antialiased ops to fall back on."""
    fn, opset = AA_UNSUPPORTED[name]
    with pytest.raises(UnsupportedOperatorError):
        check(Fn(fn), (AA_IMG,), opset=opset)


class Encoder(torch.nn.Module):
    """Attention with the mask transformers builds for an encoder called without one: every key
    visible (``arange(L) >= 0``), expanded to the dynamic batch; ``keep`` masks some keys."""

    def __init__(self, keep: int | None = None):
        super().__init__()
        self.keep = keep

    def forward(self, q, k, v):
        pos = torch.arange(k.shape[-2])
        visible = pos >= 0 if self.keep is None else pos < self.keep
        mask = visible[None, None, None, :].expand(q.shape[0], -1, q.shape[-2], -1)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


@pytest.mark.parametrize("opset", [9, 17, NEWEST])
@pytest.mark.parametrize("keep", [None, 3])
def test_a_mask_that_masks_nothing_is_dropped(check, opset, keep):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 2, 5, 8) for _ in range(3))
    result = check(Encoder(keep).eval(), (q, k, v), opset=opset, input_names=["q", "k", "v"],
                   dynamic_axes={n: {0: "batch"} for n in "qkv"},
                   run_inputs=tuple(torch.randn(3, 2, 5, 8) for _ in range(3)))
    ops = {n.op_type for n in result.model.graph.node}
    masked = bool(ops & {"Where", "Less", "Add"}) if opset < 23 else \
        len(next(n for n in result.model.graph.node if n.op_type == "Attention").input) > 3
    assert masked == (keep is not None)

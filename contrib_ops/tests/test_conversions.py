"""Each com.microsoft conversion and fusion: the fused node is there, and onnxruntime matches
eager PyTorch (rtol 1e-3, atol 1e-4), at the lowest opset it applies, around the opsets where
the standard domain changes, and at the newest."""

from __future__ import annotations

import collections

import onnx
import pytest
import torch

from onnxplug.testing import export_and_compare
from onnxplug.testing.cases import newest_opset
from onnxplug_contrib import cases as C

MS = "com.microsoft"
NEWEST = newest_opset()
OPSETS = [7, 13, 16, 17, NEWEST]


def export(model, args, opset, **kw):
    r = export_and_compare(model, args, opset=opset, custom_opsets={MS: 1}, rtol=1e-3, atol=1e-4, **kw)
    onnx.checker.check_model(r.model, full_check=True)
    if any(n.domain == MS for n in r.model.graph.node):
        assert {o.domain: o.version for o in r.model.opset_import}[MS] == 1
    return r


def ops(r):
    return collections.Counter((n.domain, n.op_type) for n in r.model.graph.node)


def fused(r, op_type):
    return [n for n in r.model.graph.node if n.domain == MS and n.op_type == op_type]


def x(*shape):
    return torch.randn(*shape)


# -- symbolic functions ------------------------------------------------------------------------------
@pytest.mark.parametrize("opset", [7, 13, 16])
def test_layer_norm_below_17_is_one_fused_node(opset):
    r = export(torch.nn.LayerNorm(16), (x(2, 5, 16),), opset)
    (node,) = fused(r, "SkipLayerNormalization")
    assert node.input[0] == node.input[1]  # the x + x form (epsilon times 4)
    assert ops(r)[("", "ReduceMean")] == 0
    assert r.served["aten::layer_norm.default"].startswith("contrib:")


@pytest.mark.parametrize("opset", [17, NEWEST])
def test_layer_norm_from_17_is_the_standard_op(opset):
    r = export(torch.nn.LayerNorm(16), (x(4, 16),), opset)
    assert ops(r) == {("", "LayerNormalization"): 1}


def test_layer_norm_of_4d_input_is_declined_and_still_correct():
    r = export(torch.nn.LayerNorm(8), (x(2, 3, 4, 8),), 13)
    assert not fused(r, "SkipLayerNormalization")


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("variant", ["plain", "bool_mask", "float_mask", "causal", "scale"])
def test_scaled_dot_product_attention_is_multi_head_attention(variant, opset):
    model = C.SelfAttention(causal=variant == "causal", scale=0.3 if variant == "scale" else None)
    mask = {"bool_mask": C.padding_mask(2, 8), "float_mask": torch.randn(2, 1, 8, 8)}.get(variant)
    args = (x(2, 8, 32),) if mask is None else (x(2, 8, 32), mask)
    r = export(model, args, opset)
    (mha,) = fused(r, "MultiHeadAttention")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in mha.attribute}
    assert attrs["num_heads"] == 4 and attrs["unidirectional"] == int(variant == "causal")
    assert attrs["scale"] == pytest.approx(0.3 if variant == "scale" else 1 / 8 ** 0.5)
    assert len(mha.input) < 4 or not mha.input[3], "biases stay with the projections (Gemm)"
    assert bool(len(mha.input) > 5 and mha.input[5]) == (mask is not None)
    # the head split/merge of the model cancels against the layout MultiHeadAttention takes
    assert ops(r)[("", "Transpose")] == 0 and ops(r)[("", "Softmax")] == 0


@pytest.mark.parametrize("opset", [7, 13, 17, NEWEST])
def test_causal_attention_with_fewer_key_value_heads_is_group_query_attention(opset):
    def f(q, k, v):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

    r = export(f, (x(2, 8, 6, 8), x(2, 2, 6, 8), x(2, 2, 6, 8)), opset)
    (node,) = fused(r, "GroupQueryAttention")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert attrs["num_heads"] == 8 and attrs["kv_num_heads"] == 2


@pytest.mark.parametrize("opset", [13, 17])
def test_grouped_attention_that_is_not_causal_is_declined_and_still_correct(opset):
    def f(q, k, v):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=True)

    r = export(f, (x(1, 4, 6, 8), x(1, 2, 6, 8), x(1, 2, 6, 8)), opset)
    assert not fused(r, "MultiHeadAttention") and not fused(r, "GroupQueryAttention")


@pytest.mark.parametrize("opset", [7, 13, NEWEST])
def test_inverse(opset):
    r = export(torch.linalg.inv, (x(3, 4, 4) + 4 * torch.eye(4),), opset)
    assert len(fused(r, "Inverse")) == 1


@pytest.mark.parametrize("opset", [7, 11, 15, 16, NEWEST])
@pytest.mark.parametrize("mode, padding, align", [("bilinear", "zeros", False), ("nearest", "border", True),
                                                  ("bicubic", "reflection", False)])
def test_grid_sample(mode, padding, align, opset):
    def f(inp, grid):
        return torch.nn.functional.grid_sample(inp, grid, mode=mode, padding_mode=padding,
                                               align_corners=align)

    r = export(f, (x(1, 3, 5, 5), torch.rand(1, 4, 4, 2) * 2.2 - 1.1), opset)
    (node,) = fused(r, "GridSample")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert attrs["mode"] == mode.encode() and attrs["padding_mode"] == padding.encode()


@pytest.mark.parametrize("opset", [7, 9, 13, NEWEST])
@pytest.mark.parametrize("fn", [lambda t: torch.triu(t, 1), lambda t: torch.tril(t),
                                lambda t: torch.tril(t, -2)])
def test_trilu(fn, opset):
    r = export(fn, (x(2, 4, 5),), opset)
    assert len(fused(r, "Trilu")) == 1


def test_trilu_of_bool_is_declined_and_still_correct():
    r = export(torch.tril, (x(4, 5) > 0,), 13)
    assert not fused(r, "Trilu")


# -- fusions -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("opset", [7, 13, 16, 17, NEWEST])
def test_skip_layer_norm_folds_the_residual_and_the_projection_bias(opset):
    r = export(C.ResidualLayerNorm(), (x(2, 5, 16), x(2, 5, 16)), opset)
    (node,) = fused(r, "SkipLayerNormalization")
    assert len(node.input) == 5 and node.input[4], "the projection's bias is the bias input"
    assert ops(r)[("", "Add")] == 0 and ops(r)[("", "LayerNormalization")] == 0


@pytest.mark.parametrize("opset", [13, 17])
def test_skip_layer_norm_gives_the_sum_back_to_its_other_users(opset):
    r = export(C.ResidualLayerNorm(keep_sum=True), (x(2, 5, 16), x(2, 5, 16)), opset)
    (node,) = fused(r, "SkipLayerNormalization")
    assert len(node.output) == 4 and node.output[3]
    assert any(node.output[3] in n.input for n in r.model.graph.node)


@pytest.mark.parametrize("opset", [7, 13, 17, NEWEST])
def test_rms_norm_is_simplified_layer_norm(opset):
    r = export(C.LlamaRMSNorm(), (x(2, 5, 16),), opset)
    (node,) = fused(r, "SkipSimplifiedLayerNormalization")
    assert node.input[0] == node.input[1]
    assert ops(r)[("", "ReduceMean")] == 0 and ops(r)[("", "Mul")] == 0


@pytest.mark.parametrize("opset", [7, 13, 17, NEWEST])
def test_residual_rms_norm_is_skip_simplified_layer_norm(opset):
    r = export(C.ResidualRMSNorm(), (x(2, 5, 16), x(2, 5, 16)), opset)
    (node,) = fused(r, "SkipSimplifiedLayerNormalization")
    assert node.input[0] != node.input[1] and node.output[3]
    assert ops(r)[("", "Add")] == 1  # h + 1 reads the fused node's sum output


@pytest.mark.parametrize("opset", [9, 13, 17, NEWEST])
@pytest.mark.parametrize("approximate, op_type", [("none", "BiasGelu"), ("tanh", "FastGelu")])
def test_bias_gelu(approximate, op_type, opset):
    r = export(C.BiasGelu(approximate=approximate), (x(2, 5, 16),), opset)
    (node,) = fused(r, op_type)
    assert len(node.input) == 2 and ops(r)[("", "Add")] == 0


@pytest.mark.parametrize("opset", [9, 13, NEWEST])
@pytest.mark.parametrize("fn, alpha", [(C.quick_gelu, 1.702), (C.silu, 1.0)])
def test_quick_gelu(fn, alpha, opset):
    r = export(fn, (x(2, 5, 16),), opset)
    (node,) = fused(r, "QuickGelu")
    assert node.attribute[0].f == pytest.approx(alpha)
    assert ops(r)[("", "Sigmoid")] == 0


@pytest.mark.parametrize("opset", [9, 13, NEWEST])
def test_fused_matmul_absorbs_transposes(opset):
    r = export(C.matmul_transposed, (x(2, 6, 6), x(2, 6, 6)), opset)
    nodes = fused(r, "FusedMatMul")
    flags = sorted(tuple(a.i for a in n.attribute if a.name in ("transA", "transB")) for n in nodes)
    assert flags == [(0, 1), (1, 0)] and ops(r)[("", "Transpose")] == 0


@pytest.mark.parametrize("opset", [9, 13, 17, NEWEST])
def test_rotary_embedding(opset):
    r = export(C.Rotary(), (x(1, 4, 6, 8), x(2, 2, 6, 8)), opset)
    assert len(fused(r, "RotaryEmbedding")) == 2
    assert ops(r)[("", "Concat")] == 0 and ops(r)[("", "Neg")] == 0


@pytest.mark.parametrize("opset", [9, 13, 17, NEWEST])
def test_decoder_attention_is_group_query_attention_with_rotary(opset):
    """repeat_kv + a constant causal mask + rotary: one GroupQueryAttention(do_rotary=1)."""
    r = export(C.DecoderAttention(), (x(2, 6, 64),), opset)
    (node,) = fused(r, "GroupQueryAttention")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert attrs["num_heads"] == 4 and attrs["kv_num_heads"] == 2 and attrs["do_rotary"] == 1
    assert ops(r) == {("", "MatMul"): 4, (MS, "GroupQueryAttention"): 1}


def test_decoder_attention_with_a_padding_mask_stays_multi_head_attention():
    class Padded(C.DecoderAttention):
        def forward(self, x, keep):
            b, s, d = x.shape
            q = self.q(x).view(b, s, self.heads, self.head).transpose(1, 2)
            k = self.k(x).view(b, s, self.kv_heads, self.head).transpose(1, 2)
            v = self.v(x).view(b, s, self.kv_heads, self.head).transpose(1, 2)
            mask = self.causal[None, None, :s, :s] & keep[:, None, None, :]
            out = torch.nn.functional.scaled_dot_product_attention(
                q, self.repeat_kv(k), self.repeat_kv(v), attn_mask=mask)
            return self.o(out.transpose(1, 2).reshape(b, s, d))

    keep = torch.ones(2, 6, dtype=torch.bool)
    keep[1, 4:] = False
    r = export(Padded(), (x(2, 6, 64), keep), 17)
    assert not fused(r, "GroupQueryAttention") and len(fused(r, "MultiHeadAttention")) == 1


def test_decoder_attention_with_head_size_8_rotates_outside_group_query_attention():
    r = export(C.DecoderAttention(d=32), (x(2, 6, 32),), 17)
    assert len(fused(r, "GroupQueryAttention")) == 1 and len(fused(r, "RotaryEmbedding")) == 2


# -- only on request ----------------------------------------------------------------------------------
@pytest.mark.parametrize("model, args", [
    (C.ResidualLayerNorm(), (x(2, 5, 16), x(2, 5, 16))),
    (C.LlamaRMSNorm(), (x(2, 5, 16),)),
    (C.SelfAttention(), (x(2, 8, 32),)),
    (C.matmul_transposed, (x(2, 6, 6), x(2, 6, 6))),
])
@pytest.mark.parametrize("opset", [13, 17])
def test_standard_domain_unless_asked(model, args, opset):
    r = export_and_compare(model, args, opset=opset)
    assert all(n.domain == "" for n in r.model.graph.node)
    assert MS not in {o.domain for o in r.model.opset_import}


def test_requested_domain_version_is_recorded():
    r = export_and_compare(C.ResidualLayerNorm(), (x(2, 5, 16), x(2, 5, 16)), opset=17,
                           custom_opsets={MS: 1})
    assert {o.domain: o.version for o in r.model.opset_import}[MS] == 1
    assert [n.op_type for n in r.model.graph.node] == ["MatMul", "SkipLayerNormalization"]

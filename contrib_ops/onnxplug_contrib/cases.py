"""Declared test cases of onnxplug-contrib (run by ``pytest --onnxplug-plugin contrib``).

Each case exports with ``custom_opsets={"com.microsoft": 1}``, expects the fused node, and is
compared with eager PyTorch in onnxruntime (rtol 1e-3, atol 1e-4). The small modules here are
also used by the plugin's own tests.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from onnxplug.testing import Nodes, OpCase

MS = "com.microsoft"
ON = {MS: 1}
TOL = dict(rtol=1e-3, atol=1e-4)


class ResidualLayerNorm(torch.nn.Module):
    """``layer_norm(x + proj(y))``: SkipLayerNormalization with the projection's bias folded in;
    ``keep_sum`` also returns the residual sum (the fused node's 4th output)."""

    def __init__(self, d: int = 16, keep_sum: bool = False):
        super().__init__()
        self.proj = torch.nn.Linear(d, d)
        self.norm = torch.nn.LayerNorm(d)
        torch.nn.init.normal_(self.norm.weight)
        torch.nn.init.normal_(self.norm.bias)
        self.keep_sum = keep_sum

    def forward(self, x, y):
        s = x + self.proj(y)
        out = self.norm(s)
        return (out, s * 2) if self.keep_sum else out


class LlamaRMSNorm(torch.nn.Module):
    """Llama's RMSNorm, written as transformers writes it (pow, mean, rsqrt, mul)."""

    def __init__(self, d: int = 16, eps: float = 1e-6):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(d))
        self.eps = eps

    def forward(self, x):
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.eps))


class ResidualRMSNorm(torch.nn.Module):
    """Pre-norm decoder residual: ``h = x + y; norm(h)``, and ``h`` used again after."""

    def __init__(self, d: int = 16):
        super().__init__()
        self.norm = LlamaRMSNorm(d)

    def forward(self, x, y):
        h = x + y
        return self.norm(h), h + 1


class BiasGelu(torch.nn.Module):
    def __init__(self, d: int = 16, approximate: str = "none"):
        super().__init__()
        self.proj = torch.nn.Linear(d, 4 * d)
        self.act = torch.nn.GELU(approximate=approximate)

    def forward(self, x):
        return self.act(self.proj(x))


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def silu(x):
    return F.silu(x)


def matmul_transposed(a, b):
    """``a^T @ b`` and ``a @ b^T`` on batched matrices."""
    return a.transpose(-1, -2) @ b, a @ b.transpose(-1, -2)


class SelfAttention(torch.nn.Module):
    """A transformer self-attention block as transformers writes it, around
    ``scaled_dot_product_attention`` (optionally with a mask or causal)."""

    def __init__(self, d: int = 32, heads: int = 4, causal: bool = False, scale: float | None = None):
        super().__init__()
        self.heads, self.causal, self.scale = heads, causal, scale
        self.q, self.k, self.v, self.o = (torch.nn.Linear(d, d) for _ in range(4))

    def split(self, t):
        b, s, d = t.shape
        return t.view(b, s, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x, mask=None):
        b, s, d = x.shape
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.causal,
                                             scale=self.scale)
        return self.o(out.transpose(1, 2).reshape(b, s, d))


class Rotary(torch.nn.Module):
    """Rotary position embedding of ``(B, N, S, H)`` queries and keys, as Llama applies it
    (``q * cos + rotate_half(q) * sin``, cos/sin of ``cat(freqs, freqs)`` at positions 0..S-1)."""

    def __init__(self, head: int = 8, base: float = 10000.0):
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / base ** (torch.arange(0, head, 2).float() / head),
                             persistent=False)

    @staticmethod
    def rotate_half(x):
        half = x.shape[-1] // 2
        return torch.cat((-x[..., half:], x[..., :half]), dim=-1)

    def forward(self, q, k):
        pos = torch.arange(q.shape[2], dtype=torch.float32)
        freqs = pos[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        return q * cos + self.rotate_half(q) * sin, k * cos + self.rotate_half(k) * sin


class DecoderAttention(torch.nn.Module):
    """Llama's attention as transformers writes it: rotary embeddings, key/value heads repeated
    to the query heads (unsqueeze, expand, reshape), a causal bool mask, ``scaled_dot_product_attention``."""

    def __init__(self, d: int = 64, heads: int = 4, kv_heads: int = 2):
        super().__init__()
        self.heads, self.kv_heads, self.head = heads, kv_heads, d // heads
        self.q = torch.nn.Linear(d, d, bias=False)
        self.k = torch.nn.Linear(d, kv_heads * self.head, bias=False)
        self.v = torch.nn.Linear(d, kv_heads * self.head, bias=False)
        self.o = torch.nn.Linear(d, d, bias=False)
        self.rotary = Rotary(self.head)
        self.register_buffer("causal", torch.ones(64, 64, dtype=torch.bool).tril(), persistent=False)

    def repeat_kv(self, t):
        b, n, s, h = t.shape
        rep = self.heads // self.kv_heads
        return t[:, :, None].expand(b, n, rep, s, h).reshape(b, n * rep, s, h)

    def forward(self, x):
        b, s, d = x.shape
        q = self.q(x).view(b, s, self.heads, self.head).transpose(1, 2)
        k = self.k(x).view(b, s, self.kv_heads, self.head).transpose(1, 2)
        v = self.v(x).view(b, s, self.kv_heads, self.head).transpose(1, 2)
        q, k = self.rotary(q, k)
        mask = self.causal[None, None, :s, :s]
        out = F.scaled_dot_product_attention(q, self.repeat_kv(k), self.repeat_kv(v), attn_mask=mask)
        return self.o(out.transpose(1, 2).reshape(b, s, d))


def gqa_causal(q, k, v):
    """Causal attention of 8 query heads over 2 key/value heads."""
    return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)


def padding_mask(batch: int, length: int, heads_dim: bool = True) -> torch.Tensor:
    """A bool key-padding mask (True attends) of shape ``(B, 1, L, L)``: the last keys padded."""
    keep = torch.ones(batch, length, dtype=torch.bool)
    keep[0, length - length // 4:] = False
    return keep[:, None, None, :].expand(batch, 1, length, length).clone()


def _x(*shape):
    return torch.randn(*shape)


def attention_samples(masked: str | None):
    def make():
        x = _x(2, 8, 32)
        if masked is None:
            return [(x,)]
        if masked == "bool":
            return [(x, padding_mask(2, 8))]
        return [(x, torch.randn(2, 1, 8, 8))]  # an additive float mask
    return make


def grid_sample(x, grid):
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _cases():
    yield from (OpCase(f"gelu_{a}", torch.nn.GELU(approximate=a),
                       [(_x(3, 8),), (_x(2, 4, 5) * 3,)], opsets=(9, None), custom_opsets=ON,
                       op="aten::gelu", expect=Nodes(t, domain=MS, count=1), **TOL)
                for a, t in (("none", "Gelu"), ("tanh", "FastGelu")))
    yield OpCase("bias_gelu", BiasGelu(), [(_x(2, 5, 16),)], opsets=(9, None), custom_opsets=ON,
                 expect=Nodes("BiasGelu", domain=MS, count=1), **TOL)
    yield OpCase("bias_fast_gelu", BiasGelu(approximate="tanh"), [(_x(2, 5, 16),)], opsets=(9, None),
                 custom_opsets=ON, expect=[Nodes("FastGelu", domain=MS, count=1), Nodes("Add", count=0)],
                 **TOL)
    yield OpCase("quick_gelu", quick_gelu, [(_x(2, 5, 16),)], opsets=(9, None), custom_opsets=ON,
                 expect=Nodes("QuickGelu", domain=MS, count=1), **TOL)
    yield OpCase("layer_norm", torch.nn.LayerNorm(16), [(_x(2, 5, 16),), (_x(4, 16),)],
                 opsets=(7, None), custom_opsets=ON, op="aten::layer_norm",
                 expect=[Nodes("SkipLayerNormalization", domain=MS, count=1, opsets=(7, 16)),
                         Nodes("LayerNormalization", count=1, opsets=(17, None))], **TOL)
    yield OpCase("skip_layer_norm", ResidualLayerNorm(), [(_x(2, 5, 16), _x(2, 5, 16))],
                 opsets=(7, None), custom_opsets=ON,
                 expect=[Nodes("SkipLayerNormalization", domain=MS, count=1), Nodes("Add", count=0)],
                 **TOL)
    yield OpCase("skip_layer_norm_sum", ResidualLayerNorm(keep_sum=True),
                 [(_x(2, 5, 16), _x(2, 5, 16))], opsets=(7, None), custom_opsets=ON,
                 expect=Nodes("SkipLayerNormalization", domain=MS, count=1), **TOL)
    yield OpCase("rms_norm", LlamaRMSNorm(), [(_x(2, 5, 16),)], opsets=(7, None), custom_opsets=ON,
                 expect=[Nodes("SkipSimplifiedLayerNormalization", domain=MS, count=1),
                         Nodes("ReduceMean", count=0)], **TOL)
    yield OpCase("skip_rms_norm", ResidualRMSNorm(), [(_x(2, 5, 16), _x(2, 5, 16))],
                 opsets=(7, None), custom_opsets=ON,
                 expect=[Nodes("SkipSimplifiedLayerNormalization", domain=MS, count=1),
                         Nodes("ReduceMean", count=0)], **TOL)
    yield OpCase("fused_matmul", matmul_transposed, [(_x(2, 6, 6), _x(2, 6, 6))], opsets=(9, None),
                 custom_opsets=ON, expect=[Nodes("FusedMatMul", domain=MS, count=2),
                                           Nodes("Transpose", count=0)], **TOL)
    for name, mod, masked in (("mha", SelfAttention(), None), ("mha_bool_mask", SelfAttention(), "bool"),
                              ("mha_float_mask", SelfAttention(), "float"),
                              ("mha_causal", SelfAttention(causal=True), None),
                              ("mha_scale", SelfAttention(scale=0.3), None)):
        yield OpCase(name, mod, attention_samples(masked), opsets=(7, None), custom_opsets=ON,
                     op="aten::scaled_dot_product_attention",
                     expect=[Nodes("MultiHeadAttention", domain=MS, count=1), Nodes("Transpose", count=0),
                             Nodes("Softmax", count=0)], **TOL)
    yield OpCase("group_query_attention", gqa_causal, [(_x(2, 8, 6, 8), _x(2, 2, 6, 8), _x(2, 2, 6, 8))],
                 opsets=(7, None), custom_opsets=ON, op="aten::scaled_dot_product_attention",
                 expect=Nodes("GroupQueryAttention", domain=MS, count=1), **TOL)
    yield OpCase("decoder_attention", DecoderAttention(), [(_x(2, 6, 64),)], opsets=(9, None),
                 custom_opsets=ON, expect=[Nodes("GroupQueryAttention", domain=MS, count=1),
                                           Nodes("RotaryEmbedding", domain=MS, count=0),
                                           Nodes("Transpose", count=0), Nodes("Expand", count=0)],
                 **TOL)
    yield OpCase("rotary_embedding", Rotary(), [(_x(1, 4, 6, 8), _x(1, 2, 6, 8))], opsets=(9, None),
                 custom_opsets=ON, expect=[Nodes("RotaryEmbedding", domain=MS, count=2),
                                           Nodes("Concat", count=0)], **TOL)
    yield OpCase("inverse", torch.linalg.inv, [(_x(3, 4, 4) + 4 * torch.eye(4),)], opsets=(7, None),
                 custom_opsets=ON, op="aten::linalg_inv", expect=Nodes("Inverse", domain=MS, count=1),
                 **TOL)
    yield OpCase("grid_sample", grid_sample, [(_x(1, 3, 5, 5), torch.rand(1, 4, 4, 2) * 2 - 1)],
                 opsets=(7, None), custom_opsets=ON, op="aten::grid_sampler_2d",
                 expect=Nodes("GridSample", domain=MS, count=1), **TOL)
    yield OpCase("triu", lambda x: torch.triu(x, 1), [(_x(4, 5),)], opsets=(7, None), custom_opsets=ON,
                 op="aten::triu", expect=Nodes("Trilu", domain=MS, count=1), **TOL)
    yield OpCase("tril", lambda x: torch.tril(x, -1), [(_x(2, 4, 5),)], opsets=(7, None),
                 custom_opsets=ON, op="aten::tril", expect=Nodes("Trilu", domain=MS, count=1), **TOL)


CASES = list(_cases())

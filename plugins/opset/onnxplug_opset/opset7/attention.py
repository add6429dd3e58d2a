"""Scaled dot-product attention composed from MatMul and Softmax (one Attention node: opset 23)."""

from __future__ import annotations

import math
import torch

from ..forms import expand, unsqueeze
from ..helpers import reshape, scalar
from ..forms import additive_mask
from ..nn_helpers import masked_softmax
from ..registration import op


def attention_composed(g, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                       enable_gqa=False):
    """softmax(q @ k^T * scale + mask) @ v, the definition PyTorch documents.

    A boolean mask is True where a query may attend; a query whose keys are all masked gets
    zeros (PyTorch's safe softmax), not the NaN a plain Softmax of -inf scores gives.
    """
    dt = g.dtype(q)
    rank = g.rank(q)
    e = g.shape(q)[-1]
    if scale is None:
        if not isinstance(e, int):
            raise NotImplementedError("attention with a dynamic head size and no scale")
        scale = 1.0 / math.sqrt(e)
    perm = list(range(rank))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    kt = g.op("Transpose", k, perm_is=perm)
    s = scalar(g, math.sqrt(scale), dt)  # scale q and k each by sqrt: as PyTorch's math kernel
    scores = g.op("MatMul", g.op("Mul", q, s), g.op("Mul", kt, s))
    if is_causal:
        lq, lk = g.shape(q)[-2], g.shape(k)[-2]
        if not (isinstance(lq, int) and isinstance(lk, int)):
            raise NotImplementedError("causal attention with dynamic sequence lengths")
        mask = torch.ones(lq, lk, dtype=torch.bool).tril(diagonal=0)
        bias = torch.zeros(lq, lk, dtype=dt).masked_fill(~mask, float("-inf"))
        scores = g.op("Add", scores, g.constant(bias))
    if attn_mask is None:  # (a causal mask always leaves a row its first key)
        weights = g.op("Softmax", scores, axis_i=rank - 1)
    else:  # a mask may hide every key from a query: PyTorch gives that query a zero output
        if g.dtype(attn_mask) == torch.bool:
            attn_mask = additive_mask(g, attn_mask, dt)
        scores = g.op("Add", scores, attn_mask)
        weights = masked_softmax(g, scores, rank - 1)
    return g.op("MatMul", weights, v)


def repeat_kv(g, kv, q):
    """Grouped-query attention: repeat each key/value head ``Hq / Hkv`` times (interleaved)."""
    hq, hkv = g.shape(q)[-3], g.shape(kv)[-3]
    if hq == hkv:
        return kv
    shape = g.static_shape(kv)
    if shape is None or not isinstance(hq, int):
        raise NotImplementedError("scaled_dot_product_attention with enable_gqa and dynamic shapes")
    *batch, h, l, e = shape
    rep = hq // h
    y = unsqueeze(g, kv, [len(batch) + 1])  # [..., H, 1, L, E]
    y = expand(g, y, batch + [h, rep, l, e])
    return g.set_type(reshape(g, y, batch + [h * rep, l, e]), shape=batch + [h * rep, l, e])


@op("aten::scaled_dot_product_attention")
def sdpa(g, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    if dropout_p:
        raise NotImplementedError("scaled_dot_product_attention with dropout")
    if enable_gqa:
        k, v = repeat_kv(g, k, q), repeat_kv(g, v, q)
    return attention_composed(g, q, k, v, live_mask(g, attn_mask), dropout_p, is_causal, scale)


def live_mask(g, attn_mask):
    """``attn_mask``, or None when it masks nothing: all True, or all 0.0 (transformers builds
    an encoder's "attend everywhere" mask even when the caller passes none)."""
    if attn_mask is None:
        return None
    nothing = True if g.dtype(attn_mask) == torch.bool else 0.0
    uniform = g.arg_uniform(3, "attn_mask")
    return None if uniform is not None and uniform == nothing and type(uniform) is type(nothing) else attn_mask

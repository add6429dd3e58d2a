"""Opset 23: one Attention node."""

from __future__ import annotations

from ..registration import op


@op("aten::scaled_dot_product_attention")
def sdpa(g, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    """One ``Attention`` node for 4-D inputs (it handles grouped heads and causal masks itself)."""
    from ..opset7.attention import live_mask, sdpa as composed

    attn_mask = live_mask(g, attn_mask)
    ranks = {g.rank(q), g.rank(k), g.rank(v)}
    if ranks != {4} or dropout_p or (attn_mask is not None and g.rank(attn_mask) not in (2, 3, 4)):
        return composed(g, q, k, v, attn_mask, dropout_p, is_causal, scale, enable_gqa)
    return g.op("Attention", q, k, v, attn_mask, is_causal_i=int(bool(is_causal)),
                scale_f=None if scale is None else float(scale))

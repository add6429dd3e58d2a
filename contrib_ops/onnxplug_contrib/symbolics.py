"""Conversions of ATen ops to onnxruntime's ``com.microsoft`` ops.

Each is registered with ``domain="com.microsoft"``, so the registry uses it only when the user
names that domain in ``custom_opsets`` (an op with no standard conversion at the target opset
takes it regardless). Custom-domain ops have no ONNX schema the core could read output types
from, so every ``g.op`` here declares ``dtype=``.

Two of onnxruntime's normalisations, ``LayerNormalization`` and ``SimplifiedLayerNormalization``,
are registered by onnxruntime in the *default* ONNX domain, where the ONNX checker rejects them
below opset 17 (and ``SimplifiedLayerNormalization`` at every opset). Their skip variants live in
``com.microsoft``, and ``SkipLayerNormalization(x, x, eps * 4)`` is exactly
``LayerNormalization(x, eps)``: doubling is exact in floating point, the mean doubles, the
variance and epsilon quadruple, and the factor 2 cancels. That form is what a layer norm becomes
before opset 17; the fusion passes (``fusions.py``) turn ``Add`` + norm into the real skip form.
"""

from __future__ import annotations

import math

import torch

import onnxplug
from onnxplug.graph import onnx_dtype

MS = "com.microsoft"


# -- activations ----------------------------------------------------------------------------------
@onnxplug.symbolic("aten::gelu", opset=7, domain=MS)
def gelu(g, x, approximate="none"):
    """onnxruntime's fused Gelu (exact) or FastGelu (tanh approximation)."""
    op_type = "FastGelu" if approximate == "tanh" else "Gelu"
    return g.op(f"{MS}::{op_type}", x, dtype=g.dtype(x))


# -- normalisations ------------------------------------------------------------------------------
def _norm_params(g, x, normalized_shape, weight, bias):
    rank = g.rank(x)
    if len(normalized_shape) != 1 or rank not in (2, 3):
        raise NotImplementedError(
            "com.microsoft SkipLayerNormalization normalises the last axis of a 2-D or 3-D input")
    dt = g.dtype(x)
    if weight is None:
        weight = g.constant(torch.ones(normalized_shape[0], dtype=dt))
    if bias is None:
        bias = g.constant(torch.zeros(normalized_shape[0], dtype=dt))
    return dt, weight, bias


@onnxplug.symbolic("aten::layer_norm", opset=7, domain=MS)
def layer_norm(g, x, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    """One fused node below opset 17: ``SkipLayerNormalization(x, x)`` with epsilon times 4.

    (See the module docstring for why that is exactly a layer norm.) Inputs of rank other than
    2 or 3, or norms over several axes, are declined and decomposed as usual.
    """
    dt, weight, bias = _norm_params(g, x, normalized_shape, weight, bias)
    return g.op(f"{MS}::SkipLayerNormalization", x, x, weight, bias, epsilon_f=4.0 * eps, dtype=dt)


@onnxplug.symbolic("aten::layer_norm", opset=17, domain=MS)
def layer_norm_17(g, x, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    """From opset 17 the standard ``LayerNormalization`` is onnxruntime's own kernel: use it.

    Registered here so that the opset-7 form above stops at 16; ``Add`` + ``LayerNormalization``
    still becomes ``SkipLayerNormalization`` in the fusion passes.
    """
    axis = g.rank(x) - len(normalized_shape)
    return g.op("LayerNormalization", x, weight, bias, axis_i=axis, epsilon_f=float(eps),
                dtype=g.dtype(x))


# -- attention ------------------------------------------------------------------------------------
def unsqueeze(g, x, axes):
    """``Unsqueeze``: axes as an attribute before opset 13, as an input from 13."""
    if g.opset >= 13:
        return g.op("Unsqueeze", x, g.constant(list(axes)), dtype=g.dtype(x))
    return g.op("Unsqueeze", x, axes_is=list(axes), dtype=g.dtype(x))


def _to_heads_last(g, x, n, h):
    """``(B, N, S, H)`` -> ``(B, S, N*H)``, the layout MultiHeadAttention takes."""
    b, _, s, _ = g.shape(x)
    t = g.set_type(g.op("Transpose", x, perm_is=[0, 2, 1, 3], dtype=g.dtype(x)), shape=[b, s, n, h])
    return g.set_type(g.op("Reshape", t, g.constant([0, 0, n * h]), dtype=g.dtype(x)),
                      shape=[b, s, n * h])


def _fx_arg_shape(g, index: int):
    """The shape PyTorch recorded for argument ``index`` of the op being converted."""
    node = g.fx_node
    arg = node.args[index] if node is not None and index < len(node.args) else None
    val = getattr(arg, "meta", {}).get("val")
    if not isinstance(val, torch.Tensor):
        return None
    return tuple(int(d) if str(d).isdigit() else str(d) for d in val.shape)


def _attention_bias(g, mask, mask_shape, dt, q_len, k_len):
    """PyTorch's mask (bool: True attends; float: added) as a 4-D additive bias for onnxruntime.

    onnxruntime broadcasts the bias over batch and heads only, so a mask that broadcasts over
    queries or keys is expanded. A bool mask becomes 0 / the dtype's lowest value (finite, so a
    fully masked query does not turn into NaN).
    """
    if g.dtype(mask) == torch.bool:
        as_float = g.op("Cast", mask, to_i=int(onnx_dtype(dt)), dtype=dt)
        lowest = torch.finfo(dt).min
        mask = g.op("Mul", g.op("Sub", as_float, g.constant(1.0, dtype=dt), dtype=dt),
                    g.constant(-lowest, dtype=dt), dtype=dt)
    elif g.dtype(mask) != dt:
        mask = g.op("Cast", mask, to_i=int(onnx_dtype(dt)), dtype=dt)
    shape = list(mask_shape)
    if len(shape) < 4:
        mask = unsqueeze(g, mask, list(range(4 - len(shape))))
        shape = [1] * (4 - len(shape)) + shape
    if shape[2] != q_len or shape[3] != k_len:
        if not (isinstance(q_len, int) and isinstance(k_len, int)):
            raise NotImplementedError("an attention mask broadcast over dynamic sequence lengths")
        mask = g.op("Expand", mask, g.constant([1, 1, q_len, k_len]), dtype=dt)
    return mask


def _heads_back(g, out, b, s, n, hv, dt):
    """``(B, S, N*Hv)`` -> ``(B, N, S, Hv)``, the layout PyTorch's attention returns."""
    g.set_type(out, shape=[b, s, n * hv])
    split = g.set_type(g.op("Reshape", out, g.constant([0, 0, n, hv]), dtype=dt), shape=[b, s, n, hv])
    return g.op("Transpose", split, perm_is=[0, 2, 1, 3], dtype=dt)


def _scale(scale, h) -> float:
    return float(scale if scale is not None else 1.0 / math.sqrt(h))


def _group_query_attention(g, q, k, v, shapes, scale):
    """Causal attention with fewer key/value heads: ``GroupQueryAttention`` without a cache.

    onnxruntime's kernel is causal by construction and reads the sequence lengths from
    ``seqlens_k`` (each ``S - 1``) and ``total_sequence_length`` (``S``); both are constants, so
    batch and sequence length must be static.
    """
    (b, n, s, h), (_, nk, length, hk), (_, _, _, hv) = shapes
    if not all(isinstance(d, int) for d in (b, s, length)) or s != length or h != hk or h != hv:
        raise NotImplementedError("GroupQueryAttention needs static, equal query and key lengths")
    dt = g.dtype(q)
    seqlens = g.constant(torch.full((b,), s - 1, dtype=torch.int32))
    total = g.constant(torch.tensor(s, dtype=torch.int32))
    out, _, _ = g.op(f"{MS}::GroupQueryAttention", _to_heads_last(g, q, n, h), _to_heads_last(g, k, nk, h),
                     _to_heads_last(g, v, nk, h), None, None, seqlens, total, outputs=3, num_heads_i=n,
                     kv_num_heads_i=nk, scale_f=_scale(scale, h), dtype=dt)
    return _heads_back(g, out, b, s, n, h, dt)


@onnxplug.symbolic("aten::scaled_dot_product_attention", opset=7, domain=MS)
def sdpa(g, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    """``MultiHeadAttention`` over ``(B, N, S, H)`` query, key and value; with fewer key/value
    heads (``enable_gqa``) and ``is_causal``, ``GroupQueryAttention``.

    The inputs are laid out as ``(B, S, N*H)`` for onnxruntime and the result laid back out; the
    cleanup pass cancels those transposes and reshapes against the ones the model made to split
    the heads. Declined (and decomposed as usual): dropout, inputs that are not 4-D, a dynamic
    head count or head size, fewer key/value heads without ``is_causal`` or with a mask, and
    causal attention with different query and key lengths (onnxruntime aligns the causal mask
    differently).
    """
    if dropout_p:
        raise NotImplementedError("attention with dropout")
    shapes = [g.shape(t) for t in (q, k, v)]
    if any(s is None or len(s) != 4 for s in shapes):
        raise NotImplementedError("com.microsoft MultiHeadAttention takes 4-D query, key, value")
    (b, n, s, h), (_, nk, length, hk), (_, nv, _, hv) = shapes
    if not all(isinstance(d, int) for d in (n, h, nk, nv, hk, hv)) or nk != nv:
        raise NotImplementedError("attention with dynamic or unequal head counts")
    if is_causal and s != length:
        raise NotImplementedError("causal attention with different query and key lengths")
    if nk != n:
        if not (enable_gqa and is_causal and attn_mask is None and n % nk == 0):
            raise NotImplementedError("grouped-query attention that is not causal, or with a mask")
        return _group_query_attention(g, q, k, v, shapes, scale)
    dt = g.dtype(q)
    bias = None
    if attn_mask is not None:
        mask_shape = g.shape(attn_mask) or _fx_arg_shape(g, 3)
        if mask_shape is None:
            raise NotImplementedError("an attention mask of unknown rank")
        bias = _attention_bias(g, attn_mask, mask_shape, dt, s, length)
    out = g.op(f"{MS}::MultiHeadAttention", _to_heads_last(g, q, n, h), _to_heads_last(g, k, n, hk),
               _to_heads_last(g, v, n, hv), None, None, bias, num_heads_i=n,
               scale_f=_scale(scale, h), unidirectional_i=int(bool(is_causal)), dtype=dt)
    return _heads_back(g, out, b, s, n, hv, dt)


# -- ops the standard domain gets only at later opsets ----------------------------------------------
@onnxplug.symbolic("aten::linalg_inv", opset=7, domain=MS)
def linalg_inv(g, x):
    """``Inverse`` of a (batch of) square matrices."""
    return g.op(f"{MS}::Inverse", x, dtype=g.dtype(x))


_MODES = {0: "bilinear", 1: "nearest", 2: "bicubic"}
_PADDING = {0: "zeros", 1: "border", 2: "reflection"}


@onnxplug.symbolic(["aten::grid_sampler", "aten::grid_sampler_2d"], opset=7, domain=MS)
def grid_sampler_2d(g, x, grid, interpolation_mode, padding_mode, align_corners):
    """onnxruntime's ``GridSample`` on 4-D inputs (5-D ones are declined).

    The standard ``GridSample`` exists only from opset 16; this is the same onnxruntime kernel,
    so it serves every opset once the domain is named.
    """
    if g.rank(x) != 4:
        raise NotImplementedError("com.microsoft GridSample takes 4-D inputs")
    return g.op(f"{MS}::GridSample", x, grid, mode_s=_MODES[interpolation_mode],
                padding_mode_s=_PADDING[padding_mode], align_corners_i=int(bool(align_corners)),
                dtype=g.dtype(x))


_TRILU_DTYPES = (torch.float32, torch.float64, torch.int64)  # onnxruntime's com.microsoft kernels


def _trilu(g, x, diagonal, upper):
    if g.dtype(x) not in _TRILU_DTYPES:
        raise NotImplementedError(f"com.microsoft Trilu has no onnxruntime kernel for {g.dtype(x)}")
    return g.op(f"{MS}::Trilu", x, g.constant(int(diagonal)), upper_i=upper, dtype=g.dtype(x))


@onnxplug.symbolic("aten::triu", opset=7, domain=MS)
def triu(g, x, diagonal=0):
    """``Trilu(upper=1)``: the standard ``Trilu`` exists only from opset 14 (the same kernel)."""
    return _trilu(g, x, diagonal, 1)


@onnxplug.symbolic("aten::tril", opset=7, domain=MS)
def tril(g, x, diagonal=0):
    """``Trilu(upper=0)``: the standard ``Trilu`` exists only from opset 14 (the same kernel)."""
    return _trilu(g, x, diagonal, 0)


ALL = [gelu, layer_norm, layer_norm_17, sdpa, linalg_inv, grid_sampler_2d, triu, tril]

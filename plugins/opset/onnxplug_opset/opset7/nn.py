"""Neural-network layers (linear, conv, norms, pools, dropout, embedding, attention), opset 7."""

from __future__ import annotations

import math

import torch

from ..helpers import (cast, dim_size, norm_dim, reduce, reshape, scalar, transpose, unsqueeze)
from ..registration import op


def matmul_weight_t(g, w):
    """``w.T`` for a MatMul: a transposed initializer when ``w`` is constant, else Transpose."""
    const = g.const_value(w)
    if const is not None and const.dim() == 2:
        return g.initializer(const.t().contiguous(), name=f"{w.name}_T")
    return transpose(g, w, [1, 0])


@op("aten::linear")
def linear(g, x, weight, bias=None):
    dt = g.dtype(x)
    if g.rank(x) == 2:
        if bias is None:
            return g.op("Gemm", x, weight, transB_i=1, dtype=dt)
        return g.op("Gemm", x, weight, bias, transB_i=1, dtype=dt)
    y = g.op("MatMul", x, matmul_weight_t(g, weight), dtype=dt)
    return y if bias is None else g.op("Add", y, bias, dtype=dt)


@op("aten::matmul", "aten::mm", "aten::bmm")
def matmul(g, x, y):
    return g.op("MatMul", x, y, dtype=g.out_dtype())


@op("aten::addmm")
def addmm(g, bias, x, y, beta=1, alpha=1):
    return g.op("Gemm", x, y, bias, alpha_f=float(alpha), beta_f=float(beta), dtype=g.out_dtype())


def _pair(v, n):
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return v * n if len(v) == 1 else v


def conv(g, x, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    n = g.rank(weight) - 2
    kernel = list(g.shape(weight)[2:])
    attrs = dict(kernel_shape_is=kernel, strides_is=_pair(stride, n), dilations_is=_pair(dilation, n),
                 group_i=groups)
    if isinstance(padding, str):
        if padding == "valid":
            attrs["pads_is"] = [0] * (2 * n)
        else:  # "same": torch pads the extra element at the end, like SAME_UPPER
            total = [d * (k - 1) for d, k in zip(_pair(dilation, n), kernel)]
            attrs["pads_is"] = [t // 2 for t in total] + [t - t // 2 for t in total]
    else:
        p = _pair(padding, n)
        attrs["pads_is"] = p + p
    op_type = "ConvTranspose" if transposed else "Conv"
    if transposed and any(_pair(output_padding, n)):
        attrs["output_padding_is"] = _pair(output_padding, n)
    inputs = [x, weight] + ([bias] if bias is not None else [])
    return g.op(op_type, *inputs, dtype=g.dtype(x), **attrs)


@op("aten::convolution")
def convolution(g, x, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    return conv(g, x, weight, bias, stride, padding, dilation, transposed, output_padding, groups)


@op("aten::conv1d", "aten::conv2d", "aten::conv3d", "aten::conv1d.padding", "aten::conv2d.padding",
    "aten::conv3d.padding")
def conv_nd(g, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return conv(g, x, weight, bias, stride, padding, dilation, False, 0, groups)


@op("aten::conv_transpose1d", "aten::conv_transpose2d.input", "aten::conv_transpose3d.input")
def conv_transpose_nd(g, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return conv(g, x, weight, bias, stride, padding, dilation, True, output_padding, groups)


def _bn_params(g, x, weight, bias):
    c = g.shape(x)[1]
    dt = g.dtype(x)
    if weight is None:
        weight = g.constant(torch.ones(c, dtype=dt))
    if bias is None:
        bias = g.constant(torch.zeros(c, dtype=dt))
    return weight, bias


def batch_norm_inference(g, x, weight, bias, mean, var, eps):
    weight, bias = _bn_params(g, x, weight, bias)
    rank = g.rank(x)
    y_in = x if rank != 2 else unsqueeze(g, x, [2])
    y = g.op("BatchNormalization", y_in, weight, bias, mean, var, epsilon_f=eps, dtype=g.dtype(x))
    return y if rank != 2 else reshape(g, y, [0, -1])


def batch_norm_training(g, x, weight, bias, eps):
    """Normalise with the batch's own statistics (training mode), as a composition."""
    rank, dt = g.rank(x), g.dtype(x)
    axes = [0] + list(range(2, rank))
    weight, bias = _bn_params(g, x, weight, bias)
    mean = reduce(g, "ReduceMean", x, axes, True)
    centered = g.op("Sub", x, mean, dtype=dt)
    var = reduce(g, "ReduceMean", g.op("Mul", centered, centered, dtype=dt), axes, True)
    inv = g.op("Reciprocal", g.op("Sqrt", g.op("Add", var, scalar(g, eps, dt), dtype=dt), dtype=dt), dtype=dt)
    shape = [1, -1] + [1] * (rank - 2)
    w = reshape(g, weight, shape)
    b = reshape(g, bias, shape)
    return g.op("Add", g.op("Mul", g.op("Mul", centered, inv, dtype=dt), w, dtype=dt), b, dtype=dt)


@op("aten::batch_norm")
def batch_norm(g, x, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled):
    if training or running_mean is None:
        return batch_norm_training(g, x, weight, bias, eps)
    return batch_norm_inference(g, x, weight, bias, running_mean, running_var, eps)


@op("aten::_native_batch_norm_legit_no_training")
def native_bn_no_training(g, x, weight, bias, running_mean, running_var, momentum, eps):
    return batch_norm_inference(g, x, weight, bias, running_mean, running_var, eps), None, None


@op("aten::_native_batch_norm_legit_functional", "aten::_native_batch_norm_legit")
def native_bn_training(g, x, weight, bias, running_mean, running_var, training, momentum, eps):
    if not training:
        return batch_norm_inference(g, x, weight, bias, running_mean, running_var, eps), None, None
    return batch_norm_training(g, x, weight, bias, eps), None, None, None, None


def pool_pads(padding, n):
    p = _pair(padding, n)
    return p + p


@op("aten::max_pool1d", "aten::max_pool2d", "aten::max_pool3d")
def max_pool(g, x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    n = g.rank(x) - 2
    k = _pair(kernel_size, n)
    s = _pair(stride, n) if stride else k
    attrs = dict(kernel_shape_is=k, strides_is=s, pads_is=pool_pads(padding, n))
    if any(d != 1 for d in _pair(dilation, n)):
        if g.opset < 10:
            raise NotImplementedError("dilated max pooling needs opset >= 10")
        attrs["dilations_is"] = _pair(dilation, n)
    if ceil_mode:
        if g.opset < 10:
            raise NotImplementedError("max pooling with ceil_mode needs opset >= 10")
        attrs["ceil_mode_i"] = 1
    return g.op("MaxPool", x, dtype=g.dtype(x), **attrs)


@op("aten::max_pool2d_with_indices", "aten::max_pool1d_with_indices", "aten::max_pool3d_with_indices")
def max_pool_with_indices(g, x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    if g.fx_node is not None and len(g.fx_node.users) and all(
            u.args[1] == 0 for u in g.fx_node.users if u.target.__name__ == "getitem"):
        return max_pool(g, x, kernel_size, stride, padding, dilation, ceil_mode), None
    raise NotImplementedError("max pooling indices are converted from opset 8 on")


@op("aten::avg_pool1d", "aten::avg_pool2d", "aten::avg_pool3d")
def avg_pool(g, x, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
             divisor_override=None):
    if divisor_override is not None:
        raise NotImplementedError("avg_pool with divisor_override")
    n = g.rank(x) - 2
    k = _pair(kernel_size, n)
    s = _pair(stride, n) if stride else k
    attrs = dict(kernel_shape_is=k, strides_is=s, pads_is=pool_pads(padding, n),
                 count_include_pad_i=int(count_include_pad))
    if ceil_mode:
        if g.opset < 10:
            raise NotImplementedError("average pooling with ceil_mode needs opset >= 10")
        attrs["ceil_mode_i"] = 1
    return g.op("AveragePool", x, dtype=g.dtype(x), **attrs)


@op("aten::adaptive_avg_pool1d", "aten::adaptive_avg_pool2d", "aten::_adaptive_avg_pool2d",
    "aten::adaptive_avg_pool3d", "aten::_adaptive_avg_pool3d")
def adaptive_avg_pool(g, x, output_size):
    n = g.rank(x) - 2
    out = _pair(output_size, n)
    if all(o == 1 for o in out):
        return g.op("GlobalAveragePool", x, dtype=g.dtype(x))
    size = g.shape(x)[2:]
    if not all(isinstance(s, int) and s % o == 0 for s, o in zip(size, out)):
        raise NotImplementedError("adaptive pooling to a size that does not divide the input")
    k = [s // o for s, o in zip(size, out)]
    return g.op("AveragePool", x, kernel_shape_is=k, strides_is=k, dtype=g.dtype(x))


@op("aten::dropout", "aten::feature_dropout", "aten::alpha_dropout")
def dropout(g, x, p, train):
    if not train or p == 0:
        return x
    return g.op("Dropout", x, ratio_f=float(p), dtype=g.dtype(x))


@op("aten::native_dropout")
def native_dropout(g, x, p, train):
    if not train or p == 0:
        return x, None
    return g.op("Dropout", x, ratio_f=float(p), dtype=g.dtype(x)), None


def layer_norm_composed(g, x, normalized_shape, weight, bias, eps):
    dt = g.dtype(x)
    rank = g.rank(x)
    axes = list(range(rank - len(normalized_shape), rank))
    mean = reduce(g, "ReduceMean", x, axes, True)
    centered = g.op("Sub", x, mean, dtype=dt)
    var = reduce(g, "ReduceMean", g.op("Mul", centered, centered, dtype=dt), axes, True)
    std = g.op("Sqrt", g.op("Add", var, scalar(g, eps, dt), dtype=dt), dtype=dt)
    y = g.op("Div", centered, std, dtype=dt)
    if weight is not None:
        y = g.op("Mul", y, weight, dtype=dt)
    if bias is not None:
        y = g.op("Add", y, bias, dtype=dt)
    return y, mean, std


@op("aten::layer_norm")
def layer_norm(g, x, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    return layer_norm_composed(g, x, normalized_shape, weight, bias, eps)[0]


@op("aten::native_layer_norm")
def native_layer_norm(g, x, normalized_shape, weight, bias, eps):
    y, mean, std = layer_norm_composed(g, x, normalized_shape, weight, bias, eps)
    dt = g.dtype(x)
    return y, mean, g.op("Reciprocal", std, dtype=dt)


@op("aten::embedding")
def embedding(g, weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    return g.op("Gather", weight, cast(g, indices, torch.int64), axis_i=0, dtype=g.dtype(weight))


def attention_composed(g, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                       enable_gqa=False):
    """softmax(q @ k^T * scale + mask) @ v, the definition PyTorch documents."""
    dt = g.dtype(q)
    rank = g.rank(q)
    e = g.shape(q)[-1]
    if scale is None:
        if not isinstance(e, int):
            raise NotImplementedError("attention with a dynamic head size and no scale")
        scale = 1.0 / math.sqrt(e)
    perm = list(range(rank))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    kt = g.op("Transpose", k, perm_is=perm, dtype=dt)
    s = scalar(g, math.sqrt(scale), dt)  # scale q and k each by sqrt: as PyTorch's math kernel
    scores = g.op("MatMul", g.op("Mul", q, s, dtype=dt), g.op("Mul", kt, s, dtype=dt), dtype=dt)
    if is_causal:
        lq, lk = g.shape(q)[-2], g.shape(k)[-2]
        if not (isinstance(lq, int) and isinstance(lk, int)):
            raise NotImplementedError("causal attention with dynamic sequence lengths")
        mask = torch.ones(lq, lk, dtype=torch.bool).tril(diagonal=0)
        bias = torch.zeros(lq, lk, dtype=dt).masked_fill(~mask, float("-inf"))
        scores = g.op("Add", scores, g.constant(bias), dtype=dt)
    if attn_mask is not None:
        if g.dtype(attn_mask) == torch.bool:
            zero, ninf = scalar(g, 0.0, dt), scalar(g, float("-inf"), dt)
            attn_mask = g.op("Where", attn_mask, zero, ninf, dtype=dt)
        scores = g.op("Add", scores, attn_mask, dtype=dt)
    weights = g.op("Softmax", scores, axis_i=rank - 1, dtype=dt)
    return g.op("MatMul", weights, v, dtype=dt)


@op("aten::scaled_dot_product_attention")
def sdpa(g, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention with enable_gqa")
    return attention_composed(g, q, k, v, attn_mask, dropout_p, is_causal, scale)

"""Neural-network layers (linear, conv, norms, pools, resampling, losses, attention), as of opset 7."""

from __future__ import annotations

import math

import torch

from ..helpers import (cast, clip, dim_size, expand, is_float, reduce, reshape, scalar, shape_of, slice_, squeeze,
                       transpose, unsqueeze)
from ..nn_helpers import (additive_mask, count, eq_scalar, float_compute, log_softmax_axis1, masked_softmax,
                          mean_or_sum, nll_loss_node, relu_, upsample_conversions, upsample_scales, variance, vector_norm)
from ..nn_helpers import int_avg_pool, int_conv, int_max_pool, int_max_pool_with_indices
from ..nn_helpers import matmul as matmul_op
from ..registration import op
from ..shape_helpers import where


def matmul_weight_t(g, w):
    """``w.T`` for a MatMul: a transposed initializer when ``w`` is constant, else Transpose."""
    const = g.const_value(w)
    if const is not None and const.dim() == 2:
        return g.initializer(const.t().contiguous(), name=f"{w.name}_T")
    return transpose(g, w, [1, 0])


def gemm_dtype(dt: torch.dtype) -> bool:
    """Whether onnxruntime has a Gemm kernel for ``dt`` (it has none for integers)."""
    return dt in (torch.float16, torch.float32, torch.float64)


@op("aten::linear")
def linear(g, x, weight, bias=None):
    """``x @ weight.T + bias``: Gemm for a 2-D float input (without a bias only from opset 11,
    where Gemm's C became optional), else MatMul (integers: see ``nn_helpers.matmul``) and Add."""
    dt = g.dtype(x)
    if g.rank(x) == 2 and gemm_dtype(dt) and (bias is not None or g.opset >= 11):
        if bias is None:
            return g.op("Gemm", x, weight, transB_i=1)
        return g.op("Gemm", x, weight, bias, transB_i=1)
    y = matmul_op(g, x, matmul_weight_t(g, weight), dt)
    return y if bias is None else g.op("Add", y, cast(g, bias, dt))


@op("aten::matmul", "aten::mm", "aten::bmm")
def matmul(g, x, y):
    return matmul_op(g, x, y, g.out_dtype())


@op("aten::addmm")
def addmm(g, bias, x, y, beta=1, alpha=1):
    """``beta * bias + alpha * (x @ y)``: Gemm for floats; integers (no Gemm kernel) compose it."""
    dt = g.out_dtype()
    if gemm_dtype(dt):
        return g.op("Gemm", x, y, bias, alpha_f=float(alpha), beta_f=float(beta))
    from .linalg import _add_scaled

    return _add_scaled(g, bias, matmul_op(g, x, y, dt), beta, alpha)


def _pair(v, n):
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return v * n if len(v) == 1 else v


def conv(g, x, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    n = g.rank(weight) - 2
    if g.rank(x) == n + 1:  # an unbatched input: add the batch axis and drop it after
        y = conv(g, unsqueeze(g, x, [0]), weight, bias, stride, padding, dilation, transposed,
                 output_padding, groups)
        return squeeze(g, y, [0])
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
    out_pad = _pair(output_padding, n) if transposed else [0] * n
    dt = g.dtype(x)
    if not is_float(dt):  # ONNX's Conv is float-only: gathered windows and an int64 MatMul
        return int_conv(g, x, weight, bias, _pair(stride, n), attrs["pads_is"], _pair(dilation, n), transposed,
                        out_pad, groups, dt)
    if any(o >= s for o, s in zip(out_pad, _pair(stride, n))):
        return conv_transpose_wide_output_padding(g, x, weight, bias, attrs, out_pad, n)
    if any(out_pad):
        attrs["output_padding_is"] = out_pad
    inputs = [x, weight] + ([bias] if bias is not None else [])
    return g.op(op_type, *inputs, **attrs)


def conv_transpose_wide_output_padding(g, x, weight, bias, attrs, out_pad, n):
    """ConvTranspose whose output_padding reaches the stride (PyTorch allows it up to the dilation).

    onnxruntime rejects that; the same output is cropped less at the end (fewer end pads), and
    where even no crop is not enough, zeros are appended: no input reaches those positions, so
    they hold only the bias, added after.
    """
    pads = list(attrs["pads_is"])
    extra = []
    for i in range(n):
        end = pads[n + i] - out_pad[i]
        pads[n + i] = max(end, 0)
        extra.append(max(-end, 0))
    attrs["pads_is"] = pads
    y = g.op("ConvTranspose", x, weight, **attrs)
    if any(extra):
        pad_amounts = [0] * (n + 2) + [0, 0] + extra
        if g.opset >= 11:
            y = g.op("Pad", y, g.constant(pad_amounts, torch.int64))
        else:
            y = g.op("Pad", y, pads_is=pad_amounts)
    if bias is not None:
        y = g.op("Add", y, reshape(g, bias, _channel_shape(n + 2)))
    return y


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
    y = g.op("BatchNormalization", y_in, weight, bias, mean, var, epsilon_f=eps)
    return y if rank != 2 else reshape(g, y, [0, -1])


def batch_norm_stats(g, x, weight, bias, eps):
    """``(y, mean, invstd, var, unbiased var)`` from the batch's own statistics (training mode)."""
    rank, dt = g.rank(x), g.dtype(x)
    axes = [0] + list(range(2, rank))
    weight, bias = _bn_params(g, x, weight, bias)
    var, mean = variance(g, x, axes, 0, True)
    centered = g.op("Sub", x, mean)
    inv = g.op("Reciprocal", g.op("Sqrt", g.op("Add", var, scalar(g, eps, dt))))
    shape = [1, -1] + [1] * (rank - 2)
    w = reshape(g, weight, shape)
    b = reshape(g, bias, shape)
    y = g.op("Add", g.op("Mul", g.op("Mul", centered, inv), w), b)
    n = count(g, x, axes, dt)
    unbiased = g.op("Div", g.op("Mul", var, n),
                    g.op("Sub", n, scalar(g, 1.0, dt)))
    flat = [-1]
    return y, reshape(g, mean, flat), reshape(g, inv, flat), reshape(g, var, flat), reshape(g, unbiased, flat)


def batch_norm_training(g, x, weight, bias, eps):
    return batch_norm_stats(g, x, weight, bias, eps)[0]


def _momentum_update(g, running, batch, momentum):
    """``(1 - momentum) * running + momentum * batch``."""
    dt = g.dtype(running)
    return g.op("Add", g.op("Mul", running, scalar(g, 1.0 - momentum, dt)),
                g.op("Mul", cast(g, batch, dt), scalar(g, momentum, dt)))


@op("aten::batch_norm")
def batch_norm(g, x, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled):
    if training or running_mean is None:
        return batch_norm_training(g, x, weight, bias, eps)
    return batch_norm_inference(g, x, weight, bias, running_mean, running_var, eps)


def _empty(g, x):
    return g.constant(torch.zeros(0, dtype=g.dtype(x)))


@op("aten::_native_batch_norm_legit_no_training")
def native_bn_no_training(g, x, weight, bias, running_mean, running_var, momentum, eps):
    return batch_norm_inference(g, x, weight, bias, running_mean, running_var, eps), _empty(g, x), _empty(g, x)


@op("aten::_native_batch_norm_legit", "aten::native_batch_norm")
def native_bn(g, x, weight, bias, running_mean, running_var, training, momentum, eps):
    """``(y, save_mean, save_invstd)``; the running statistics' in-place update is not an output."""
    if not training:
        return native_bn_no_training(g, x, weight, bias, running_mean, running_var, momentum, eps)
    y, mean, inv, _, _ = batch_norm_stats(g, x, weight, bias, eps)
    return y, mean, inv


@op("aten::_batch_norm_with_update")
def bn_with_update(g, x, weight, bias, running_mean, running_var, momentum, eps):
    """Training-mode batch norm: ``(y, save_mean, save_invstd, reserve)``; the running
    statistics' in-place update is not a graph output (buffers are not exported as state)."""
    y, mean, inv = native_bn(g, x, weight, bias, running_mean, running_var, True, momentum, eps)
    return y, mean, inv, g.constant(torch.zeros(0, dtype=g.out_dtype(3)))


@op("aten::_batch_norm_no_update")
def bn_no_update(g, x, weight, bias, running_mean, running_var, momentum, eps):
    y, mean, inv = native_bn(g, x, weight, bias, running_mean, running_var,
                             running_mean is None, momentum, eps)
    return y, mean, inv, g.constant(torch.zeros(0, dtype=g.out_dtype(3)))


@op("aten::_native_batch_norm_legit_functional")
def native_bn_functional(g, x, weight, bias, running_mean, running_var, training, momentum, eps):
    """As ``native_bn`` plus the updated running statistics (what training-mode export keeps)."""
    if not training:
        y, m, i = native_bn_no_training(g, x, weight, bias, running_mean, running_var, momentum, eps)
        return y, m, i, running_mean, running_var
    y, mean, inv, _, unbiased = batch_norm_stats(g, x, weight, bias, eps)
    return (y, mean, inv, _momentum_update(g, running_mean, mean, momentum),
            _momentum_update(g, running_var, unbiased, momentum))


def pool_pads(padding, n):
    p = _pair(padding, n)
    return p + p


def max_pool_attrs(g, n, kernel_size, stride, padding, dilation, ceil_mode):
    k = _pair(kernel_size, n)
    s = _pair(stride, n) if stride else k
    attrs = dict(kernel_shape_is=k, strides_is=s, pads_is=pool_pads(padding, n))
    if any(d != 1 for d in _pair(dilation, n)):
        if g.opset < 10:
            raise NotImplementedError("dilated max pooling needs opset >= 10")
        attrs["dilations_is"] = _pair(dilation, n)
    if ceil_mode:
        if g.opset >= 10:
            attrs["ceil_mode_i"] = 1
        else:  # the extra windows of ceil mode are windows over more end padding, which MaxPool ignores
            attrs["pads_is"] = _ceil_pads(g, n, k, s, _pair(padding, n))
    return attrs


def _ceil_pads(g, n, k, s, p):
    """Begin and end pads that give PyTorch's ceil-mode output size with floor-mode pooling."""
    out = g.out_shape()[-n:]
    inp = [int(d) for d in g.arg_val(0).shape[-n:]]
    end = [max(p[i], (out[i] - 1) * s[i] + k[i] - inp[i] - p[i]) for i in range(n)]
    return list(p) + end


def spatial_rank(g, x, kernel_size):
    """How many spatial axes a pooling has (an unbatched input has one axis fewer than N, C, ...)."""
    if isinstance(kernel_size, (list, tuple)) and len(kernel_size) > 1:
        return len(kernel_size)
    return None


@op("aten::max_pool1d", "aten::max_pool2d", "aten::max_pool3d")
def max_pool(g, x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    n = spatial_rank(g, x, kernel_size) or _pool_rank(g)
    if g.rank(x) == n + 1:  # unbatched
        return squeeze(g, max_pool(g, unsqueeze(g, x, [0]), kernel_size, stride, padding, dilation, ceil_mode),
                       [0])
    if not is_float(g.dtype(x)):
        return int_max_pool(g, x, n, *_int_pool_args(n, kernel_size, stride, padding, dilation), g.dtype(x))
    attrs = max_pool_attrs(g, n, kernel_size, stride, padding, dilation, ceil_mode)
    return g.op("MaxPool", x, **attrs)


def _int_pool_args(n, kernel_size, stride, padding, dilation):
    """``(kernel, strides, begin pads, dilations)`` per spatial axis (the output sizes, from
    PyTorch's metadata, settle ceil_mode)."""
    k = _pair(kernel_size, n)
    return k, _pair(stride, n) if stride else k, _pair(padding, n), _pair(dilation, n)


def _pool_rank(g) -> int:
    """The spatial rank from the op's name (``max_pool2d...`` -> 2)."""
    name = g.target_name()
    for n in (1, 2, 3):
        if f"pool{n}d" in name:
            return n
    raise NotImplementedError(f"cannot tell the pooling rank of {name}")


def values_only(g) -> bool:
    """True when only output 0 of the op being converted is used (the indices are not)."""
    n = g.out_count()
    return n is not None and not any(g.out_used(i) for i in range(1, n))


@op("aten::max_pool2d_with_indices", "aten::max_pool1d_with_indices", "aten::max_pool3d_with_indices")
def max_pool_with_indices(g, x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    """Values only (MaxPool's indices output comes at opset 8), but integer inputs, which are
    pooled by gathering windows anyway, have their indices at every opset."""
    if values_only(g):
        return max_pool(g, x, kernel_size, stride, padding, dilation, ceil_mode), None
    if not is_float(g.dtype(x)):
        n = spatial_rank(g, x, kernel_size) or _pool_rank(g)
        if g.rank(x) == n + 1:  # unbatched
            y, idx = max_pool_with_indices(g, unsqueeze(g, x, [0]), kernel_size, stride, padding, dilation,
                                           ceil_mode)
            return squeeze(g, y, [0]), squeeze(g, idx, [0])
        return int_max_pool_with_indices(g, x, n, *_int_pool_args(n, kernel_size, stride, padding, dilation),
                                         g.dtype(x))
    raise NotImplementedError("max pooling indices are converted from opset 8 on")


@op("aten::adaptive_max_pool1d", "aten::adaptive_max_pool2d", "aten::adaptive_max_pool3d")
def adaptive_max_pool(g, x, output_size):
    if values_only(g):
        return adaptive_pool(g, x, output_size, "ReduceMax"), None
    raise NotImplementedError("adaptive max pooling indices are converted from opset 8 on")


@op("aten::avg_pool1d", "aten::avg_pool2d", "aten::avg_pool3d")
def avg_pool(g, x, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
             divisor_override=None):
    n = spatial_rank(g, x, kernel_size) or _pool_rank(g)
    if g.rank(x) == n + 1:  # unbatched
        y = avg_pool(g, unsqueeze(g, x, [0]), kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)
        return squeeze(g, y, [0])
    if not is_float(g.dtype(x)):  # exact integer sums, truncating division as ATen's
        k, s, p, _ = _int_pool_args(n, kernel_size, stride, padding, 1)
        return int_avg_pool(g, x, n, k, s, p, count_include_pad, divisor_override, g.dtype(x))
    if divisor_override is not None:
        return sum_pool(g, x, n, kernel_size, stride, padding, divisor_override)
    k = _pair(kernel_size, n)
    s = _pair(stride, n) if stride else k
    attrs = dict(kernel_shape_is=k, strides_is=s, pads_is=pool_pads(padding, n),
                 count_include_pad_i=int(count_include_pad))
    if ceil_mode:
        if g.opset < 10:
            raise NotImplementedError("average pooling with ceil_mode needs opset >= 10")
        attrs["ceil_mode_i"] = 1
    return g.op("AveragePool", x, **attrs)


def sum_pool(g, x, n, kernel_size, stride, padding, divisor):
    """Window sums over ``divisor``: a depthwise Conv with a ones kernel.

    ceil_mode's extra windows only add zero padding at the end, which a sum does not see, so
    the padding is widened to give PyTorch's output size.
    """
    dt = g.dtype(x)
    c = g.shape(x)[1]
    if not isinstance(c, int):
        raise NotImplementedError("avg_pool with divisor_override and a dynamic channel count")
    k, p = _pair(kernel_size, n), _pair(padding, n)
    s = _pair(stride, n) if stride else k
    size, out = g.shape(x)[2:], g.out_shape()[2:]
    end = [max(p[i], (out[i] - 1) * s[i] + k[i] - size[i] - p[i]) for i in range(n)]
    ones = g.constant(torch.full([c, 1] + k, 1.0 / divisor, dtype=dt))
    return g.op("Conv", x, ones, kernel_shape_is=k, strides_is=s, pads_is=p + end, group_i=c)


def _cells(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive pooling windows: ``[floor(i*size/out), ceil((i+1)*size/out))``."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def adaptive_pool(g, x, output_size, onnx_reduce):
    """Adaptive pooling, one spatial axis at a time (mean and max are both separable).

    Evenly dividing sizes become one pooling node; other sizes a reduction per output cell.
    """
    dt = g.dtype(x)
    rank = g.rank(x)
    n = len(output_size) if isinstance(output_size, (list, tuple)) else 1
    size = list(g.shape(x)[rank - n:])
    out = [s if o is None else o for s, o in zip(size, _pair(output_size, n))]
    if not all(isinstance(s, int) for s in size):
        raise NotImplementedError("adaptive pooling over dynamic spatial sizes")
    if all(o == 1 for o in out) and rank == n + 2:
        return g.op("GlobalAveragePool" if onnx_reduce == "ReduceMean" else "GlobalMaxPool", x)
    if all(s % o == 0 for s, o in zip(size, out)) and rank == n + 2:
        k = [s // o for s, o in zip(size, out)]
        pool = "AveragePool" if onnx_reduce == "ReduceMean" else "MaxPool"
        return g.op(pool, x, kernel_shape_is=k, strides_is=k, dtype=dt)
    y = x
    for i, (s, o) in enumerate(zip(size, out)):
        axis = rank - n + i
        if s == o:
            continue
        parts = [reduce(g, onnx_reduce, slice_(g, y, [a], [b], [axis]), [axis], True) for a, b in _cells(s, o)]
        y = g.op("Concat", *parts, axis_i=axis) if len(parts) > 1 else parts[0]
    return y


@op("aten::adaptive_avg_pool1d", "aten::adaptive_avg_pool2d", "aten::_adaptive_avg_pool2d",
    "aten::adaptive_avg_pool3d", "aten::_adaptive_avg_pool3d")
def adaptive_avg_pool(g, x, output_size):
    return adaptive_pool(g, x, output_size, "ReduceMean")


@op("aten::dropout", "aten::feature_dropout", "aten::alpha_dropout", "aten::feature_alpha_dropout")
def dropout(g, x, p, train):
    """Identity in inference; before opset 12 ONNX's Dropout cannot run in training mode."""
    if not train or p == 0:
        return x
    raise NotImplementedError("dropout in training mode needs opset >= 12")


@op("aten::native_dropout")
def native_dropout(g, x, p, train):
    if not train or p == 0:
        return x, _all_true_mask(g, x)
    raise NotImplementedError("dropout in training mode needs opset >= 12")


def _all_true_mask(g, x):
    """The mask of a dropout that keeps everything (only its shape matters)."""
    shape = g.static_shape(x)
    return expand(g, g.constant(True), list(shape) if shape is not None else shape_of(g, x))


def layer_norm_composed(g, x, normalized_shape, weight, bias, eps):
    dt = g.dtype(x)
    rank = g.rank(x)
    axes = list(range(rank - len(normalized_shape), rank))
    mean = reduce(g, "ReduceMean", x, axes, True)
    centered = g.op("Sub", x, mean)
    var = reduce(g, "ReduceMean", g.op("Mul", centered, centered), axes, True)
    std = g.op("Sqrt", g.op("Add", var, scalar(g, eps, dt)))
    y = g.op("Div", centered, std)
    if weight is not None:
        y = g.op("Mul", y, weight)
    if bias is not None:
        y = g.op("Add", y, bias)
    return y, mean, std


@op("aten::layer_norm")
def layer_norm(g, x, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    return layer_norm_composed(g, x, normalized_shape, weight, bias, eps)[0]


@op("aten::native_layer_norm")
def native_layer_norm(g, x, normalized_shape, weight, bias, eps):
    y, mean, std = layer_norm_composed(g, x, normalized_shape, weight, bias, eps)
    return y, mean, g.op("Reciprocal", std)


@op("aten::embedding")
def embedding(g, weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    return g.op("Gather", weight, cast(g, indices, torch.int64), axis_i=0)


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
    return attention_composed(g, q, k, v, attn_mask, dropout_p, is_causal, scale)


# -- normalisations ------------------------------------------------------------------------------
def _channel_shape(rank: int) -> list[int]:
    return [1, -1] + [1] * (rank - 2)


def _affine(g, y, weight, bias, rank, dt):
    """``y * weight + bias`` with per-channel (axis 1) parameters."""
    if weight is not None:
        y = g.op("Mul", y, reshape(g, cast(g, weight, dt), _channel_shape(rank)))
    if bias is not None:
        y = g.op("Add", y, reshape(g, cast(g, bias, dt), _channel_shape(rank)))
    return y


def group_norm_composed(g, x, groups, weight, bias, eps):
    """``(y, mean, rstd)``: statistics over each group of channels (and all spatial positions)."""
    dt = g.dtype(x)
    rank = g.rank(x)
    n = dim_size(g, x, 0)
    grouped = reshape(g, x, [n, groups, -1])
    g.set_type(grouped, shape=[n if isinstance(n, int) else "n", groups, "m"])
    var, mean = variance(g, grouped, [2], 0, True)
    rstd = g.op("Reciprocal", g.op("Sqrt", g.op("Add", var, scalar(g, eps, dt))))
    y = g.op("Mul", g.op("Sub", grouped, mean), rstd)
    y = g.op("Reshape", y, shape_of(g, x))
    y = _affine(g, y, weight, bias, rank, dt)
    return y, reshape(g, mean, [n, groups]), reshape(g, rstd, [n, groups])


@op("aten::group_norm")
def group_norm(g, x, num_groups, weight=None, bias=None, eps=1e-5, cudnn_enabled=True):
    return group_norm_composed(g, x, num_groups, weight, bias, eps)[0]


@op("aten::native_group_norm")
def native_group_norm(g, x, weight, bias, n, c, hxw, group, eps):
    return group_norm_composed(g, x, group, weight, bias, eps)


@op("aten::instance_norm")
def instance_norm(g, x, weight, bias, running_mean, running_var, use_input_stats, momentum, eps,
                  cudnn_enabled):
    """InstanceNormalization (it needs scale and bias: ones and zeros when absent)."""
    if not use_input_stats:
        return batch_norm_inference(g, x, weight, bias, running_mean, running_var, eps)
    weight, bias = _bn_params(g, x, weight, bias)
    return g.op("InstanceNormalization", x, weight, bias, epsilon_f=float(eps))


def rms_norm_composed(g, x, normalized_shape, weight, eps):
    dt = g.dtype(x)
    compute = float_compute(dt)
    rank = g.rank(x)
    xf = cast(g, x, compute)
    if eps is None:
        eps = torch.finfo(dt).eps
    axes = list(range(rank - len(normalized_shape), rank))
    ms = reduce(g, "ReduceMean", g.op("Mul", xf, xf), axes, True)
    rms = g.op("Sqrt", g.op("Add", ms, scalar(g, eps, compute)))
    y = cast(g, g.op("Div", xf, rms), dt)
    if weight is not None:
        y = g.op("Mul", y, weight)
    return y


@op("aten::rms_norm")
def rms_norm(g, x, normalized_shape, weight=None, eps=None):
    return rms_norm_composed(g, x, normalized_shape, weight, eps)


# -- distances ----------------------------------------------------------------------------------
@op("aten::cosine_similarity")
def cosine_similarity(g, x1, x2, dim=1, eps=1e-8):
    """``sum(x1 / max(|x1|, eps) * x2 / max(|x2|, eps))`` along ``dim``, as ATen computes it."""
    dt = g.out_dtype()
    rank = len(g.out_shape()) + 1
    axis = dim % rank
    a, b = cast(g, x1, dt), cast(g, x2, dt)
    ra, rb = g.rank(x1), g.rank(x2)
    if ra < rank:
        a = reshape(g, a, [1] * (rank - ra) + list(g.shape(x1))) if g.static_shape(x1) else a
    if rb < rank:
        b = reshape(g, b, [1] * (rank - rb) + list(g.shape(x2))) if g.static_shape(x2) else b
    na = clip(g, reduce(g, "ReduceL2", a, [axis], True), eps)
    nb = clip(g, reduce(g, "ReduceL2", b, [axis], True), eps)
    prod = g.op("Mul", g.op("Div", a, na), g.op("Div", b, nb))
    return reduce(g, "ReduceSum", prod, [axis], False)


@op("aten::pairwise_distance")
def pairwise_distance(g, x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """``norm(x1 - x2 + eps, p)`` over the last dim."""
    dt = g.out_dtype()
    d = g.op("Add", g.op("Sub", cast(g, x1, dt), cast(g, x2, dt)), scalar(g, eps, dt))
    rank = max(g.rank(x1), g.rank(x2))
    if rank == 0:
        return g.op("Abs", d, dtype=dt)
    return vector_norm(g, d, p, [rank - 1], bool(keepdim))


@op("aten::_pdist_forward", "aten::pdist")
def pdist(g, x, p=2.0):
    """Distances between rows ``i < j`` of ``x`` (static row count), in PyTorch's order."""
    n = g.shape(x)[0]
    if not isinstance(n, int):
        raise NotImplementedError("pdist with a dynamic number of rows")
    dt = g.dtype(x)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if not pairs:
        return g.constant(torch.zeros(0, dtype=dt))
    rows_i = g.op("Gather", x, g.constant([i for i, _ in pairs], torch.int64), axis_i=0)
    rows_j = g.op("Gather", x, g.constant([j for _, j in pairs], torch.int64), axis_i=0)
    return vector_norm(g, g.op("Sub", rows_i, rows_j), p, [1], False)


# -- losses -------------------------------------------------------------------------------------
def _reduced(g, loss, reduction):
    return mean_or_sum(g, loss, reduction)


def _pair_loss(g, x, y):
    dt = g.out_dtype() if g.out_dtype().is_floating_point else g.dtype(x)
    return g.op("Sub", cast(g, x, dt), cast(g, y, dt)), dt


@op("aten::mse_loss")
def mse_loss(g, x, y, reduction=1):
    d, _ = _pair_loss(g, x, y)
    return _reduced(g, g.op("Mul", d, d), reduction)


@op("aten::l1_loss")
def l1_loss(g, x, y, reduction=1):
    d, _ = _pair_loss(g, x, y)
    return _reduced(g, g.op("Abs", d), reduction)


@op("aten::smooth_l1_loss")
def smooth_l1_loss(g, x, y, reduction=1, beta=1.0):
    d, dt = _pair_loss(g, x, y)
    ad = g.op("Abs", d)
    if beta == 0:
        return _reduced(g, ad, reduction)
    quad = g.op("Div", g.op("Mul", scalar(g, 0.5, dt), g.op("Mul", d, d)),
                scalar(g, beta, dt))
    lin = g.op("Sub", ad, scalar(g, 0.5 * beta, dt))
    small = g.op("Less", ad, scalar(g, beta, dt))
    return _reduced(g, where(g, small, quad, lin, dt), reduction)


@op("aten::huber_loss")
def huber_loss(g, x, y, reduction=1, delta=1.0):
    d, dt = _pair_loss(g, x, y)
    ad = g.op("Abs", d)
    quad = g.op("Mul", scalar(g, 0.5, dt), g.op("Mul", d, d))
    lin = g.op("Mul", scalar(g, delta, dt), g.op("Sub", ad, scalar(g, 0.5 * delta, dt)))
    small = g.op("Less", ad, scalar(g, delta, dt))
    return _reduced(g, where(g, small, quad, lin, dt), reduction)


def _clamped_log(g, v, dt):
    """``max(log(v), -100)``: PyTorch's binary cross entropy clamps its logs there."""
    return clip(g, g.op("Log", v), -100.0)


@op("aten::binary_cross_entropy")
def binary_cross_entropy(g, x, y, weight=None, reduction=1):
    dt = g.out_dtype()
    one = scalar(g, 1.0, dt)
    x, y = cast(g, x, dt), cast(g, y, dt)
    pos = g.op("Mul", y, _clamped_log(g, x, dt))
    neg = g.op("Mul", g.op("Sub", one, y), _clamped_log(g, g.op("Sub", one, x), dt))
    loss = g.op("Neg", g.op("Add", pos, neg))
    if weight is not None:
        loss = g.op("Mul", loss, cast(g, weight, dt))
    return _reduced(g, loss, reduction)


@op("aten::binary_cross_entropy_with_logits")
def binary_cross_entropy_with_logits(g, x, y, weight=None, pos_weight=None, reduction=1):
    """``(1 - y) x + (1 + (pw - 1) y) (log(1 + exp(-|x|)) + max(-x, 0))``: ATen's stable form."""
    dt = g.out_dtype()
    one = scalar(g, 1.0, dt)
    x, y = cast(g, x, dt), cast(g, y, dt)
    neg_x = g.op("Neg", x)
    softplus = g.op("Add", g.op("Relu", neg_x),
                    g.op("Log", g.op("Add", one, g.op("Exp", g.op("Neg", g.op("Abs", x))))))
    if pos_weight is not None:
        lw = g.op("Add", one, g.op("Mul", g.op("Sub", cast(g, pos_weight, dt), one), y))
        softplus = g.op("Mul", lw, softplus)
    loss = g.op("Add", g.op("Mul", g.op("Sub", one, y), x), softplus)
    if weight is not None:
        loss = g.op("Mul", loss, cast(g, weight, dt), dtype=dt)
    return _reduced(g, loss, reduction)


@op("aten::kl_div")
def kl_div(g, x, y, reduction=1, log_target=False):
    dt = g.out_dtype()
    x, y = cast(g, x, dt), cast(g, y, dt)
    if log_target:
        loss = g.op("Mul", g.op("Exp", y), g.op("Sub", y, x))
    else:
        # xlogy(y, y): 0 where y == 0 (log of y + 1 there), without a NaN from 0 * -inf
        zero = cast(g, eq_scalar(g, y, 0.0), dt)
        ylogy = g.op("Mul", y, g.op("Log", g.op("Add", y, zero)))
        loss = g.op("Sub", ylogy, g.op("Mul", y, x))
    return _reduced(g, loss, reduction)


@op("aten::soft_margin_loss")
def soft_margin_loss(g, x, y, reduction=1):
    dt = g.out_dtype()
    z = g.op("Neg", g.op("Mul", cast(g, x, dt), cast(g, y, dt)))
    loss = g.op("Log", g.op("Add", scalar(g, 1.0, dt), g.op("Exp", z)))
    return _reduced(g, loss, reduction)


@op("aten::margin_ranking_loss")
def margin_ranking_loss(g, x1, x2, y, margin=0.0, reduction=1):
    dt = g.out_dtype()
    d = g.op("Sub", cast(g, x1, dt), cast(g, x2, dt))
    v = g.op("Add", g.op("Neg", g.op("Mul", cast(g, y, dt), d)), scalar(g, margin, dt))
    return _reduced(g, relu_(g, v), reduction)


@op("aten::hinge_embedding_loss")
def hinge_embedding_loss(g, x, y, margin=1.0, reduction=1):
    dt = g.out_dtype()
    x, y = cast(g, x, dt), cast(g, y, dt)
    zero = scalar(g, 0.0, dt)
    margin_part = relu_(g, g.op("Sub", scalar(g, margin, dt), x))
    out_margin = where(g, eq_scalar(g, y, 1.0), zero, margin_part, dt)
    out_self = where(g, eq_scalar(g, y, -1.0), zero, x, dt)
    return _reduced(g, g.op("Add", out_margin, out_self), reduction)


@op("aten::poisson_nll_loss")
def poisson_nll_loss(g, x, y, log_input, full, eps, reduction):
    dt = g.out_dtype()
    x, y = cast(g, x, dt), cast(g, y, dt)
    if log_input:
        loss = g.op("Sub", g.op("Exp", x), g.op("Mul", y, x))
    else:
        logx = g.op("Log", g.op("Add", x, scalar(g, eps, dt)))
        loss = g.op("Sub", x, g.op("Mul", y, logx))
    if full:
        logy = g.op("Log", y)
        stirling = g.op("Add", g.op("Sub", g.op("Mul", y, logy), y),
                        g.op("Mul", scalar(g, 0.5, dt),
                             g.op("Log", g.op("Mul", scalar(g, 2 * math.pi, dt), y))))
        big = g.op("Greater", y, scalar(g, 1.0, dt))
        loss = g.op("Add", loss, where(g, big, stirling, scalar(g, 0.0, dt), dt))
    return _reduced(g, loss, reduction)


@op("aten::cosine_embedding_loss")
def cosine_embedding_loss(g, x1, x2, y, margin=0.0, reduction=1):
    dt = g.out_dtype()  # float also for integer inputs (ATen adds a float epsilon)
    axis = max(g.rank(x1), g.rank(x2), 1) - 1
    x1, x2, y = cast(g, x1, dt), cast(g, x2, dt), cast(g, y, dt)
    eps = scalar(g, 1e-12, dt)

    def ssum(v):
        return reduce(g, "ReduceSum", v, [axis], False)

    prod = ssum(g.op("Mul", x1, x2))
    m1 = g.op("Add", ssum(g.op("Mul", x1, x1)), eps)
    m2 = g.op("Add", ssum(g.op("Mul", x2, x2)), eps)
    cos = g.op("Div", prod, g.op("Sqrt", g.op("Mul", m1, m2)))
    zero = scalar(g, 0.0, dt)
    pos = g.op("Sub", scalar(g, 1.0, dt), cos)
    neg = relu_(g, g.op("Sub", cos, scalar(g, margin, dt)))
    loss = g.op("Add", where(g, eq_scalar(g, y, 1.0), pos, zero, dt),
                where(g, eq_scalar(g, y, -1.0), neg, zero, dt))
    return _reduced(g, loss, reduction)


@op("aten::triplet_margin_loss")
def triplet_margin_loss(g, anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction=1):
    dt = g.out_dtype()
    d_ap = pairwise_distance(g, anchor, positive, p, eps)
    d_an = pairwise_distance(g, anchor, negative, p, eps)
    if swap:
        d_pn = pairwise_distance(g, positive, negative, p, eps)
        d_an = g.op("Min", d_an, d_pn)
    loss = relu_(g, g.op("Add", g.op("Sub", d_ap, d_an), scalar(g, margin, dt)))
    return _reduced(g, loss, reduction)


def _class_mask(g, target, c: int, rank: int):
    """One-hot of ``target`` ([N, d...]) along a new axis 1 of size ``c`` (bool)."""
    classes = g.constant(torch.arange(c).reshape([1, c] + [1] * (rank - 2)))
    return g.op("Equal", unsqueeze(g, cast(g, target, torch.int64), [1]), classes)


def nll_composed(g, logp, target, weight, reduction, ignore_index):
    """``-w[t] * logp[n, t]`` with ``ignore_index`` weighted 0; mean divides by the weights' sum."""
    dt = g.dtype(logp)
    rank = g.rank(logp)
    c = g.shape(logp)[1]
    if not isinstance(c, int):
        raise NotImplementedError("nll_loss with a dynamic number of classes")
    hot = _class_mask(g, target, c, rank)
    picked = reduce(g, "ReduceSum", where(g, hot, logp, scalar(g, 0.0, dt), dt), [1], False)
    keep = cast(g, g.op("Not", g.op("Equal", cast(g, target, torch.int64), g.constant(ignore_index, torch.int64))), dt)
    if weight is not None:
        w = reshape(g, cast(g, weight, dt), [1, c] + [1] * (rank - 2))
        wt = reduce(g, "ReduceSum", g.op("Mul", cast(g, hot, dt), w), [1], False)
        keep = g.op("Mul", keep, wt)
    loss = g.op("Neg", g.op("Mul", picked, keep))
    if reduction in (0, "none"):
        return loss, keep
    total = reduce(g, "ReduceSum", loss, None, False)
    if reduction in (2, "sum"):
        return total, keep
    return g.op("Div", total, reduce(g, "ReduceSum", keep, None, False)), keep


def _batched(g, logp, target):
    """NLL inputs without a batch axis (``[C]`` and a 0-d target) get one."""
    if g.rank(logp) == 1:
        c = g.shape(logp)[0]
        logp = g.set_type(unsqueeze(g, logp, [0]), shape=[1, c])
        target = unsqueeze(g, target, [0])
        return logp, target, True
    return logp, target, False


def nll(g, logp, target, weight, reduction, ignore_index):
    logp, target, added = _batched(g, logp, target)
    loss = nll_loss_impl(g, logp, target, weight, reduction, ignore_index)
    if added and reduction in (0, "none"):
        loss = squeeze(g, loss, [0])
    return loss


def nll_loss_impl(g, logp, target, weight, reduction, ignore_index):
    """The loss itself: NegativeLogLikelihoodLoss from opset 12, composed below."""
    if g.opset >= 12:
        return nll_loss_node(g, logp, target, weight, reduction, ignore_index)
    return nll_composed(g, logp, target, weight, reduction, ignore_index)[0]


@op("aten::nll_loss_nd", "aten::nll_loss", "aten::nll_loss2d")
def nll_loss(g, x, target, weight=None, reduction=1, ignore_index=-100):
    dt = g.out_dtype()
    return cast(g, nll(g, cast(g, x, dt) if g.dtype(x) == dt else x, target, weight, reduction,
                       ignore_index), dt)


@op("aten::nll_loss_forward", "aten::nll_loss2d_forward")
def nll_loss_forward(g, x, target, weight, reduction, ignore_index):
    """``(loss, total_weight)``: ``total_weight`` sums the weights of the targets not ignored,
    except that ATen leaves it 0 for an unreduced batched loss (an unbatched one still sums)."""
    logp, target, added = _batched(g, x, target)
    loss, keep = nll_composed(g, logp, target, weight, reduction, ignore_index)
    if reduction in (0, "none"):
        if not added:
            return loss, g.constant(0, g.dtype(logp))
        loss = squeeze(g, loss, [0])
    return loss, reduce(g, "ReduceSum", keep, None, False)


@op("aten::cross_entropy_loss")
def cross_entropy_loss(g, x, target, weight=None, reduction=1, ignore_index=-100, label_smoothing=0.0):
    dt = g.out_dtype()
    x = cast(g, x, dt)
    rank = g.rank(x)
    if rank == 1:
        x = g.set_type(unsqueeze(g, x, [0]), shape=[1, g.shape(x)[0]])
        target = unsqueeze(g, target, [0])
    logp = g.set_type(log_softmax_axis1(g, x), shape=g.shape(x))
    c = g.shape(x)[1]
    w = None if weight is None else reshape(g, cast(g, weight, dt), [1, c] + [1] * (g.rank(x) - 2))
    if g.dtype(target).is_floating_point:
        loss = _soft_target_ce(g, logp, cast(g, target, dt), w, reduction, label_smoothing, c, dt)
    else:
        loss = nll_loss_impl(g, logp, target, weight, reduction, ignore_index)
        if label_smoothing > 0:
            smooth = _smoothing_term(g, logp, target, w, weight, reduction, ignore_index, dt)
            loss = g.op("Add", g.op("Mul", loss, scalar(g, 1 - label_smoothing, dt)),
                        g.op("Mul", smooth, scalar(g, label_smoothing / c, dt)))
    if rank == 1 and reduction in (0, "none"):
        loss = squeeze(g, loss, [0])
    return loss


def _soft_target_ce(g, logp, target, w, reduction, label_smoothing, c, dt):
    """Cross entropy against class probabilities: ``-sum_c(w_c y_c logp_c)``; mean is over N."""
    if label_smoothing > 0:
        target = g.op("Add", g.op("Mul", target, scalar(g, 1 - label_smoothing, dt)),
                      scalar(g, label_smoothing / c, dt))
    prod = g.op("Mul", logp, target)
    if w is not None:
        prod = g.op("Mul", prod, w, dtype=dt)
    loss = g.op("Neg", reduce(g, "ReduceSum", prod, [1], False))
    return _reduced(g, loss, reduction)


def _smoothing_term(g, logp, target, w, weight, reduction, ignore_index, dt):
    """ATen's label-smoothing part: ``-sum_c(w_c logp_c)`` per element, 0 where ignored."""
    prod = logp if w is None else g.op("Mul", logp, w)
    smooth = g.op("Neg", reduce(g, "ReduceSum", prod, [1], False))
    _, keep = nll_composed(g, logp, target, weight, 0, ignore_index)
    ignored = g.op("Equal", cast(g, target, torch.int64), g.constant(ignore_index, torch.int64))
    smooth = where(g, ignored, scalar(g, 0.0, dt), smooth, dt)
    if reduction in (0, "none"):
        return smooth
    total = reduce(g, "ReduceSum", smooth, None, False)
    if reduction in (2, "sum"):
        return total
    return g.op("Div", total, reduce(g, "ReduceSum", keep, None, False))


# -- rearrangements -----------------------------------------------------------------------------
def _static(g, x, what):
    shape = g.static_shape(x)
    if shape is None:
        raise NotImplementedError(f"{what} of a tensor with dynamic shape")
    return list(shape)


@op("aten::pixel_shuffle")
def pixel_shuffle(g, x, upscale_factor):
    """``[*, C*r*r, H, W] -> [*, C, H*r, W*r]`` by Reshape/Transpose (static shapes)."""
    shape = _static(g, x, "pixel_shuffle")
    r = upscale_factor
    *batch, c, h, w = shape
    b = len(batch)
    y = reshape(g, x, batch + [c // (r * r), r, r, h, w], allowzero=True)
    perm = list(range(b)) + [b, b + 3, b + 1, b + 4, b + 2]
    y = transpose(g, y, perm)
    return reshape(g, y, batch + [c // (r * r), h * r, w * r], allowzero=True)


@op("aten::pixel_unshuffle")
def pixel_unshuffle(g, x, downscale_factor):
    """``[*, C, H*r, W*r] -> [*, C*r*r, H, W]`` (SpaceToDepth orders channels differently)."""
    shape = _static(g, x, "pixel_unshuffle")
    r = downscale_factor
    *batch, c, h, w = shape
    b = len(batch)
    y = reshape(g, x, batch + [c, h // r, r, w // r, r], allowzero=True)
    perm = list(range(b)) + [b, b + 2, b + 4, b + 1, b + 3]
    y = transpose(g, y, perm)
    return reshape(g, y, batch + [c * r * r, h // r, w // r], allowzero=True)


@op("aten::im2col")
def im2col(g, x, kernel_size, dilation, padding, stride):
    """``F.unfold``: each sliding block becomes a column, ``[N, C, H, W] -> [N, C*kh*kw, L]``.

    Two Gathers with ``[kernel, output]`` index tables pick each block's rows and then its
    columns from the zero-padded input (exact for any values), a Transpose puts the kernel axes
    beside the channel and a Reshape merges them. The batch axis is never named in a shape (the
    Reshape keeps it with a 0), so a dynamic or empty batch works too. Channels and spatial
    sizes must be static.
    """
    from .shape import pad_op

    if g.rank(x) == 3:  # unbatched [C, H, W]
        c, h, w = g.shape(x)
        x = g.set_type(unsqueeze(g, x, [0]), shape=[1, c, h, w])
        return squeeze(g, im2col(g, x, kernel_size, dilation, padding, stride), [0])
    n, c, h, w = g.shape(x)
    if not all(isinstance(v, int) for v in (c, h, w)):
        raise NotImplementedError("im2col with a dynamic channel count or spatial size")
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = (_pair(v, 2) for v in (kernel_size, dilation, padding, stride))
    x = pad_op(g, x, [pw, pw, ph, ph], "constant", 0)

    def table(size, k, d, s):
        """``[k, out]``: the input position of kernel tap ``i`` in output block ``j``."""
        out = (size - d * (k - 1) - 1) // s + 1
        return torch.arange(k).reshape(k, 1) * d + torch.arange(out).reshape(1, out) * s, out

    rows, oh = table(h + 2 * ph, kh, dh, sh)
    cols, ow = table(w + 2 * pw, kw, dw, sw)
    y = g.op("Gather", x, g.constant(rows), axis_i=2)  # [N, C, kh, oh, W]
    y = g.op("Gather", y, g.constant(cols), axis_i=4)  # [N, C, kh, oh, kw, ow]
    y = transpose(g, y, [0, 1, 2, 4, 3, 5])  # [N, C, kh, kw, oh, ow]
    return reshape(g, y, [0, c * kh * kw, oh * ow])


@op("aten::channel_shuffle", "aten::native_channel_shuffle")
def channel_shuffle(g, x, groups):
    shape = _static(g, x, "channel_shuffle")
    n, c, *rest = shape
    y = reshape(g, x, [n, groups, c // groups] + rest, allowzero=True)
    perm = [0, 2, 1] + list(range(3, len(rest) + 3))
    y = transpose(g, y, perm)
    return reshape(g, y, shape, allowzero=True)


@op("aten::bilinear")
def bilinear(g, x1, x2, weight, bias=None):
    """``y_o = sum_ij x1_i W_oij x2_j + b_o``: one MatMul against W laid out as ``[i, o*j]``."""
    dt = g.dtype(x1)
    o, i, j = g.shape(weight)
    if not all(isinstance(d, int) for d in (o, i, j)):
        raise NotImplementedError("bilinear with a dynamic weight shape")
    lead = list(g.out_shape()[:-1])
    if not all(isinstance(d, int) for d in lead):
        raise NotImplementedError("bilinear with dynamic batch dimensions")
    w = reshape(g, g.op("Transpose", weight, perm_is=[1, 0, 2]), [i, o * j])
    t = reshape(g, matmul_op(g, x1, w, dt), lead + [o, j], allowzero=True)
    y = reduce(g, "ReduceSum", g.op("Mul", t, unsqueeze(g, x2, [len(lead)])), [len(lead) + 1], False)
    return y if bias is None else g.op("Add", y, bias)


# -- resampling: Upsample with a scales attribute (an input from 9; Resize from 10 and 11) ---------
def upsample(g, x, scale_factors, mode, align_corners=False, exact=False):
    """``Upsample`` in nearest mode where it gives PyTorch's result exactly (see
    ``nn_helpers.upsample_scales``; linear qualifies only where it copies), else declined."""
    scales = upsample_scales(g, x, scale_factors, mode, align_corners, exact)
    return g.op("Upsample", x, mode_s="nearest", scales_fs=scales)


(upsample_nearest_vec, upsample_nearest, upsample_nearest_exact_vec, upsample_nearest_exact,
 upsample_linear_vec, upsample_linear) = upsample_conversions(upsample, __name__)

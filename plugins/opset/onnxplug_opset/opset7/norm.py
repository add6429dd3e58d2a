"""Batch, layer, group, instance and RMS normalisation, composed or as the ONNX node of opset 7."""

from __future__ import annotations

import math

import torch

from ..dtypes import float_compute
from ..forms import reduce, unsqueeze
from ..helpers import cast, dim_size, reshape, scalar, shape_of
from ..nn_helpers import channel_shape, count, variance
from ..registration import op


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


def layer_norm_composed(g, x, normalized_shape, weight, bias, eps):
    dt = g.dtype(x)
    rank = g.rank(x)
    axes = list(range(rank - len(normalized_shape), rank))
    mean = reduce(g, "ReduceMean", x, axes, True)
    centered = g.op("Sub", x, mean)
    # Pow(., 2), not Mul(c, c): the form onnxruntime fuses into one LayerNormalization kernel
    var = reduce(g, "ReduceMean", g.op("Pow", centered, scalar(g, 2.0, dt)), axes, True)
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


def _affine(g, y, weight, bias, rank, dt):
    """``y * weight + bias`` with per-channel (axis 1) parameters."""
    if weight is not None:
        y = g.op("Mul", y, reshape(g, cast(g, weight, dt), channel_shape(rank)))
    if bias is not None:
        y = g.op("Add", y, reshape(g, cast(g, bias, dt), channel_shape(rank)))
    return y


def group_norm_composed(g, x, groups, weight, bias, eps):
    """``(y, mean, rstd)``: statistics over each group of channels (and all spatial positions)."""
    dt = g.dtype(x)
    rank = g.rank(x)
    n = dim_size(g, x, 0)
    grouped = reshape(g, x, [n, groups, -1])
    shape = g.shape(x)
    per_group = math.prod(shape[1:]) // groups if shape and all(isinstance(d, int) for d in shape[1:]) else None
    if shape and per_group is not None:  # a name shared by values of other sizes would mislead
        g.set_type(grouped, shape=[shape[0], groups, per_group])  # onnxruntime's buffer planning
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

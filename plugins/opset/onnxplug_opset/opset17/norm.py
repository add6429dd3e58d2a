"""Opset 17: LayerNormalization."""

from __future__ import annotations

import torch

from ..registration import op


def layer_norm_op(g, x, normalized_shape, weight, bias, eps, outputs=1):
    dt = g.dtype(x)
    axis = g.rank(x) - len(normalized_shape)
    if weight is None:
        shape = list(normalized_shape)
        weight = g.constant(torch.ones(shape, dtype=dt))
    inputs = [x, weight] + ([bias] if bias is not None else [])
    return g.op("LayerNormalization", *inputs, axis_i=axis, epsilon_f=float(eps), outputs=outputs,
                dtype=dt)


@op("aten::layer_norm")
def layer_norm(g, x, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    return layer_norm_op(g, x, normalized_shape, weight, bias, eps)


@op("aten::native_layer_norm")
def native_layer_norm(g, x, normalized_shape, weight, bias, eps):
    y, mean, inv_std = layer_norm_op(g, x, normalized_shape, weight, bias, eps, outputs=3)
    return y, mean, inv_std

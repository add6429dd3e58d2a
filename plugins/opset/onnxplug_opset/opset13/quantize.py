"""Opset 13: per-axis ``QuantizeLinear`` / ``DequantizeLinear`` (the ``axis`` attribute).

Per-channel PT2E ops (a weight's ``dequantize_per_channel``), per-channel fake quantization, and
the ``_cachemask`` fake-quantize variants, whose mask (which inputs fell inside the range, for
the backward pass) needs ``Round`` and ``GreaterOrEqual``. Like every Q/DQ conversion they are
never constant-folded (see ``opset10.quantize``).
"""

from __future__ import annotations

import torch

from onnxplug.errors import OnnxExporterError

from ..helpers import as_value, cast, norm_dim, reshape
from ..opset10.quantize import (check_type, container, dequantize, fake_quantize, keep, quantize,
                                scale_value, zero_point_value)
from ..registration import op


def _axis_shape(g, x, axis):
    shape = [1] * g.rank(x)
    shape[axis] = -1
    return shape


def _mask(g, x, scale, zero_point, quant_min, quant_max, axis=None):
    """``quant_min <= round(x / scale + zero_point) <= quant_max``, PyTorch's cached mask."""
    s = as_value(g, scale, torch.float32)
    zp = cast(g, as_value(g, zero_point, torch.float32), torch.float32)
    if axis is not None:
        s, zp = reshape(g, s, _axis_shape(g, x, axis)), reshape(g, zp, _axis_shape(g, x, axis))
    q = g.op("Round", g.op("Add", g.op("Div", cast(g, x, torch.float32), s, dtype=torch.float32), zp,
                           dtype=torch.float32), dtype=torch.float32)
    lo = g.op("GreaterOrEqual", q, g.constant(float(quant_min)), dtype=torch.bool)
    hi = g.op("LessOrEqual", q, g.constant(float(quant_max)), dtype=torch.bool)
    return g.op("And", lo, hi, dtype=torch.bool)


# -- PT2E quantized_decomposed -----------------------------------------------------------------
@op("quantized_decomposed::quantize_per_channel")
@keep
def quantize_per_channel(g, x, scales, zero_points, axis, quant_min, quant_max, dtype):
    dtype = check_type(g, dtype)
    axis = norm_dim(axis, g.rank(x))
    return quantize(g, x, scale_value(g, scales, False),
                    zero_point_value(g, zero_points, dtype, False, like=scales),
                    quant_min, quant_max, dtype, axis)


@op("quantized_decomposed::dequantize_per_channel")
@keep
def dequantize_per_channel(g, x, scales, zero_points, axis, quant_min, quant_max, dtype,
                           out_dtype=None):
    check_type(g, g.dtype(x))
    axis = norm_dim(axis, g.rank(x))
    return dequantize(g, x, scale_value(g, scales, False),
                      zero_point_value(g, zero_points, g.dtype(x), False, like=scales), out_dtype, axis)


@op("quantized_decomposed::fake_quant_per_channel", "aten::fake_quantize_per_channel_affine")
@keep
def fake_quantize_per_channel_affine(g, x, scale, zero_point, axis, quant_min, quant_max):
    return fake_quantize(g, x, scale, zero_point, quant_min, quant_max, norm_dim(axis, g.rank(x)))


# -- the _cachemask variants: (output, mask) ---------------------------------------------------
@op("aten::fake_quantize_per_tensor_affine_cachemask")
@keep
def fake_quantize_per_tensor_affine_cachemask(g, x, scale, zero_point, quant_min, quant_max):
    out = fake_quantize(g, x, scale, zero_point, quant_min, quant_max)
    return out, _mask(g, x, scale, zero_point, quant_min, quant_max)


@op("aten::_fake_quantize_per_tensor_affine_cachemask_tensor_qparams")
@keep
def fake_quantize_cachemask_tensor_qparams(g, x, scale, zero_point, fake_quant_enabled, quant_min,
                                           quant_max):
    """As above, where ``fake_quant_enabled`` (a 1-element tensor) may turn it off: the input
    passes unchanged and every mask element is true."""
    container(g, quant_min, quant_max)
    out = fake_quantize(g, x, scale, zero_point, quant_min, quant_max)
    mask = _mask(g, x, scale, zero_point, quant_min, quant_max)
    enabled = g.const_value(fake_quant_enabled)
    if enabled is not None and bool(enabled.reshape(-1)[0] != 0):
        return out, mask
    on = g.op("Not", g.op("Equal", cast(g, reshape(g, fake_quant_enabled, []), torch.float32),
                          g.constant(0.0), dtype=torch.bool), dtype=torch.bool)
    dt = g.dtype(x)
    return (g.op("Where", on, out, x, dtype=dt),
            g.op("Or", mask, g.op("Not", on, dtype=torch.bool), dtype=torch.bool))


@op("aten::fake_quantize_per_channel_affine_cachemask")
@keep
def fake_quantize_per_channel_affine_cachemask(g, x, scale, zero_point, axis, quant_min, quant_max):
    axis = norm_dim(axis, g.rank(x))
    out = fake_quantize(g, x, scale, zero_point, quant_min, quant_max, axis)
    return out, _mask(g, x, scale, zero_point, quant_min, quant_max, axis)


@op("aten::fused_moving_avg_obs_fake_quant")
@keep
def fused_moving_avg_obs_fake_quant(g, x, observer_on, fake_quant_on, running_min, running_max,
                                    scale, zero_point, averaging_const, quant_min, quant_max,
                                    ch_axis, per_row_fake_quant=False, symmetric_quant=False):
    """The default QAT fake-quantize module (``FusedMovingAvgObsFakeQuantize``) with its observer
    off: fake quantization with the ``scale``/``zero_point`` it learnt (per channel along
    ``ch_axis`` with ``per_row_fake_quant``); the input as is when fake quantization is off."""
    observing, enabled = g.const_value(observer_on), g.const_value(fake_quant_on)
    if observing is None or enabled is None or bool(observing.reshape(-1)[0] != 0):
        raise OnnxExporterError(
            "a fake-quantize module (aten::fused_moving_avg_obs_fake_quant) has its observer on: it "
            "would recompute its scale and zero point from every input, which an inference graph "
            "cannot. Call model.apply(torch.ao.quantization.disable_observer) before exporting (and "
            "model.apply(torch.ao.quantization.disable_fake_quant) to export without quantization).")
    if not bool(enabled.reshape(-1)[0] != 0):
        return g.op("Identity", x, dtype=g.dtype(x))
    axis = norm_dim(ch_axis, g.rank(x)) if per_row_fake_quant else None
    return fake_quantize(g, x, scale, zero_point, quant_min, quant_max, axis)


@op("quantized_decomposed::choose_qparams.tensor")
def choose_qparams(g, x, quant_min, quant_max, eps, dtype):
    """Dynamic quantization's per-tensor affine parameters of ``x``, as PT2E computes them:
    the range widened to hold 0, ``scale = max(range / (qmax - qmin), eps)`` (float64, [1]) and
    ``zero_point = clamp(qmin - round(min / scale), qmin, qmax)`` (int64, [1])."""
    f = torch.float32
    xf = cast(g, x, f)
    zero = g.constant(0.0)
    lo = g.op("Min", g.op("ReduceMin", xf, keepdims_i=0, dtype=f), zero, dtype=f)
    hi = g.op("Max", g.op("ReduceMax", xf, keepdims_i=0, dtype=f), zero, dtype=f)
    scale = g.op("Div", g.op("Sub", hi, lo, dtype=f), g.constant(float(quant_max - quant_min)), dtype=f)
    scale = g.op("Max", scale, g.constant(float(eps)), dtype=f)
    zp = g.op("Sub", g.constant(float(quant_min)), g.op("Round", g.op("Div", lo, scale, dtype=f), dtype=f),
              dtype=f)
    zp = g.op("Min", g.op("Max", zp, g.constant(float(quant_min)), dtype=f), g.constant(float(quant_max)),
              dtype=f)
    return reshape(g, cast(g, scale, torch.float64), [1]), reshape(g, cast(g, zp, torch.int64), [1])

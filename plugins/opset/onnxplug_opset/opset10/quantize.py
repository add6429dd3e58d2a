"""Opset 10: ``QuantizeLinear`` / ``DequantizeLinear`` arrive; per-tensor quantized graphs.

PT2E's ``quantized_decomposed`` ops (what ``convert_pt2e`` leaves in a graph) and ATen's
fake-quantize ops become Q/DQ nodes and stay Q/DQ nodes: every conversion here carries
``NO_FOLD``, so lowering never folds one away, even with all-constant inputs (a quantized
weight's ``DequantizeLinear`` stays in the graph, which is what runtimes fuse into integer
kernels), and none of them is decomposed.

PyTorch's ``[quant_min, quant_max]`` may be narrower than the integer type (a symmetric int8
range of -127..127, 4-bit values in an int8 container): the input is then clamped to the float
range that maps onto it before ``QuantizeLinear``, which saturates to the full type only.
Per-channel forms need the ``axis`` attribute (opset 13), see ``opset13.quantize``.
"""

from __future__ import annotations

from typing import Any

import onnx_ir as ir
import torch

from onnxplug.lowering import NO_FOLD

from .. import forms
from ..helpers import as_value, cast, reshape
from ..registration import op

Value = ir.Value
_RANGES = {torch.uint8: (0, 255), torch.int8: (-128, 127), torch.uint16: (0, 65535),
           torch.int16: (-32768, 32767)}


def keep(fn):
    """Mark a conversion whose nodes must never be constant-folded (see ``NO_FOLD``)."""
    setattr(fn, NO_FOLD, True)
    return fn


def quant_types(g) -> tuple[torch.dtype, ...]:
    """The integer types Q/DQ take at the target opset (16-bit ones from 21)."""
    return forms.quantize_types(g)


def check_type(g, dtype: torch.dtype) -> torch.dtype:
    if dtype not in quant_types(g):
        raise NotImplementedError(
            f"QuantizeLinear/DequantizeLinear at opset {forms.target_opset(g)} take "
            f"{', '.join(str(t).removeprefix('torch.') for t in quant_types(g))}, not {dtype}"
            + (" (16-bit types from opset 21)" if dtype in _RANGES else ""))
    return dtype


def container(g, quant_min: int, quant_max: int) -> torch.dtype:
    """The narrowest Q/DQ integer type holding ``[quant_min, quant_max]`` (fake quantization)."""
    for dt in quant_types(g):
        lo, hi = _RANGES[dt]
        if lo <= quant_min and quant_max <= hi:
            return dt
    raise NotImplementedError(f"a quantization range of [{quant_min}, {quant_max}] fits no integer "
                              f"type QuantizeLinear takes at opset {forms.target_opset(g)}")


def float_in(g, x: Value) -> Value:
    """The float input Q/DQ take: float32 (half and double inputs are cast)."""
    return cast(g, x, torch.float32)


def scale_value(g, scale: Any, per_tensor: bool = True) -> Value:
    """A float32 scale: a Python number, or a value (a 1-element one made 0-d per tensor)."""
    v = as_value(g, scale, torch.float32)
    if per_tensor and isinstance(scale, ir.Value) and g.rank(v) != 0:
        v = reshape(g, v, [])
    return v


def zero_point_value(g, zero_point: Any, dtype: torch.dtype, per_tensor: bool = True,
                     like: Value | None = None) -> Value:
    """The zero point in the quantized type (None: zeros shaped like the scales ``like``)."""
    if zero_point is None:
        zeros = g.op("Mul", cast(g, like, torch.float32), g.constant(0.0), dtype=torch.float32)
        return cast(g, zeros, dtype)
    v = as_value(g, zero_point, dtype) if isinstance(zero_point, ir.Value) else g.constant(int(zero_point), dtype)
    if per_tensor and isinstance(zero_point, ir.Value) and g.rank(v) != 0:
        v = reshape(g, v, [])
    return v


def clamp_to_range(g, x: Value, scale: Value, zero_point: Value, quant_min: int, quant_max: int,
                   dtype: torch.dtype, axis_shape: list[int] | None = None) -> Value:
    """Clamp float ``x`` to ``[(quant_min - zp) * scale, (quant_max - zp) * scale]`` when the
    range is narrower than ``dtype``'s; ``axis_shape`` broadcasts per-channel bounds."""
    lo_t, hi_t = _RANGES[dtype]
    if quant_min <= lo_t and quant_max >= hi_t:
        return x
    zp = cast(g, zero_point, torch.float32)
    s = scale
    if axis_shape is not None:
        zp, s = reshape(g, zp, axis_shape), reshape(g, s, axis_shape)
    if quant_min > lo_t:
        lo = g.op("Mul", g.op("Sub", g.constant(float(quant_min)), zp, dtype=torch.float32), s,
                  dtype=torch.float32)
        x = g.op("Max", x, lo, dtype=torch.float32)
    if quant_max < hi_t:
        hi = g.op("Mul", g.op("Sub", g.constant(float(quant_max)), zp, dtype=torch.float32), s,
                  dtype=torch.float32)
        x = g.op("Min", x, hi, dtype=torch.float32)
    return x


def quantize(g, x: Value, scale: Value, zero_point: Value, quant_min: int, quant_max: int,
             dtype: torch.dtype, axis: int | None = None) -> Value:
    """``QuantizeLinear`` of ``x`` to ``dtype`` (per channel along ``axis`` when given)."""
    xf = float_in(g, x)
    shape = None
    if axis is not None:
        rank = g.rank(x)
        shape = [1] * rank
        shape[axis] = -1
    xf = clamp_to_range(g, xf, scale, zero_point, quant_min, quant_max, dtype, shape)
    attrs = {} if axis is None else {"axis_i": axis}
    out = g.op("QuantizeLinear", xf, scale, zero_point, dtype=dtype, **attrs)
    return g.set_type(out, shape=g.shape(x)) if g.shape(x) is not None else out


def dequantize(g, x: Value, scale: Value, zero_point: Value, out_dtype: torch.dtype | None,
               axis: int | None = None) -> Value:
    """``DequantizeLinear`` of ``x`` (float32), cast to ``out_dtype``."""
    attrs = {} if axis is None else {"axis_i": axis}
    out = g.op("DequantizeLinear", x, scale, zero_point, dtype=torch.float32, **attrs)
    if g.shape(x) is not None:
        g.set_type(out, shape=g.shape(x))
    return cast(g, out, out_dtype or torch.float32)


def fake_quantize(g, x: Value, scale: Any, zero_point: Any, quant_min: int, quant_max: int,
                  axis: int | None = None) -> Value:
    """Quantize then dequantize in the narrowest type holding the range; ``x``'s dtype back."""
    dt = container(g, quant_min, quant_max)
    per_tensor = axis is None
    s = scale_value(g, scale, per_tensor)
    zp = zero_point_value(g, zero_point, dt, per_tensor)
    q = quantize(g, x, s, zp, quant_min, quant_max, dt, axis)
    return dequantize(g, q, s, zp, g.dtype(x), axis)


# -- PT2E quantized_decomposed -----------------------------------------------------------------
@op("quantized_decomposed::quantize_per_tensor", "quantized_decomposed::quantize_per_tensor.tensor",
    "quantized_decomposed::quantize_per_tensor.tensor2")
@keep
def quantize_per_tensor(g, x, scale, zero_point, quant_min, quant_max, dtype):
    dtype = check_type(g, dtype)
    qmin = int(g.const_value(quant_min)) if isinstance(quant_min, ir.Value) else quant_min
    qmax = int(g.const_value(quant_max)) if isinstance(quant_max, ir.Value) else quant_max
    return quantize(g, x, scale_value(g, scale), zero_point_value(g, zero_point, dtype), qmin, qmax, dtype)


@op("quantized_decomposed::dequantize_per_tensor", "quantized_decomposed::dequantize_per_tensor.tensor",
    "quantized_decomposed::dequantize_per_tensor.tensor2")
@keep
def dequantize_per_tensor(g, x, scale, zero_point, quant_min, quant_max, dtype, out_dtype=None):
    check_type(g, g.dtype(x))
    return dequantize(g, x, scale_value(g, scale), zero_point_value(g, zero_point, g.dtype(x)),
                      out_dtype)


# -- ATen fake quantization --------------------------------------------------------------------
@op("aten::fake_quantize_per_tensor_affine", "aten::fake_quantize_per_tensor_affine.tensor_qparams")
@keep
def fake_quantize_per_tensor_affine(g, x, scale, zero_point, quant_min, quant_max):
    return fake_quantize(g, x, scale, zero_point, quant_min, quant_max)

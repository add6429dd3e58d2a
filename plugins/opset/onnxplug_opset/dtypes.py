"""The dtype tables of the opset plugin, and the pickers of the dtype an op computes in.

One place for what ONNX (and onnxruntime's kernels) take, so that a conversion states *which*
rule it follows by the picker it calls:

* :func:`float_compute`: float maths of a conversion (reductions, norms, linear algebra,
  random draws): the dtype itself where ONNX kernels take it, else float32 (bfloat16, ints);
  PyTorch's accumulation dtype wins when it names a float.
* :func:`unary_compute`: a single float-only ONNX op (``Tan``, ``Erf``...): float64 where
  onnxruntime has a double kernel, float32 otherwise (half precision runs in float32 too).
* :func:`arith_dtype`: ``Add``/``Sub``/``Mul``/``Div`` on any result dtype.

The pickers take no GraphContext: where a rule depends on the opset, the form in
:mod:`onnxplug_opset.forms` passes it (``forms.arith_dtype(g, dt)``).
"""

from __future__ import annotations

import torch

#: Every torch floating type a conversion may see (half, single, double, bfloat16).
FLOATS = (torch.float16, torch.float32, torch.float64, torch.bfloat16)
#: The float types ONNX's numeric kernels (and onnxruntime's) take.
ONNX_FLOATS = (torch.float16, torch.float32, torch.float64)
#: Signed and unsigned integer types.
INTEGERS = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.uint16,
            torch.uint32, torch.uint64)

# ONNX ops whose onnxruntime CPU kernels stop at float32: float64 is computed in float32.
FLOAT32_ONLY = frozenset({
    "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Erf",
    "Softplus", "Softsign", "Elu", "Selu", "Celu", "HardSigmoid", "HardSwish",
    "ThresholdedRelu", "Gelu",
})


def float_compute(dt: torch.dtype, acc: torch.dtype | None = None) -> torch.dtype:
    """The float dtype to compute in for a result of ``dt``: ``dt`` if ONNX kernels take it,
    else float32. ``acc`` (PyTorch's accumulation dtype, e.g. a fused loss's) wins when it is
    a float dtype."""
    if isinstance(acc, torch.dtype) and acc.is_floating_point:
        dt = acc
    return dt if dt in ONNX_FLOATS else torch.float32


def unary_compute(op_type: str, dt: torch.dtype) -> torch.dtype:
    """The float dtype the float-only ONNX op ``op_type`` runs in for a result of dtype ``dt``.

    Half precision and integer inputs run in float32 (PyTorch also computes half ops in
    float32 internally); float64 stays float64 where onnxruntime has a double kernel.
    """
    if dt == torch.float64 and op_type not in FLOAT32_ONLY:
        return torch.float64
    return torch.float32


def arith_dtype(dt: torch.dtype, int8: bool = True) -> torch.dtype:
    """The dtype Add/Sub/Mul/Div run in for a result of dtype ``dt``.

    8-bit ints are ONNX types of these ops (with onnxruntime kernels) from opset 14: ``int8``
    says whether the target has them (``forms.arith_dtype(g, dt)`` asks). 16-bit and other narrow
    types run as int32, bfloat16 as float32.
    """
    if dt in (torch.int16, torch.uint16, torch.uint32) or (
            dt in (torch.int8, torch.uint8) and not int8):
        return torch.int32
    if dt == torch.bfloat16:
        return torch.float32
    return dt

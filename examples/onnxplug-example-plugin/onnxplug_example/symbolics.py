"""How ``example::rms_norm`` becomes ONNX, at each opset range and in a custom domain.

* from opset 7: ``ReduceMean`` takes its axes as an attribute;
* from opset 18: ``ReduceMean`` takes its axes as an input (the attribute is gone);
* from opset 23: ONNX has ``RMSNormalization``; one node, with a scale of ones;
* ``com.example::RmsNorm``: one node in our own domain, for a runtime that implements it.
  It is used only when the user asks for it with ``custom_opsets={"com.example": 1}``,
  because the op also has standard conversions.
"""

from __future__ import annotations

import torch

import onnxplug

DOMAIN = "com.example"
DOMAIN_VERSION = 1


def _normalize(g, x, mean_sq, eps):
    dtype = g.dtype(x)
    denom = g.op("Sqrt", g.op("Add", mean_sq, g.constant(eps, dtype=dtype), dtype=dtype), dtype=dtype)
    return g.op("Div", x, denom, dtype=dtype)


@onnxplug.symbolic("example::rms_norm", opset=7)
def rms_norm_7(g, x, eps=1e-6):
    dtype = g.dtype(x)
    sq = g.op("Mul", x, x, dtype=dtype)
    return _normalize(g, x, g.op("ReduceMean", sq, axes_is=[-1], keepdims_i=1, dtype=dtype), eps)


@onnxplug.symbolic("example::rms_norm", opset=18)
def rms_norm_18(g, x, eps=1e-6):
    dtype = g.dtype(x)
    sq = g.op("Mul", x, x, dtype=dtype)
    axes = g.constant([-1])
    return _normalize(g, x, g.op("ReduceMean", sq, axes, keepdims_i=1, dtype=dtype), eps)


@onnxplug.symbolic("example::rms_norm", opset=23)
def rms_norm_23(g, x, eps=1e-6):
    dtype = g.dtype(x)
    last = g.op("Slice", g.op("Shape", x), g.constant([-1]), g.constant([2**62]))
    scale = g.op("ConstantOfShape", last, value_t=torch.ones(1, dtype=dtype), dtype=dtype)
    return g.op("RMSNormalization", x, scale, axis_i=-1, epsilon_f=eps, dtype=dtype)


@onnxplug.symbolic("example::rms_norm", opset=1, domain=DOMAIN)
def rms_norm_custom(g, x, eps=1e-6):
    return g.op(f"{DOMAIN}::RmsNorm", x, epsilon_f=eps, dtype=g.dtype(x))


ALL = [rms_norm_7, rms_norm_18, rms_norm_23, rms_norm_custom]

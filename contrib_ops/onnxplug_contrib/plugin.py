"""Plugin object of onnxplug-contrib (entry point ``contrib``)."""

from __future__ import annotations

import onnxplug

MS = "com.microsoft"


@onnxplug.symbolic("aten::gelu", opset=7, domain=MS)
def gelu(g, x, approximate="none"):
    """onnxruntime's fused Gelu (exact) or FastGelu (tanh approximation)."""
    op_type = "FastGelu" if approximate == "tanh" else "Gelu"
    return g.op(f"{MS}::{op_type}", x, dtype=g.dtype(x))


@onnxplug.hookimpl
def onnxplug_register_symbolics(register):
    register(gelu)


@onnxplug.hookimpl
def onnxplug_custom_opsets():
    return {MS: 1}


@onnxplug.hookimpl
def onnxplug_register_test_cases(register):
    import torch

    from onnxplug.testing import Nodes, OpCase

    samples = [(torch.randn(3, 8),), (torch.randn(2, 4, 5) * 3,)]
    for approximate, op_type in (("none", "Gelu"), ("tanh", "FastGelu")):
        register(OpCase(
            f"gelu_{approximate}", torch.nn.GELU(approximate=approximate), samples,
            opsets=(9, None), custom_opsets={MS: 1}, op="aten::gelu",
            expect=Nodes(op_type, domain=MS, count=1)))

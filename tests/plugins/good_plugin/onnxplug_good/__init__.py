"""A third-party plugin used by the discovery tests: converts its own op and adds an IR pass."""

import torch

import onnxplug

ONNXPLUG_PRIORITY = 10


@torch.library.custom_op("good_test::triple", mutates_args=())
def triple(x: torch.Tensor) -> torch.Tensor:
    return x * 3


@triple.register_fake
def _(x):
    return torch.empty_like(x)


@onnxplug.symbolic("good_test::triple", opset=7)
def triple_symbolic(g, x):
    return g.op("Mul", x, g.constant(3.0), dtype=g.dtype(x))


def mark_model(model, context):
    model.metadata_props["good_plugin"] = "was here"


@onnxplug.hookimpl
def onnxplug_register_symbolics(register):
    register(triple_symbolic)


@onnxplug.hookimpl
def onnxplug_register_ir_passes(register):
    register(mark_model, order=500, name="mark_model")

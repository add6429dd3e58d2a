"""Declared cases of the functions plugin for the plugin test kit.

Each case exports a small model with ``export_modules_as_functions`` at every opset from 15
(``pytest --onnxplug-plugin functions``); the kit checks the model, runs it in onnxruntime and
compares it with eager PyTorch, and each case's ``expect`` checks the functions and calls.
"""

from __future__ import annotations

from collections import Counter

import onnx
import torch
from torch import nn


class Block(nn.Module):
    """A residual MLP block: the repeated unit of the cases below."""

    def __init__(self, dim: int = 6):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, dim)

    def forward(self, x):
        return x + torch.relu(self.fc(self.norm(x)))


class Stack(nn.Module):
    def __init__(self, depth: int = 4, dim: int = 6):
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim) for _ in range(depth)])

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


class Scaled(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor + 1


def _graph_calls(model: onnx.ModelProto) -> Counter:
    return Counter(n.op_type for n in model.graph.node)


def _expect_calls(**expected: int):
    """``expect``: the graph holds exactly these calls, and each names a local function."""
    def check(model: onnx.ModelProto) -> None:
        names = {f.name for f in model.functions}
        got = _graph_calls(model)
        assert dict(got) == expected, f"graph calls {dict(got)}, expected {expected}"
        missing = set(expected) - names
        assert not missing, f"no local function for {missing}; functions: {sorted(names)}"
    return check


def _expect_functions(*names: str):
    def check(model: onnx.ModelProto) -> None:
        got = sorted(f.name for f in model.functions)
        assert got == sorted(names), f"functions {got}, expected {sorted(names)}"
    return check


def _expect_inferred(model: onnx.ModelProto) -> None:
    (fn,) = [f for f in model.functions if f.name == "Scaled"]
    assert "inferred::Constant_value" in fn.attribute, list(fn.attribute)
    refs = [a.ref_attr_name for n in fn.node for a in n.attribute if a.ref_attr_name]
    assert refs == ["inferred::Constant_value"], refs


def declared_cases() -> list:
    from onnxplug.testing import OpCase

    every = {"export_modules_as_functions": True}
    return [
        OpCase("mlp", lambda: nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3)),
               [(torch.randn(4, 5),)], opsets=(15, None), module=True, export_options=every,
               expect=[_expect_calls(Linear=2, ReLU=1), _expect_functions("Linear", "ReLU")]),
        OpCase("repeated_blocks", Stack, [(torch.randn(2, 3, 6),)], opsets=(15, None),
               module=True, export_options=every,
               expect=[_expect_calls(Block=4),
                       _expect_functions("Block", "LayerNorm", "Linear")]),
        OpCase("only_linear", Stack, [(torch.randn(2, 3, 6),)], opsets=(15, None), module=True,
               export_options={"export_modules_as_functions": {nn.Linear}},
               expect=_expect_functions("Linear")),
        OpCase("dynamic_batch", Stack, [(torch.randn(2, 3, 6),), (torch.randn(5, 4, 6),)],
               opsets=(15, None), module=True, export_options=every,
               input_names=("x",), output_names=("y",),
               dynamic_axes={"x": {0: "batch", 1: "seq"}, "y": {0: "batch", 1: "seq"}},
               expect=_expect_calls(Block=4)),
        OpCase("inferred_attributes",
               lambda: nn.Sequential(Scaled(0.5), Scaled(2.0), Scaled(0.5)),
               [(torch.randn(3, 4),)], opsets=(15, None), module=True, export_options=every,
               expect=[_expect_calls(Scaled=3), _expect_inferred]),
    ]

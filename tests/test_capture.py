"""Capture: nn.Module, ExportedProgram, TorchScript, plain functions, keyword inputs."""

from __future__ import annotations

import torch

import onnxplug
from onnxplug.testing import assert_matches, export_and_compare
from onnxplug.verify import run_onnxruntime


def test_exported_program_is_used_as_is(mlp):
    x = torch.randn(2, 4)
    ep = torch.export.export(mlp, (x,))
    r = onnxplug.export(ep, (x,))
    assert_matches(mlp, (x,), run_onnxruntime(r.model, [x]))


def test_scripted_module(mlp):
    x = torch.randn(2, 4)
    scripted = torch.jit.script(mlp)
    r = onnxplug.export(scripted, (x,))
    assert_matches(mlp, (x,), run_onnxruntime(r.model, [x]))


def test_traced_module(mlp):
    x = torch.randn(2, 4)
    traced = torch.jit.trace(mlp, (x,))
    r = onnxplug.export(traced, (x,))
    assert_matches(mlp, (x,), run_onnxruntime(r.model, [x]))


def test_script_function():
    @torch.jit.script
    def fn(x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) * 2.0

    x = torch.randn(5)
    r = onnxplug.export(fn, (x,))
    assert_matches(fn, (x,), run_onnxruntime(r.model, [x]))


def test_plain_function():
    export_and_compare(lambda a, b: a * b + 1, (torch.randn(3), torch.randn(3)))


class KwModel(torch.nn.Module):
    def forward(self, x, *, scale=None, bias=None):
        y = x * scale
        return y + bias if bias is not None else y


def test_trailing_dict_and_kwargs_are_keyword_inputs():
    x, s, b = torch.randn(3), torch.randn(3), torch.randn(3)
    r = export_and_compare(KwModel(), (x, {"scale": s, "bias": b}))
    assert len(r.model.graph.input) == 3
    export_and_compare(KwModel(), (x,), kwargs={"scale": s})


def test_nested_inputs_and_outputs():
    class Nested(torch.nn.Module):
        def forward(self, pair, d):
            a, b = pair
            return {"sum": a + b, "prod": (a * d["w"],)}

    args = ((torch.randn(2), torch.randn(2)), {"w": torch.randn(2)})
    r = export_and_compare(Nested(), args + ({},))
    assert len(r.model.graph.input) == 3 and len(r.model.graph.output) == 2

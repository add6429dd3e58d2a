"""SPEC row export_params: parameters as initializers, or as inputs in state_dict order."""

from __future__ import annotations

import torch
from onnxplug.testing import load_checked

import onnxplug
from onnxplug.testing import assert_matches
from onnxplug.verify import run_onnxruntime


def test_params_are_initializers(tmp_path, mlp):
    x = torch.randn(2, 4)
    onnxplug.export(mlp, (x,), tmp_path / "m.onnx")
    model = load_checked(tmp_path / "m.onnx")
    assert [i.name for i in model.graph.input] == ["x"]
    assert {t.name for t in model.graph.initializer} == set(mlp.state_dict())
    assert_matches(mlp, (x,), run_onnxruntime(model, [x]))


def test_untrained_export_takes_params_as_inputs_in_state_dict_order(tmp_path, mlp):
    x = torch.randn(2, 4)
    onnxplug.export(mlp, (x,), tmp_path / "m.onnx", export_params=False)
    model = load_checked(tmp_path / "m.onnx")
    assert [i.name for i in model.graph.input] == ["x", *mlp.state_dict()]
    assert len(model.graph.initializer) == 0
    # other weights fed at run time give the other model's outputs
    other = type(mlp)().eval()
    outputs = run_onnxruntime(model, [x, *other.state_dict().values()])
    assert_matches(other, (x,), outputs)


def test_untrained_export_includes_buffers():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3)).eval()
    x = torch.randn(4, 3)
    result = onnxplug.export(model, (x,), None, export_params=False, opset_version=17)
    names = [i.name for i in result.model.graph.input]
    assert names[1:] == list(model.state_dict())
    feeds = [x, *model.state_dict().values()]
    assert_matches(model, (x,), run_onnxruntime(result.model, feeds))

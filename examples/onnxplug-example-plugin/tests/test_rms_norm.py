"""Tests of the example plugin, built on the onnxplug test kit.

The declared cases run through the ``onnxplug_plugin`` marker (the same cases ``pytest
--onnxplug-plugin example`` runs); the hand-written tests use the kit's fixtures.
"""

from __future__ import annotations

import pytest
import torch

from onnxplug_example import RMSNorm, rms_norm


@pytest.mark.onnxplug_plugin("example", opsets=[13, 18, 23])
def test_declared(onnxplug_case):
    onnxplug_case.run()


@pytest.mark.parametrize("opset", [17, 18, 23])
def test_rms_norm_in_a_block(export_and_run, assert_matches, opset):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), RMSNorm(8), torch.nn.ReLU()).eval()
    x = torch.randn(3, 4)
    result, outputs = export_and_run(model, (x,), opset=opset)
    assert "example::rms_norm.default" in result.served
    assert_matches(model, (x,), outputs)


def test_custom_domain_is_opt_in(export_and_run, assert_matches):
    import onnx

    from onnxplug import export

    fn = lambda x: rms_norm(x)  # noqa: E731
    x = torch.randn(2, 8)
    result, outputs = export_and_run(fn, (x,), opset=18)
    assert_matches(fn, (x,), outputs)
    plain = result.model
    custom = export(fn, (x,), opset_version=18, custom_opsets={"com.example": 1}).model
    onnx.checker.check_model(custom, full_check=True)
    assert not any(n.domain == "com.example" for n in plain.graph.node)
    assert [n.op_type for n in custom.graph.node if n.domain == "com.example"] == ["RmsNorm"]
    assert {o.domain: o.version for o in custom.opset_import}["com.example"] == 1

"""onnxruntime's com.microsoft Gelu/FastGelu replace the standard conversion when asked for;
the plugin's declared cases through the test kit."""

from __future__ import annotations

import pytest
import torch

import onnxplug
from onnxplug.testing import export_and_compare
from onnxplug.testing.cases import newest_opset


@pytest.mark.parametrize("approximate, op_type", [("none", "Gelu"), ("tanh", "FastGelu")])
@pytest.mark.parametrize("opset", [7, 9, 17, 20, newest_opset()])
def test_gelu_in_com_microsoft(approximate, op_type, opset):
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.GELU(approximate=approximate)).eval()
    r = export_and_compare(model, (torch.randn(3, 8),), opset=opset, custom_opsets={"com.microsoft": 1})
    gelus = [n for n in r.model.graph.node if n.op_type == op_type]
    assert len(gelus) == 1 and gelus[0].domain == "com.microsoft"
    assert r.served["aten::gelu.default"].startswith("contrib:")


def test_declares_its_domain_version():
    assert onnxplug.load_plugins().opset_versions["com.microsoft"] == 1


@pytest.mark.onnxplug_plugin("contrib", opsets=[13, 16, 17])
def test_declared_cases(onnxplug_case):
    """The plugin's declared cases through the test kit, at their lowest and highest opsets and
    around the opset (17) where the standard domain gains LayerNormalization."""
    onnxplug_case.run()

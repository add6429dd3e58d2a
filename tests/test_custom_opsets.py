"""SPEC row custom_opsets, and the custom-domain rule of the registry."""

from __future__ import annotations

import pytest
import torch

import onnxplug
from onnxplug.testing import export_and_compare


def imports(r):
    return {o.domain: o.version for o in r.model.opset_import}


def nodes(r):
    return [(n.domain, n.op_type) for n in r.model.graph.node]


def test_contrib_gelu_only_when_domain_is_named():
    x = torch.randn(3, 5)
    plain = export_and_compare(torch.nn.GELU(), (x,))
    assert "com.microsoft" not in imports(plain)
    fused = export_and_compare(torch.nn.GELU(), (x,), custom_opsets={"com.microsoft": 1})
    assert nodes(fused) == [("com.microsoft", "Gelu")]
    assert imports(fused)["com.microsoft"] == 1


def test_undeclared_custom_domain_defaults_to_plugin_version_or_1():
    def sym(g, x):
        return g.op("org.example::Twice", x, dtype=g.dtype(x))

    r = onnxplug.export(lambda x: torch.sin(x), (torch.randn(2),), custom_symbolics={"aten::sin": sym})
    assert imports(r)["org.example"] == 1
    r = onnxplug.export(lambda x: torch.sin(x), (torch.randn(2),), custom_symbolics={"aten::sin": sym},
                        custom_opsets={"org.example": 3})
    assert imports(r)["org.example"] == 3


@pytest.mark.parametrize("bad", [{"": 1}, {"ai.onnx": 17}, {"x": 0}, {"x": "1"}, ["x"]])
def test_bad_custom_opsets(bad):
    with pytest.raises(onnxplug.OptionError, match="custom"):
        onnxplug.export(torch.nn.ReLU(), (torch.randn(2),), custom_opsets=bad)

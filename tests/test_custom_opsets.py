"""SPEC row custom_opsets, and the custom-domain rule of the registry."""

from __future__ import annotations

import onnx
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


@pytest.mark.parametrize("bad", [{"x": True}, {"x": 1.0}, {"x": None}, {1: 1}])
def test_custom_opsets_version_must_be_an_int_before_any_work(tmp_path, bad):
    with pytest.raises(onnxplug.OptionError, match="custom_opsets"):
        onnxplug.export(torch.nn.ReLU(), (torch.randn(2),), tmp_path / "m.onnx", custom_opsets=bad)
    assert not (tmp_path / "m.onnx").exists()


@torch.library.custom_op("opsets_test::double", mutates_args=())
def double(x: torch.Tensor) -> torch.Tensor:
    return x * 2


double.register_fake(lambda x: torch.empty_like(x))


def double_by_version(g, x):
    """org.example has a fused Double from version 2; before it, standard ONNX."""
    if g.domain_version("org.example") >= 2:
        return g.op("org.example::Double", x, dtype=g.dtype(x))
    return g.op("Add", x, x)


def test_a_conversion_reads_the_requested_domain_version(tmp_path):
    x = torch.randn(2, 3)
    old = export_and_compare(lambda x: double(x), (x,), custom_symbolics={
        "opsets_test::double": double_by_version}, custom_opsets={"org.example": 1})
    assert nodes(old) == [("", "Add")] and "org.example" not in imports(old)
    path = tmp_path / "m.onnx"
    onnxplug.export(lambda x: double(x), (x,), path, custom_opsets={"org.example": 2},
                    custom_symbolics={"opsets_test::double": double_by_version})
    new = onnx.load(path)
    onnx.checker.check_model(new, full_check=True)  # onnxruntime has no org.example: structure
    assert [(n.domain, n.op_type) for n in new.graph.node] == [("org.example", "Double")]
    assert {o.domain: o.version for o in new.opset_import}["org.example"] == 2


def test_domain_version_falls_back_to_the_plugins_declaration_then_1():
    import onnx_ir as ir

    from onnxplug import GraphContext
    from onnxplug.options import ExportOptions

    graph = ir.Graph([], [], nodes=[])
    g = GraphContext(graph, 17, ExportOptions(custom_opsets={"com.a": 4}), declared={"com.b": 3})
    assert (g.domain_version("com.a"), g.domain_version("com.b"), g.domain_version("com.c")) \
        == (4, 3, 1)
    assert g.domain_version("") == 17 and g.subgraph().domain_version("com.b") == 3


def test_a_plugins_declared_version_is_imported_and_read(monkeypatch):
    """A domain the user does not name gets the version its plugin declares
    (onnxplug_custom_opsets), and a conversion reads that version."""
    from onnxplug.plugins import load_plugins

    monkeypatch.setitem(load_plugins().opset_versions, "org.example", 2)
    r = onnxplug.export(lambda x: double(x), (torch.randn(3),),
                        custom_symbolics={"opsets_test::double": double_by_version})
    onnx.checker.check_model(r.model, full_check=True)
    assert nodes(r) == [("org.example", "Double")] and imports(r)["org.example"] == 2
    r = export_and_compare(lambda x: double(x), (torch.randn(3),), custom_opsets={"org.example": 1},
                           custom_symbolics={"opsets_test::double": double_by_version})
    assert nodes(r) == [("", "Add")]

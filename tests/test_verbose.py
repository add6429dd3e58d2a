"""SPEC row verbose: a printed graph, logging, and file:line doc_strings on every node."""

from __future__ import annotations

import torch

import onnxplug
from onnxplug.testing import export_and_compare


def test_verbose_prints_graph_and_sources(capsys, mlp):
    result = export_and_compare(mlp, (torch.randn(2, 4),), verbose=True)
    out = capsys.readouterr()
    assert "Gemm" in out.out and "Relu" in out.out
    assert "capture" in out.err and "lower" in out.err  # stage timings
    for node in result.model.graph.node:
        assert node.doc_string, node
        path, line = node.doc_string.rsplit(":", 1)
        assert path.endswith(".py") and line.isdigit()
    # the relu comes from this test file's model definition
    assert any("conftest.py" in n.doc_string for n in result.model.graph.node)


def test_quiet_by_default(capsys, mlp):
    result = onnxplug.export(mlp, (torch.randn(2, 4),))
    assert capsys.readouterr().out == ""
    assert all(not n.doc_string for n in result.model.graph.node)

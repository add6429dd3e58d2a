"""SPEC rows input_names / output_names."""

from __future__ import annotations

import pytest
import torch

import onnxplug
from onnxplug.testing import export_and_compare


def test_all_names(two_in_out):
    args = (torch.randn(2, 4), torch.randn(2, 4))
    r = export_and_compare(two_in_out, args, input_names=["a", "b"], output_names=["act", "total"])
    assert [i.name for i in r.model.graph.input] == ["a", "b"]
    assert [o.name for o in r.model.graph.output] == ["act", "total"]


def test_fewer_names_keep_automatic_ones(two_in_out):
    args = (torch.randn(2, 4), torch.randn(2, 4))
    r = export_and_compare(two_in_out, args, input_names=["a"], output_names=["act"])
    assert [i.name for i in r.model.graph.input] == ["a", "y"]
    assert r.model.graph.output[0].name == "act" and r.model.graph.output[1].name != "act"


@pytest.mark.parametrize("kw, words", [
    (dict(input_names=["a", "b", "c"]), "input_names has 3 names but the model has only 2"),
    (dict(output_names=["p", "q", "r"]), "output_names has 3 names but the model has only 2"),
    (dict(input_names=["a", "a"]), "duplicates"),
    (dict(input_names="a"), "list of strings"),
    (dict(input_names=["a"], output_names=["a"]), "both input and output"),
])
def test_bad_names(tmp_path, two_in_out, kw, words):
    target = tmp_path / "m.onnx"
    with pytest.raises(onnxplug.OptionError, match=words):
        onnxplug.export(two_in_out, (torch.randn(2, 4), torch.randn(2, 4)), target, **kw)
    assert not target.exists()


def test_output_that_is_an_input_is_named():
    def passthrough(x, y):
        return x, x + y

    r = export_and_compare(passthrough, (torch.randn(2), torch.randn(2)),
                           input_names=["x", "y"], output_names=["same", "sum"])
    assert [o.name for o in r.model.graph.output] == ["same", "sum"]

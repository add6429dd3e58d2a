"""SPEC rows owned by later issues: clear errors now, raised before anything is written.

export_modules_as_functions below opset 15, the ATen/fallthrough export types and
autograd_inlining=False fail with a message naming what is missing; autograd_inlining=True
inlines Functions.
"""

from __future__ import annotations

import pytest
import torch

import onnxplug
from onnxplug import OperatorExportTypes
from onnxplug.testing import export_and_compare


def test_functions_need_opset_15(tmp_path, mlp):
    with pytest.raises(onnxplug.OptionError, match="opset_version >= 15"):
        onnxplug.export(mlp, (torch.randn(2, 4),), tmp_path / "m.onnx",
                        export_modules_as_functions=True, opset_version=13)
    assert not (tmp_path / "m.onnx").exists()


def test_functions_rejects_non_types(mlp):
    with pytest.raises(onnxplug.OptionError, match="not types"):
        onnxplug.export(mlp, (torch.randn(2, 4),), export_modules_as_functions={"Linear"})


@pytest.mark.parametrize("kind", [OperatorExportTypes.ONNX_ATEN, OperatorExportTypes.ONNX_ATEN_FALLBACK,
                                  OperatorExportTypes.ONNX_FALLTHROUGH])
def test_other_export_types_not_available_yet(mlp, kind):
    with pytest.raises(onnxplug.OptionError, match=f"{kind.name} is not available yet"):
        onnxplug.export(mlp, (torch.randn(2, 4),), operator_export_type=kind)


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * x

    @staticmethod
    def backward(ctx, grad):  # pragma: no cover - not exercised by export
        return grad


def test_autograd_function_is_inlined():
    def fn(x):
        return Square.apply(x) + 1

    r = export_and_compare(fn, (torch.randn(3),))
    assert [n.op_type for n in r.model.graph.node] == ["Mul", "Add"] or "Mul" in [
        n.op_type for n in r.model.graph.node]


def test_autograd_inlining_false_not_available_yet():
    with pytest.raises(onnxplug.OptionError, match="autograd_inlining=False is not available yet"):
        onnxplug.export(lambda x: Square.apply(x), (torch.randn(3),), autograd_inlining=False)

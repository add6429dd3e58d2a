"""SPEC rows owned by later issues: clear errors now, raised before anything is written.

export_modules_as_functions below opset 15 fails with a message naming what is missing;
autograd_inlining=True inlines Functions, False keeps them (tests/test_autograd_inlining.py).
(The ATen/fallthrough export types work now: tests/test_export_type_*.py.)
"""

from __future__ import annotations

import pytest
import torch

import onnxplug
from onnxplug.testing import export_and_compare


def test_functions_need_opset_15(tmp_path, mlp):
    with pytest.raises(onnxplug.OptionError, match="opset_version >= 15"):
        onnxplug.export(mlp, (torch.randn(2, 4),), tmp_path / "m.onnx",
                        export_modules_as_functions=True, opset_version=13)
    assert not (tmp_path / "m.onnx").exists()


def test_functions_rejects_non_types(mlp):
    with pytest.raises(onnxplug.OptionError, match="not types"):
        onnxplug.export(mlp, (torch.randn(2, 4),), export_modules_as_functions={"Linear"})


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


def test_autograd_inlining_false_keeps_the_function():
    """Without a symbolic or a conversion, the kept Function is named in the error (the forms it
    can take are tested in test_autograd_inlining.py)."""
    with pytest.raises(onnxplug.UnsupportedOperatorError, match="Square has no symbolic"):
        onnxplug.export(lambda x: Square.apply(x), (torch.randn(3),), autograd_inlining=False)

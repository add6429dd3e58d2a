"""SPEC row opset_version: every version from 7 to the newest, and clear errors."""

from __future__ import annotations

import pytest
import torch
from onnxplug.testing import NEWEST_OPSET as NEWEST

import onnxplug
from onnxplug.testing import export_and_compare


@pytest.mark.parametrize("opset", range(7, NEWEST + 1))
def test_every_opset(opset, mlp):
    r = export_and_compare(mlp, (torch.randn(2, 4),), opset=opset)
    assert r.model.opset_import[0].version == opset


@pytest.mark.parametrize("bad", [6, NEWEST + 1, "17", 17.0, True])
def test_out_of_range(bad, mlp):
    with pytest.raises(onnxplug.OptionError, match=f"from 7 to {NEWEST}"):
        onnxplug.export(mlp, (torch.randn(2, 4),), opset_version=bad)


def test_default_is_17(mlp):
    assert onnxplug.export(mlp, (torch.randn(2, 4),)).model.opset_import[0].version == 17


def test_op_missing_at_this_opset_says_from_which(tmp_path):
    @torch.library.custom_op("onnxplug_test::late_op", mutates_args=())
    def late_op(x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @late_op.register_fake
    def _(x):
        return torch.empty_like(x)

    class UsesLateOp(torch.nn.Module):
        def forward(self, x):
            return torch.ops.onnxplug_test.late_op(x) + 1

    fn = UsesLateOp()

    onnxplug.register_symbolic("onnxplug_test::late_op", lambda g, x: g.op("Add", x, x), opset=15)
    try:
        with pytest.raises(onnxplug.UnsupportedOperatorError) as info:
            onnxplug.export(fn, (torch.randn(3),), tmp_path / "m.onnx", opset_version=13)
        message = str(info.value)
        assert "onnxplug_test::late_op" in message and "converts from opset 15" in message
        assert "test_opset_version.py" in message  # the source location in the user's code
        assert not (tmp_path / "m.onnx").exists()
        export_and_compare(fn, (torch.randn(3),), opset=15)
    finally:
        onnxplug.unregister_symbolic("onnxplug_test::late_op")

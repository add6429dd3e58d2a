"""Conversions whose ONNX form changes at an opset are two registrations, each exercised here at
the opset before and at the opset of the change (the usage check wants every registration run at
the lowest and newest opsets it serves): ``aten::arange`` (Range from 11, ``opset11.creation``),
``aten::eye`` (EyeLike from 9, ``opset9.creation``) and ``aten::searchsorted``'s sorter
(GatherElements from 11, ``opset11.indexing``). Every export is checked, run and compared with
eager PyTorch.
"""

from __future__ import annotations

import pytest
import torch

from onnxplug.testing import NEWEST_OPSET as NEWEST


def _ops(result) -> set[str]:
    return {n.op_type for n in result.model.graph.node}


class Aranges(torch.nn.Module):
    def forward(self, x):
        n = x.shape[0]
        return (torch.arange(n) * 2, torch.arange(1, n + 1, 2, dtype=torch.float32),
                torch.arange(5000)[:3] + n, torch.arange(0.0, 2.0, 0.5))


@pytest.mark.parametrize("opset", [10, 11, NEWEST])
def test_arange_before_and_from_range(check, opset):
    """Dynamic bounds: ``start + step * (0..n-1)`` over NonZero at 10, one Range from 11; a
    large static range is a constant at 10 and a Range from 11."""
    result = check(Aranges(), (torch.randn(4, 2),), opset=opset, input_names=["x"],
                   dynamic_axes={"x": {0: "n"}}, run_inputs=(torch.randn(7, 2),))
    assert ("Range" in _ops(result)) == (opset >= 11), _ops(result)


class Eyes(torch.nn.Module):
    def forward(self, x):
        n = x.shape[0]
        return torch.eye(3, 5) + x.sum(), torch.eye(70, 70, dtype=torch.int64)[:2], torch.eye(n) + x[:, :1]


@pytest.mark.parametrize("opset", [8, 9, NEWEST])
def test_eye_before_and_from_eye_like(check, opset):
    """Static eyes are constants at 8; from 9 a large or dynamic one is EyeLike (dynamic only
    from 9, where the model's dynamic eye can be exported)."""
    if opset < 9:
        result = check(lambda x: (torch.eye(3, 5) + x.sum(), torch.eye(70, 70, dtype=torch.int64)),
                       (torch.randn(4, 4),), opset=opset)
        assert "EyeLike" not in _ops(result)
        return
    result = check(Eyes(), (torch.randn(4, 4),), opset=opset, input_names=["x"],
                   dynamic_axes={"x": {0: "n"}}, run_inputs=(torch.randn(6, 4),))
    assert "EyeLike" in _ops(result)


@pytest.mark.parametrize("opset", [9, 10, 11, NEWEST])
def test_searchsorted_sorter_before_and_from_gather_elements(check, opset):
    """The sorter reorders the sequence with a flat Gather through opset 10, GatherElements
    from 11."""
    def f(seq, v):
        return torch.searchsorted(seq, v, sorter=torch.argsort(seq)), torch.searchsorted(seq, v, right=True,
                                                                                       sorter=torch.argsort(seq))

    seq = torch.tensor([[5.0, 1.0, 3.0, 9.0, 7.0], [2.0, 8.0, 4.0, 0.0, 6.0]])
    v = torch.tensor([[3.0, 0.5, 9.5], [4.0, 8.0, -1.0]])
    result = check(f, (seq, v), opset=opset)
    assert ("GatherElements" in _ops(result)) == (opset >= 11), _ops(result)

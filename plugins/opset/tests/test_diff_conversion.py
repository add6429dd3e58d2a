"""``torch.diff`` converts directly (transformers' masks call it on position ids): no
decomposition, at the lowest opset and the newest, static and dynamic, with prepend/append,
n > 1 and bool inputs."""

from __future__ import annotations

import pytest
import torch

from onnxplug.testing import NEWEST_OPSET as NEWEST


class Diffs(torch.nn.Module):
    def forward(self, x, ids):
        first = torch.zeros_like(ids[:, :1]) - 1
        packed = torch.diff(ids, prepend=first, dim=-1)
        return torch.diff(x), torch.diff(x, n=2, dim=0, append=x[:1]), packed, torch.diff(ids > 2)


def _args():
    return torch.randn(5, 6), torch.tensor([[0, 1, 2, 0, 1, 2], [0, 1, 2, 3, 4, 5]])


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_diff_converts_without_decomposition(check, opset):
    r = check(Diffs(), _args(), opset=opset)
    assert not r.decomposed


def test_diff_dynamic_sequence(check):
    x, ids = _args()
    r = check(Diffs(), (x, ids), opset=NEWEST, input_names=["x", "ids"],
              dynamic_axes={"x": {1: "seq"}, "ids": {1: "seq"}},
              run_inputs=(torch.randn(5, 9), torch.arange(18).reshape(2, 9) % 4))
    assert not r.decomposed

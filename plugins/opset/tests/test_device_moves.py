"""Ops real models carry that must not cost a re-trace: ``x.to(device)`` (transformers' masks
and position ids) and ``swapaxes``, at the lowest opset and the newest."""

from __future__ import annotations

import pytest
import torch

from onnxplug.testing import NEWEST_OPSET as NEWEST


class Moves(torch.nn.Module):
    def forward(self, x, y):
        z = x.to(y.device) + x.to(y)  # to.device, to.other
        return z.swapaxes(0, 1), torch.swapdims(z, 1, 2), x.to(y.device, torch.float64)


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_device_moves_are_casts_or_identities(check, opset):
    r = check(Moves(), (torch.randn(2, 3, 4), torch.randn(1, dtype=torch.float32)), opset=opset)
    assert not r.decomposed

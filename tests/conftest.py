"""Shared models and helpers for the core's tests."""

from __future__ import annotations

import os

import onnx
import pytest
import torch
from torch import nn

from onnxplug.testing import export_and_compare, export_and_run

os.environ.setdefault("ONNXPLUG_CHECK_TYPES", "1")  # a conversion's wrong output dtype fails

NEWEST = onnx.defs.onnx_opset_version()


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class TwoInOut(nn.Module):
    """Two inputs, two outputs; the batch dim of both inputs must match."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x, y):
        h = self.fc(x) + y
        return h.relu(), h.sum(dim=1)


class MixedDtypes(nn.Module):
    """Initializers of several dtypes and sizes (float32, float16, int64, bool) the graph uses."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        self.register_buffer("index", torch.randperm(64))
        self.register_buffer("mask", torch.rand(64) > 0.5)
        self.register_buffer("w16", torch.randn(64, 64).half())

    def forward(self, x):
        h = self.fc(x).index_select(1, self.index).masked_fill(self.mask, 0.0)
        return h @ self.w16.float()


@pytest.fixture
def no_retrace(monkeypatch):
    """Fail the test if anything re-traces the whole program (``run_decompositions``)."""
    calls = []

    def run_decompositions(self, *args, **kwargs):
        calls.append(args)
        raise AssertionError("the whole program was re-traced (run_decompositions)")

    monkeypatch.setattr(torch.export.ExportedProgram, "run_decompositions", run_decompositions)
    return calls


@pytest.fixture
def mlp():
    torch.manual_seed(0)
    return MLP().eval()


@pytest.fixture
def two_in_out():
    torch.manual_seed(0)
    return TwoInOut().eval()




@pytest.fixture
def mixed():
    torch.manual_seed(0)
    return MixedDtypes().eval()

"""Arithmetic on dynamic sizes lowers to small int64 subgraphs that stay correct at other sizes."""

from __future__ import annotations

import pytest
import torch

from onnxplug.testing import export_and_compare


def dyn(fn, x, other, opset):
    return export_and_compare(fn, (x,), opset=opset, input_names=["x"], dynamic_axes={"x": {0: "n"}},
                              run_inputs=(other,))


@pytest.mark.parametrize("opset", [13, 17, 28])
def test_size_arithmetic(opset):
    def fn(x):
        n = x.shape[0]
        return x.reshape(n * 2, -1) + (n // 2 + n % 3 - 1)

    dyn(fn, torch.randn(4, 6), torch.randn(7, 6), opset)


@pytest.mark.parametrize("opset", [13, 28])
def test_size_as_float(opset):
    def fn(x):
        return x / x.shape[0] + torch.tensor(x.shape[0]).float()

    dyn(fn, torch.randn(4, 3), torch.randn(9, 3), opset)


@pytest.mark.parametrize("opset", [9, 13, 28])
def test_size_max_min(opset):
    def fn(x):
        n = x.shape[0]
        return x * torch.sym_max(n, 3) + torch.sym_min(n * 2, 7)

    dyn(fn, torch.randn(4, 2), torch.randn(2, 2), opset)

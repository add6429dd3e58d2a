"""Tensor factories: static sizes, sizes read from a dynamic input, and dtype= arguments.

Static sizes fold to constants from opset 7; a size read from a dynamic input needs
ConstantOfShape / NonZero (9) or Range (11), so the dynamic tests start at 9.
"""

from __future__ import annotations

import pytest
import torch

from onnxplug.testing import NEWEST_OPSET as NEWEST


class Factories(torch.nn.Module):
    def forward(self, x):
        n = x.shape[0]
        return (
            torch.zeros(2, 3) + x.sum(),
            torch.ones(n, 2, dtype=torch.int64),
            torch.full((n, 3), 2.5),
            torch.full((2,), 7, dtype=torch.int32),
            torch.empty(n, 2).zero_() + 1,
            torch.zeros_like(x),
            torch.ones_like(x, dtype=torch.int64),
            torch.full_like(x, 3.0),
            x.new_zeros(n, 4),
            x.new_ones((2, n)),
            x.new_full((n,), 5.0),
            torch.scalar_tensor(2.0) * x,
            x.clone().fill_(4.0),
        )


@pytest.mark.parametrize("opset", [7, 9, NEWEST])
def test_factories_static(check, opset):
    check(Factories(), (torch.randn(3, 4),), opset=opset)


@pytest.mark.parametrize("opset", [9, NEWEST])
def test_factories_dynamic_batch(check, opset):
    check(Factories(), (torch.randn(3, 4),), opset=opset, input_names=["x"],
          dynamic_axes={"x": {0: "batch"}}, run_inputs=(torch.randn(5, 4),))


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_factories_opset7_static(check, opset):
    def f(x):
        return torch.zeros(2, 3) + x, torch.ones(2, 3, dtype=torch.int64), torch.zeros_like(x)
    check(f, (torch.randn(2, 3),), opset=opset)


class Ranges(torch.nn.Module):
    def forward(self, x):
        n = x.shape[0]
        return (
            torch.arange(5),
            torch.arange(1, 10, 3, dtype=torch.float32),
            torch.arange(0.5, 2.0, 0.25),
            torch.arange(n) + 1,
            torch.arange(2, n + 2, dtype=torch.float32),
            torch.linspace(0, 1, 7),
            torch.logspace(0, 2, 5),
            torch.eye(3),
            torch.eye(2, 4, dtype=torch.int64),
            torch.eye(n) + x[:, :1],
        )


@pytest.mark.parametrize("opset", [7, 9, 11, NEWEST])
def test_ranges_static(check, opset):
    check(Ranges(), (torch.randn(3, 4),), opset=opset)


@pytest.mark.parametrize("opset", [9, 11, NEWEST])
def test_ranges_dynamic(check, opset):
    check(Ranges(), (torch.randn(3, 4),), opset=opset, input_names=["x"],
          dynamic_axes={"x": {0: "batch"}}, run_inputs=(torch.randn(6, 4),))


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_linspace_tensor_bounds(check, opset):
    def f(a, b):
        return torch.linspace(a, b, 6), torch.logspace(a, b, 4, base=2.0)
    check(f, (torch.tensor(0.5), torch.tensor(3.0)), opset=opset)


def test_large_static_fill_uses_constant_of_shape(check):
    result = check(lambda x: torch.zeros(100, 100) + x, (torch.randn(100, 100),), opset=NEWEST)
    ops = [n.op_type for n in result.model.graph.node]
    assert "ConstantOfShape" in ops

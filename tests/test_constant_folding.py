"""SPEC row do_constant_folding: computations on constants are precomputed, or kept."""

from __future__ import annotations

import torch
from torch import nn

from onnxplug.testing import export_and_compare


class ConstMath(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 4))
        self.register_buffer("scale", torch.tensor(3.0))

    def forward(self, x):
        return x @ (self.w.t() * self.scale + 1).relu()


def op_types(r):
    return [n.op_type for n in r.model.graph.node]


def test_folding_precomputes_constant_subgraphs():
    x = torch.randn(2, 4)
    r = export_and_compare(ConstMath().eval(), (x,))
    assert op_types(r) == ["MatMul"]
    assert len(r.model.graph.initializer) == 1


def test_no_folding_keeps_the_computation():
    x = torch.randn(2, 4)
    r = export_and_compare(ConstMath().eval(), (x,), do_constant_folding=False)
    ops = op_types(r)
    assert {"Transpose", "Mul", "Add", "Relu", "MatMul"} <= set(ops)
    assert {i.name for i in r.model.graph.initializer} >= {"w", "scale"}


def test_lifted_constants_fold_too():
    def fn(x):
        return x + torch.tensor([1.0, 2.0, 3.0]) * 2

    r = export_and_compare(fn, (torch.randn(2, 3),))
    assert op_types(r) == ["Add"]

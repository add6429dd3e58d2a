"""SPEC row keep_initializers_as_inputs, and identical-initializer deduplication."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from onnxplug.testing import export_and_compare


class Twins(nn.Module):
    """Two layers with identical weights: deduplicated unless initializers are inputs."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
        self.b.load_state_dict(self.a.state_dict())

    def forward(self, x):
        return self.a(x) + self.b(x).relu()


def names(r):
    return [i.name for i in r.model.graph.input], [t.name for t in r.model.graph.initializer]


def test_false_keeps_initializers_out_of_inputs_and_dedups():
    r = export_and_compare(Twins().eval(), (torch.randn(2, 4),), keep_initializers_as_inputs=False)
    inputs, inits = names(r)
    assert inputs == ["x"] and len(inits) == 2  # one weight, one bias


def test_true_makes_every_initializer_an_input_without_dedup():
    r = export_and_compare(Twins().eval(), (torch.randn(2, 4),), keep_initializers_as_inputs=True)
    inputs, inits = names(r)
    assert len(inits) == 4 and inputs == ["x", *inits]


@pytest.mark.parametrize("opset", [7, 8])
def test_forced_below_opset_9(opset):
    r = export_and_compare(Twins().eval(), (torch.randn(2, 4),), opset=opset,
                           keep_initializers_as_inputs=False)
    inputs, inits = names(r)
    assert set(inits) <= set(inputs)
    assert r.model.ir_version == 3


def test_none_default_is_false_for_onnx():
    r = export_and_compare(Twins().eval(), (torch.randn(2, 4),))
    assert names(r)[0] == ["x"]

"""``opset7/detection_support.py``: ``&`` and ``|`` of two conditions on dynamic sizes (what
Keypoint R-CNN's traced graph holds), at the module's lowest opset (7) and the newest, each
exported with two dynamic dims and run at sizes that flip each condition."""

from __future__ import annotations

import pytest
import torch

from onnxplug.testing import NEWEST_OPSET as NEWEST
from onnxplug.testing import export_and_compare


class Both(torch.nn.Module):
    def forward(self, x):
        n, m = x.shape
        return x * ((n > 5) & (m > 2)), x * ((n > 5) | (m > 2))


@pytest.mark.parametrize("opset", [7, NEWEST])
@pytest.mark.parametrize("run", [(7, 3), (4, 3), (7, 2), (3, 1)])
def test_and_or_of_size_conditions(opset, run):
    r = export_and_compare(Both(), (torch.randn(4, 6),), opset=opset, input_names=["x"],
                           dynamic_axes={"x": {0: "n", 1: "m"}}, run_inputs=(torch.randn(*run),))
    ops = {node.op_type for node in r.model.graph.node}
    assert {"And", "Or"} <= ops

"""GroupNorm layers of different sizes in one graph, with dynamic axes: the shapes the conversion
declares must not give values of different sizes one dim name (onnxruntime plans its buffers by
the declared shapes, and refused to run BiT, whose group norms all declared ``(n, 32, "m")``)."""

from __future__ import annotations

import pytest
import torch

from onnxplug.testing import export_and_compare


class TwoGroupNorms(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.gn1 = torch.nn.GroupNorm(4, 8)
        self.conv2 = torch.nn.Conv2d(8, 32, 3, padding=1)  # 4x the values per group
        self.gn2 = torch.nn.GroupNorm(4, 32)

    def forward(self, x):
        y = self.gn1(self.conv1(x))
        return self.gn2(self.conv2(y)) + 1


@pytest.mark.parametrize("axes", [{0: "batch"}, {0: "batch", 2: "h", 3: "w"}], ids=["batch", "spatial"])
@pytest.mark.parametrize("opset", [9, 17, 18])
def test_group_norms_at_another_size(opset, axes):
    torch.manual_seed(0)
    model = TwoGroupNorms().eval()
    x = torch.randn(2, 3, 16, 16)
    other = torch.randn(3, 3, 16, 16) if len(axes) == 1 else torch.randn(3, 3, 24, 20)
    export_and_compare(model, (x,), opset=opset, input_names=["x"], dynamic_axes={"x": axes},
                       run_inputs=(other,), atol=1e-4)

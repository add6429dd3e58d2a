"""Tracing (``capture="trace"``, draft_export) of integer floor division over a size that comes
from the data, as RetinaNet and FCOS compute anchor indices (``core/trace_capture.py``,
``integer_floor_division_fix``). Runs without torchvision."""

from __future__ import annotations

import torch
import torch._refs

from onnxplug.testing import export_and_compare


class AnchorIndices(torch.nn.Module):
    """Kept positions of a flattened ``[anchors, classes]`` score map, split into anchor and
    class, the way torchvision's detectors do after thresholding."""

    def forward(self, scores):
        flat = scores.flatten()
        kept = torch.where(flat > 0.5)[0]
        top = flat[kept].topk(min(20, kept.size(0)))[1]
        kept = kept[top] - 7  # negative values too: floor, not truncation
        return torch.div(kept, 5, rounding_mode="floor"), kept // -3, kept % 5


def test_integer_floor_division_of_a_data_dependent_size_traces():
    original = torch._refs._floor_divide_integer
    x = torch.rand(12, 5, generator=torch.Generator().manual_seed(0))
    other = torch.rand(12, 5, generator=torch.Generator().manual_seed(1))
    r = export_and_compare(AnchorIndices(), (x,), run_inputs=(other,), capture="trace")
    assert r.capture.strategy == "draft_export"
    assert torch._refs._floor_divide_integer is original  # restored after the capture

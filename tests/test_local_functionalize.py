"""Writes through views (torchvision's image batching, repeated index_put_ into one tensor) are
rewritten where they are, without re-tracing the program (onnxplug.local_functionalize); what
cannot be rewritten is left to the whole-program functionalization. Every export is checked,
run in onnxruntime and compared with eager PyTorch."""

from __future__ import annotations

import pytest
import torch

import onnxplug
from onnxplug.local_functionalize import functionalize_locally
from onnxplug.passes import writes_through_views
from onnxplug.testing import export_and_compare


class Batch(torch.nn.Module):
    """torchvision's GeneralizedRCNNTransform.batch_images: pad images into one batch."""

    def forward(self, a, b):
        batch = a.new_full((2, 3, 8, 8), 0.5)
        for i, img in enumerate((a, b)):
            batch[i, :, : img.shape[1], : img.shape[2]].copy_(img)
        batch[:, 0, 0].add_(1)
        return batch * 2


class Levels(torch.nn.Module):
    """torchvision's multi-scale RoI pooling: index_put_ into one result, level by level."""

    def forward(self, x, levels):
        result = torch.zeros(6, 4)
        for level in range(2):
            idx = torch.where(levels == level)[0]
            result[idx] = x[idx] * (level + 1)  # index_put_ on the previous index_put_'s result
        return result + 1


def test_writes_into_slices_of_a_batch(no_retrace):
    args = (torch.randn(3, 5, 6), torch.randn(3, 8, 7))
    ep = torch.export.export(Batch(), args)
    assert writes_through_views(ep)
    local = functionalize_locally(ep)
    assert local is not None
    assert any(n.target is torch.ops.aten.copy_.default for n in ep.graph.nodes), "input changed"
    torch.testing.assert_close(local.module()(*args), Batch()(*args))
    export_and_compare(Batch(), args)
    assert not no_retrace


def test_repeated_index_put_into_one_tensor(no_retrace):
    x = torch.randn(6, 4)
    levels = torch.tensor([0, 1, 1, 0, 1, 0])
    export_and_compare(Levels(), (x, levels), run_inputs=(torch.randn(6, 4), torch.tensor([1, 1, 0, 0, 0, 1])))
    assert not no_retrace


class StaleView(torch.nn.Module):
    """A view taken before a write into its base and read after it: it must see the write."""

    def forward(self, x):
        y = x * 1
        row = y[0]
        y[1:].mul_(0)
        y.add_(1)
        return row * 3, y


def test_a_view_read_after_a_write_goes_to_the_whole_program():
    ep = torch.export.export(StaleView(), (torch.randn(3, 4),))
    assert writes_through_views(ep)
    assert functionalize_locally(ep) is None
    export_and_compare(StaleView(), (torch.randn(3, 4),))


def test_a_failed_whole_program_functionalization_names_the_write(monkeypatch, tmp_path):
    """LED, Longformer: captured by draft_export, their write into a view cannot be rewritten
    in place, and re-tracing the whole program fails on a data-dependent size. The export then
    names the write and says how to avoid it, and writes nothing."""

    def retrace_fails(self, *args, **kwargs):
        raise RuntimeError("Could not guard on data-dependent expression Eq(u17, 1)")

    monkeypatch.setattr(torch.export.ExportedProgram, "run_decompositions", retrace_fails)
    path = tmp_path / "m.onnx"
    with pytest.raises(onnxplug.OnnxExporterError) as info:
        onnxplug.export(StaleView(), (torch.randn(3, 4),), path)
    message = str(info.value)
    assert "writes into a view" in message and "Eq(u17, 1)" in message
    assert "test_local_functionalize.py:" in message  # the write's line, from the second capture
    assert "write that update functionally" in message
    assert not path.exists()

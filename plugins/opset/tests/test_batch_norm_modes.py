"""aten::batch_norm at every opset its conversions serve, in training mode (the reference's
BatchNormalization forms from opset 9, the composition before) and without running statistics.
Each export is checked, run in onnxruntime and compared with eager PyTorch in the same mode
(the updated running statistics are extra outputs, which the comparison leaves out)."""

from __future__ import annotations

import pytest
import torch

from onnxplug import TrainingMode
from onnxplug.testing import NEWEST_OPSET, export_and_compare


@pytest.mark.parametrize("opset", [7, 8, 9, 13, 14, 17, NEWEST_OPSET])
@pytest.mark.parametrize("stats", [True, False], ids=["running-stats", "batch-stats-only"])
def test_batch_norm_in_training(opset, stats):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4, track_running_stats=stats))
    model.train()
    result = export_and_compare(model, (torch.randn(2, 3, 8, 8),), opset=opset,
                                training=TrainingMode.TRAINING, atol=1e-4)
    ops = [n.op_type for n in result.model.graph.node]
    assert ("BatchNormalization" in ops) == (stats and opset >= 9), ops

"""An op inside a torch.cond branch whose conversion declines at the target opset is decomposed
by PyTorch like one in the main graph (the decomposition pass looks into branches and bodies)."""

from __future__ import annotations

import onnx
import torch

from onnxplug import export
from onnxplug.testing import assert_matches, input_tensors
from onnxplug.verify import run_onnxruntime


class DilatedPoolInBranch(torch.nn.Module):
    def forward(self, x):
        def pooled(t):  # dilated max pooling: no MaxPool dilations before opset 10
            return torch.nn.functional.max_pool2d(t, 2, stride=1, dilation=2)

        def shifted(t):
            return torch.nn.functional.max_pool2d(t - 1, 2, stride=1, dilation=2)

        return torch.cond(x.sum() > 0, pooled, shifted, (x,))


def test_declined_op_in_a_branch_is_decomposed():
    model = DilatedPoolInBranch()
    x = torch.randn(1, 2, 8, 8)
    result = export(model, (x,), None, opset_version=9)
    onnx.checker.check_model(result.model, full_check=True)
    assert "If" in {n.op_type for n in result.model.graph.node}
    for args in [(x.abs(),), (-x.abs(),)]:
        assert_matches(model, args, run_onnxruntime(result.model, input_tensors(args, None)))

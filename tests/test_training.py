"""SPEC row training: EVAL, PRESERVE, TRAINING, and the model's state restored afterwards."""

from __future__ import annotations

import onnx
import torch
from torch import nn

import onnxplug
from onnxplug import TrainingMode
from onnxplug.testing import export_and_compare


def bn_model():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    m[1].running_mean.uniform_(-1, 1)
    m[1].running_var.uniform_(0.5, 2)
    return m


def ops(result):
    return [n.op_type for n in result.model.graph.node]


def training_batch_norm(result):
    """The one ``BatchNormalization(training_mode=1)`` node (the reference's form, opset 14+)."""
    (node,) = [n for n in result.model.graph.node if n.op_type == "BatchNormalization"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert attrs.get("training_mode") == 1 and len(node.output) == 3
    return node


def test_eval_uses_running_stats_and_drops_dropout():
    m = nn.Sequential(bn_model(), nn.Dropout(0.5)).train()
    x = torch.randn(2, 3, 8, 8)
    result = export_and_compare(m, (x,), training=TrainingMode.EVAL)
    # running statistics: no batch statistics computed (the BatchNormalization may be folded
    # into the Conv before it), and no Dropout
    assert not {"ReduceMean", "ReduceSum"} & set(ops(result)) and "Dropout" not in ops(result)
    assert m.training and all(c.training for c in m.modules())  # restored


def test_training_uses_batch_statistics():
    m = bn_model().eval()
    x = torch.randn(4, 3, 8, 8)
    result = export_and_compare(m, (x,), training=TrainingMode.TRAINING)
    training_batch_norm(result)
    # the updated running statistics follow the model's output (export_and_compare skips them)
    assert result.state_outputs == ["1.running_mean.updated", "1.running_var.updated"]
    assert [o.name for o in result.model.graph.output][1:] == result.state_outputs
    out = onnxplug.verify.run_onnxruntime(result.model, [x])[0]
    with torch.no_grad():
        eval_out = bn_model().eval()(x)
    assert not torch.allclose(torch.from_numpy(out), eval_out, atol=1e-3)
    assert not m.training  # restored to eval


def test_training_keeps_dropout_node():
    m = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.25))
    result = onnxplug.export(m, (torch.randn(2, 4),), training=TrainingMode.TRAINING, opset_version=17)
    assert "Dropout" in ops(result)


def test_training_does_not_fold_parameters():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(4))

        def forward(self, x):
            return x * (self.w * 2)

    x = torch.randn(3, 4)
    folded = export_and_compare(Scaled(), (x,), training=TrainingMode.EVAL)
    kept = export_and_compare(Scaled(), (x,), training=TrainingMode.TRAINING)
    assert ops(folded).count("Mul") == 1 and ops(kept).count("Mul") == 2
    assert "w" in {i.name for i in kept.model.graph.initializer}


def test_preserve_follows_the_model():
    x = torch.randn(4, 3, 8, 8)
    m = bn_model().train()
    result = export_and_compare(m, (x,), training=TrainingMode.PRESERVE)
    training_batch_norm(result)  # a module in train mode: batch statistics, reference's form
    assert len(result.state_outputs) == 2 and m.training
    m.eval()
    result = export_and_compare(m, (x,), training=TrainingMode.PRESERVE)
    assert not {"ReduceMean", "ReduceSum"} & set(ops(result))  # running statistics
    assert result.state_outputs == [] and len(result.model.graph.output) == 1

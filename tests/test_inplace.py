"""In-place ops: plain ones rebind the value; writes through views are functionalized first."""

from __future__ import annotations

import torch

from onnxplug.testing import export_and_compare


def test_plain_inplace_ops():
    def fn(x):
        y = x.clone()
        y.add_(1).mul_(3)
        return y.relu_()

    export_and_compare(fn, (torch.randn(3, 4),))


def test_write_through_a_view_reaches_the_base():
    def fn(x):
        y = x.clone()
        y[1:].mul_(2)
        return y

    export_and_compare(fn, (torch.randn(3, 4),))


def test_indexed_assignment():
    def fn(x, v):
        y = x.clone()
        y[:, 1] = v
        return y

    r = export_and_compare(fn, (torch.randn(3, 4), torch.randn(3)))
    assert "functionalize" not in " ".join(r.warnings)


def test_buffer_update_in_training_is_not_exported():
    m = torch.nn.BatchNorm1d(3).train()
    x = torch.randn(4, 3)
    from onnxplug import TrainingMode

    export_and_compare(m, (x,), training=TrainingMode.TRAINING)

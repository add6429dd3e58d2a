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


def test_buffer_update_in_training_is_a_state_output():
    """A training-mode BatchNorm's in-place running-statistics update becomes graph outputs
    after the model's own (the reference's BatchNormalization form); the mean is eager's."""
    import copy

    import numpy as np

    from onnxplug import TrainingMode
    from onnxplug.verify import run_onnxruntime

    m = torch.nn.BatchNorm1d(3).train()
    x = torch.randn(4, 3) * 2 + 1
    eager = copy.deepcopy(m)
    r = export_and_compare(m, (x,), training=TrainingMode.TRAINING)
    assert r.state_outputs == ["running_mean.updated", "running_var.updated"]
    y, new_mean, new_var = run_onnxruntime(r.model, [x])
    with torch.no_grad():
        np.testing.assert_allclose(y, eager(x).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new_mean, eager.running_mean.numpy(), rtol=1e-5, atol=1e-6)
    # ONNX updates the variance with the batch's biased variance (PyTorch: the unbiased one)
    biased = x.var(dim=0, unbiased=False)
    np.testing.assert_allclose(new_var, (0.9 * torch.ones(3) + 0.1 * biased).numpy(), rtol=1e-5)

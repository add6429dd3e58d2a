"""TrainingMode.TRAINING numerics for BatchNorm and Dropout at opsets 9, 14, 15 and 17.

BatchNorm in the reference exporter's forms (the default: the five-output node before opset 14,
``training_mode=1`` from 14) with the updated running statistics as graph outputs
(``ExportResult.state_outputs``), run in onnxruntime against eager PyTorch in train mode. Dropout is random: p=0 and p=1 are
compared exactly, other p by the fraction of zeros and the survivors' scaling.
"""

from __future__ import annotations

import copy

import numpy as np
import onnx
import pytest
import torch
from onnx.reference import ReferenceEvaluator
from torch import nn

import onnxplug
from onnxplug import TrainingMode
from onnxplug.verify import run_onnxruntime
from onnxplug_opset.opset14.norm_training import training_forms

OPSETS = (9, 14, 15, 17)
MOMENTUM = 0.1


def seeded_bn(kind, channels):
    torch.manual_seed(0)
    bn = kind(channels, momentum=MOMENTUM)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.uniform_(-0.5, 0.5)
    return bn


MODELS = {
    "conv-bn2d": (lambda: nn.Sequential(nn.Conv2d(3, 4, 3), seeded_bn(nn.BatchNorm2d, 4)), (4, 3, 8, 8)),
    "bn1d-2d-input": (lambda: seeded_bn(nn.BatchNorm1d, 5), (6, 5)),
    "bn1d-3d-input": (lambda: seeded_bn(nn.BatchNorm1d, 5), (6, 5, 7)),
}


def export_training(model, x, opset, **kwargs):
    r = onnxplug.export(model, (x,), training=TrainingMode.TRAINING, opset_version=opset, **kwargs)
    onnx.checker.check_model(r.model, full_check=True)
    return r


def batch_norm_of(model):
    return next(m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name", list(MODELS))
def test_batch_norm_reference_form_matches_training_pytorch(name, opset):
    make, shape = MODELS[name]
    model = make()
    x = torch.randn(*shape) * 2 + 1
    reference = copy.deepcopy(model).train()
    bn = batch_norm_of(reference)
    old_mean, old_var = bn.running_mean.clone(), bn.running_var.clone()

    r = export_training(model, x, opset)
    nodes = [n for n in r.model.graph.node if n.op_type == "BatchNormalization"]
    assert len(nodes) == 1 and not {"ReduceMean", "ReduceSum"} & {n.op_type for n in r.model.graph.node}
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in nodes[0].attribute}
    if opset >= 14:
        assert attrs["training_mode"] == 1 and len(nodes[0].output) == 3
    else:
        assert "training_mode" not in attrs and len(nodes[0].output) == 5
    assert attrs["momentum"] == pytest.approx(1 - MOMENTUM)
    prefix = "1." if name == "conv-bn2d" else ""
    assert [o.name for o in r.model.graph.output][1:] == [f"{prefix}running_mean.updated",
                                                           f"{prefix}running_var.updated"]
    assert r.state_outputs == [o.name for o in r.model.graph.output][1:]

    y, new_mean, new_var = run_onnxruntime(r.model, [x])
    with torch.no_grad():
        expected = reference(x)
    np.testing.assert_allclose(y, expected.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new_mean, bn.running_mean.numpy(), rtol=1e-5, atol=1e-6)
    # ONNX updates the running variance with the batch's biased variance (PyTorch: unbiased)
    with torch.no_grad():
        h = reference[0](x) if name == "conv-bn2d" else x
        axes = [0] + list(range(2, h.dim()))
        biased = h.var(dim=axes, unbiased=False)
    np.testing.assert_allclose(new_var, ((1 - MOMENTUM) * old_var + MOMENTUM * biased).numpy(),
                               rtol=1e-4, atol=1e-6)
    assert not torch.equal(bn.running_mean, old_mean)  # eager did update its buffer


@pytest.mark.parametrize("opset", [9, 17])
def test_verify_compares_the_model_outputs_and_leaves_the_buffers(opset):
    """verify=True runs eager in train mode on the model itself: it compares only the model's
    output (not the state outputs) and puts the running statistics back afterwards."""
    make, shape = MODELS["conv-bn2d"]
    model, x = make().eval(), torch.randn(*shape)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    r = export_training(model, x, opset, verify=True)
    assert len(r.state_outputs) == 2 and not model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


@pytest.mark.parametrize("opset", [9, 14])
def test_training_forms_alias_changes_nothing(opset):
    make, shape = MODELS["bn1d-3d-input"]
    x = torch.randn(*shape)
    plain = export_training(make(), x, opset)
    alias = export_training(make(), x, opset, custom_symbolics=training_forms(opset))
    assert [n.op_type for n in plain.model.graph.node] == [n.op_type for n in alias.model.graph.node]
    for a, b in zip(run_onnxruntime(plain.model, [x]), run_onnxruntime(alias.model, [x])):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("opset", [14, 15, 17])
def test_reference_evaluator_agrees(opset):
    make, shape = MODELS["conv-bn2d"]
    model, x = make(), torch.randn(*shape)
    r = export_training(model, x, opset)
    feeds = {r.model.graph.input[0].name: x.numpy()}
    got = ReferenceEvaluator(r.model).run(None, feeds)
    ort = run_onnxruntime(r.model, [x])
    for a, b in zip(got, ort):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opset", OPSETS)
def test_without_running_statistics_the_composition_stays(opset):
    model = nn.BatchNorm1d(5, affine=False, track_running_stats=False)
    x = torch.randn(6, 5, 3) * 3
    r = export_training(model, x, opset)
    assert "BatchNormalization" not in {n.op_type for n in r.model.graph.node}
    (y,) = run_onnxruntime(r.model, [x])
    with torch.no_grad():
        np.testing.assert_allclose(y, model.train()(x).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opset", OPSETS)
def test_eval_export_keeps_one_inference_node(opset):
    make, shape = MODELS["bn1d-3d-input"]
    model, x = make().train(), torch.randn(*shape)
    r = onnxplug.export(model, (x,), opset_version=opset)
    onnx.checker.check_model(r.model, full_check=True)
    (node,) = [n for n in r.model.graph.node if n.op_type == "BatchNormalization"]
    assert len(node.output) == 1 and len(r.model.graph.output) == 1
    (y,) = run_onnxruntime(r.model, [x])
    with torch.no_grad():
        np.testing.assert_allclose(y, copy.deepcopy(model).eval()(x).numpy(), rtol=1e-4, atol=1e-5)


# -- Dropout ----------------------------------------------------------------------------------------
def dropout_run(p, opset, x):
    r = onnxplug.export(nn.Dropout(p), (x,), training=TrainingMode.TRAINING, opset_version=opset)
    onnx.checker.check_model(r.model, full_check=True)
    return r, run_onnxruntime(r.model, [x])[0]


@pytest.mark.parametrize("opset", OPSETS)
def test_dropout_p0_is_exact(opset):
    x = torch.randn(64, 32)
    _, y = dropout_run(0.0, opset, x)
    np.testing.assert_array_equal(y, x.numpy())


@pytest.mark.parametrize("opset", OPSETS)
def test_dropout_p1_is_all_zeros(opset):
    x = torch.randn(64, 32)
    x[0, :3] = torch.tensor([float("nan"), float("inf"), -float("inf")])  # x * 0: NaN, as in PyTorch
    _, y = dropout_run(1.0, opset, x)
    with torch.no_grad():
        expected = nn.Dropout(1.0).train()(x)
    np.testing.assert_array_equal(y, expected.numpy())


@pytest.mark.parametrize("opset", [9, 11, 12, 17])
def test_native_dropout_p1_gives_an_all_false_mask(opset):
    x = torch.randn(8, 5)
    x[0, 0] = float("inf")

    def fn(t):
        y, mask = torch.native_dropout(t, 1.0, True)
        return y, mask

    r = onnxplug.export(fn, (x,), opset_version=opset)
    onnx.checker.check_model(r.model, full_check=True)
    assert "Dropout" not in {n.op_type for n in r.model.graph.node}
    y, mask = run_onnxruntime(r.model, [x])
    expected_y, expected_mask = fn(x)
    np.testing.assert_array_equal(y, expected_y.numpy())
    np.testing.assert_array_equal(mask, expected_mask.numpy())


@pytest.mark.parametrize("opset", OPSETS)
def test_dropout_mask_statistics_and_scaled_survivors(opset):
    p, x = 0.3, torch.rand(400, 250) + 1.0  # no zeros in x: a zero in y is a dropped element
    r, y = dropout_run(p, opset, x)
    if opset >= 12:  # the Dropout node keeps its training_mode input
        (node,) = [n for n in r.model.graph.node if n.op_type == "Dropout"]
        assert len(node.input) == 3
    dropped = y == 0
    n = dropped.size
    assert abs(dropped.mean() - p) < 6 * np.sqrt(p * (1 - p) / n)  # 6 sigma
    np.testing.assert_allclose(y[~dropped], x.numpy()[~dropped] / (1 - p), rtol=1e-6)
    import onnxruntime as ort

    session = ort.InferenceSession(r.model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {session.get_inputs()[0].name: x.numpy()}
    first, second = (session.run(None, feeds)[0] == 0 for _ in range(2))
    assert not np.array_equal(first, second)  # random: another mask on every run

"""Quantized graphs as ``QuantizeLinear`` / ``DequantizeLinear`` (opset 10; per channel from 13):
PT2E's ``quantized_decomposed`` ops, ATen's fake quantization and the default QAT module.

torch 2.13 no longer ships ``torch.ao.quantization.quantize_pt2e`` (it moved to torchao), so the
PT2E model here is written the way ``convert_pt2e`` with the XNNPACK quantizer leaves a graph:
activations through ``quantize_per_tensor`` -> ``dequantize_per_tensor`` (int8, asymmetric),
weights stored as int8 and read through ``dequantize_per_channel`` (symmetric, -127..127).

Each model is exported, checked, run in onnxruntime and compared with eager PyTorch; results may
differ by one quantization step where ONNX's ``x / scale`` and PyTorch's ``x * (1 / scale)``
round a tie differently. Every Q/DQ node stays in the graph, constant inputs or not.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.ao.quantization as tq
import torch.ao.quantization.fx._decomposed  # noqa: F401  (defines torch.ops.quantized_decomposed)
import torch.nn.functional as F
from torch import nn

from onnxplug import export
from onnxplug.capture import FunctionModule as Fn
from onnxplug.errors import OnnxExporterError, UnsupportedOperatorError
from onnxplug.testing import NEWEST_OPSET as NEWEST
from onnxplug.testing import export_and_run
from onnxplug.verify import compare

qd = torch.ops.quantized_decomposed
# onnxruntime 1.32 has Q/DQ kernels up to version 25 (so opsets up to 27); the newest opset's
# version 28 is exported and checked, and its structure verified, in test_newest_opset.
RUNNABLE = min(NEWEST, 27)


def _run(model, args, opset, **kwargs):
    """Export (checked), run in onnxruntime; returns (result, outputs, eager outputs).

    Eager runs first (a QAT model's eager forward must not follow its export). At opset 10
    onnxruntime's graph optimizations are off: its rewrite of a DequantizeLinear -> Gemm bias
    emits Round, which opset 10 does not have.
    """
    with torch.no_grad():
        expected = model(*args)
    expected = expected if isinstance(expected, tuple) else (expected,)
    if opset >= 11:
        result, outputs = export_and_run(model, args, opset=opset, **kwargs)
        return result, outputs, expected
    import onnx
    import onnxruntime as ort

    result = export(model, args, None, opset_version=opset, **kwargs)
    onnx.checker.check_model(result.model, full_check=True)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(result.model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return result, sess.run(None, {n: a.numpy() for n, a in zip(names, args)}), expected


def _ops(result):
    return [n.op_type for n in result.model.graph.node]


def _within_steps(expected, outputs, steps):
    """Each output within ``steps[i]`` (an absolute bound: k quantization steps) of eager, and
    nearly all of it equal."""
    assert len(expected) == len(outputs)
    for i, (e, a, step) in enumerate(zip(expected, outputs, steps)):
        e = e.numpy()
        assert a.shape == e.shape and a.dtype == e.dtype, (i, a.shape, e.shape, a.dtype, e.dtype)
        diff = np.abs(a.astype(np.float64) - e.astype(np.float64))
        assert diff.max() <= step, f"output {i}: max difference {diff.max()} > {step}"
        assert (diff > 1e-6).mean() < 0.05, f"output {i}: {(diff > 1e-6).mean():.1%} of it differs"


class QuantizedLinear(nn.Module):
    """A linear layer as convert_pt2e leaves it: an int8 weight, activations through Q/DQ."""

    def __init__(self, lin: nn.Linear, scale: float, zero_point: int, per_channel: bool = True):
        super().__init__()
        w = lin.weight.detach()
        scales = w.abs().amax(1) / 127 if per_channel else w.abs().max().reshape(1) / 127
        self.register_buffer("wq", torch.clamp(torch.round(w / scales.reshape(-1, 1)), -127, 127)
                             .to(torch.int8))
        self.register_buffer("ws", scales)
        self.register_buffer("wzp", torch.zeros(scales.shape[0], dtype=torch.int64))
        self.bias = lin.bias
        self.scale, self.zero_point, self.per_channel = scale, zero_point, per_channel
        self.wscale = float(scales[0])

    def forward(self, x):
        xq = qd.quantize_per_tensor(x, self.scale, self.zero_point, -128, 127, torch.int8)
        x = qd.dequantize_per_tensor(xq, self.scale, self.zero_point, -128, 127, torch.int8)
        if self.per_channel:
            w = qd.dequantize_per_channel(self.wq, self.ws, self.wzp, 0, -127, 127, torch.int8)
        else:
            w = qd.dequantize_per_tensor(self.wq, self.wscale, 0, -127, 127, torch.int8)
        return F.linear(x, w, self.bias)


class QuantizedConv(nn.Module):
    def __init__(self, conv: nn.Conv2d, scale: float, zero_point: int):
        super().__init__()
        w = conv.weight.detach()
        scales = w.abs().amax((1, 2, 3)) / 127
        self.register_buffer("wq", torch.round(w / scales.reshape(-1, 1, 1, 1)).to(torch.int8))
        self.register_buffer("ws", scales)
        self.register_buffer("wzp", torch.zeros_like(scales, dtype=torch.int64))
        self.bias = conv.bias
        self.scale, self.zero_point = scale, zero_point

    def forward(self, x):
        xq = qd.quantize_per_tensor(x, self.scale, self.zero_point, -128, 127, torch.int8)
        x = qd.dequantize_per_tensor(xq, self.scale, self.zero_point, -128, 127, torch.int8)
        w = qd.dequantize_per_channel(self.wq, self.ws, self.wzp, 0, -127, 127, torch.int8)
        return F.conv2d(x, w, self.bias, padding=1)


def pt2e_model(per_channel=True):
    torch.manual_seed(0)
    if not per_channel:
        return nn.Sequential(QuantizedLinear(nn.Linear(16, 32), 0.02, 3, False), nn.ReLU(),
                             QuantizedLinear(nn.Linear(32, 4), 0.01, -5, False)).eval()
    return nn.Sequential(QuantizedConv(nn.Conv2d(3, 8, 3), 0.03, -2), nn.ReLU(), nn.Flatten(),
                         QuantizedLinear(nn.Linear(8 * 6 * 6, 32), 0.02, -128), nn.ReLU(),
                         QuantizedLinear(nn.Linear(32, 4), 0.01, -5)).eval()


def _weights_stay_quantized(result, count):
    """``count`` DequantizeLinear nodes read an int8 initializer: no weight was folded to float."""
    inits = {i.name: i for i in result.model.graph.initializer}
    dq = [n for n in result.model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits]
    assert len(dq) == count and all(inits[n.input[0]].data_type == 3 for n in dq)  # INT8


@pytest.mark.parametrize("opset", [10, RUNNABLE])
def test_pt2e_per_tensor(opset):
    model = pt2e_model(per_channel=False)
    x = torch.randn(5, 16)
    result, outputs, expected = _run(model, (x,), opset)
    assert _ops(result).count("QuantizeLinear") == 2 and _ops(result).count("DequantizeLinear") == 4
    _weights_stay_quantized(result, 2)
    _within_steps(expected, outputs, [0.02])


@pytest.mark.parametrize("opset", [13, RUNNABLE])
def test_pt2e_per_channel(opset):
    model = pt2e_model()
    x = torch.randn(2, 3, 6, 6)
    result, outputs, expected = _run(model, (x,), opset)
    assert _ops(result).count("QuantizeLinear") == 3 and _ops(result).count("DequantizeLinear") == 6
    _weights_stay_quantized(result, 3)
    _within_steps(expected, outputs, [0.02])


def test_pt2e_without_constant_folding_is_the_same_graph():
    model = pt2e_model()
    x = torch.randn(2, 3, 6, 6)
    result, outputs, expected = _run(model, (x,), 17, do_constant_folding=False)
    _weights_stay_quantized(result, 3)
    _within_steps(expected, outputs, [0.02])


class QuantizeOps(nn.Module):
    """The quantized values themselves: per tensor (float, tensor and tensor2 parameters),
    narrow ranges, uint8, per channel with and without zero points, out_dtype."""

    def __init__(self):
        super().__init__()
        self.register_buffer("s", torch.tensor(0.05, dtype=torch.float64))
        self.register_buffer("zp", torch.tensor(4))
        self.register_buffer("cs", torch.tensor([0.02, 0.05, 0.1]))
        self.register_buffer("czp", torch.tensor([0, -3, 7]))

    def forward(self, x):  # x: [2, 3, 4]
        a = qd.quantize_per_tensor(x, 0.05, 4, -128, 127, torch.int8)
        b = qd.quantize_per_tensor.tensor(x, self.s, self.zp, 0, 255, torch.uint8)
        c = qd.quantize_per_tensor(x, 0.05, 0, -127, 127, torch.int8)  # symmetric range
        d = qd.quantize_per_tensor(x, 0.1, 8, 0, 15, torch.uint8)  # 4 bits in uint8
        e = qd.quantize_per_channel(x, self.cs, self.czp, 1, -128, 127, torch.int8)
        f = qd.quantize_per_tensor.tensor2(x, self.s, self.zp, torch.tensor(-128), torch.tensor(127),
                                           torch.int8)
        return (a, b, c, d, e, f,
                qd.dequantize_per_tensor(a, 0.05, 4, -128, 127, torch.int8),
                qd.dequantize_per_tensor.tensor(b, self.s, self.zp, 0, 255, torch.uint8),
                qd.dequantize_per_channel(e, self.cs, self.czp, 1, -128, 127, torch.int8),
                qd.dequantize_per_channel(e, self.cs, None, -2, -128, 127, torch.int8),
                qd.dequantize_per_tensor(a, 0.05, 4, -128, 127, torch.int8, out_dtype=torch.float16))


@pytest.mark.parametrize("opset", [13, RUNNABLE])
def test_quantize_dequantize_ops(opset):
    model = QuantizeOps()
    x = torch.randn(2, 3, 4) * 3
    _, outputs, expected = _run(model, (x,), opset)
    _within_steps(expected, outputs, [1] * 6 + [0.05, 0.05, 0.1, 0.1, 0.05])


def test_sixteen_bits_from_opset_21():
    fn = Fn(lambda x: qd.dequantize_per_tensor(qd.quantize_per_tensor(x, 0.001, 10, -32768, 32767, torch.int16),
                                               0.001, 10, -32768, 32767, torch.int16))
    x = torch.randn(3, 5)
    _, outputs, expected = _run(fn, (x,), 21)
    _within_steps(expected, outputs, [0.001])
    with pytest.raises(UnsupportedOperatorError, match="opset 21"):
        export(fn, (x,), None, opset_version=13)


class FakeQuant(nn.Module):
    """ATen fake quantization, per tensor and per channel, with the cached masks."""

    def __init__(self):
        super().__init__()
        self.register_buffer("s", torch.tensor([0.1]))
        self.register_buffer("zp", torch.tensor([3], dtype=torch.int32))
        self.register_buffer("cs", torch.tensor([0.05, 0.1, 0.2]))
        self.register_buffer("czp", torch.tensor([0, 5, -2], dtype=torch.int32))
        self.register_buffer("on", torch.tensor([1], dtype=torch.uint8))

    def forward(self, x):  # x: [2, 3, 4]
        a = torch.fake_quantize_per_tensor_affine(x, 0.1, 3, 0, 255)
        b = torch.fake_quantize_per_tensor_affine(x, self.s, self.zp, -128, 127)
        c = torch.fake_quantize_per_channel_affine(x, self.cs, self.czp, 1, -128, 127)
        d, dm = torch.ops.aten.fake_quantize_per_tensor_affine_cachemask(x, 0.1, 3, 0, 15)
        e, em = torch.ops.aten._fake_quantize_per_tensor_affine_cachemask_tensor_qparams(
            x, self.s, self.zp, self.on, -128, 127)
        f, fm = torch.ops.aten.fake_quantize_per_channel_affine_cachemask(x, self.cs, self.czp, 1, -8, 7)
        return a, b, c, d, dm, e, em, f, fm


@pytest.mark.parametrize("opset", [13, RUNNABLE])
def test_fake_quantize(opset):
    model = FakeQuant()
    # values away from rounding ties, so masks and results are exact
    x = (torch.randint(-40, 40, (2, 3, 4)) + 0.3) * torch.tensor([0.05, 0.1, 0.2]).reshape(1, 3, 1)
    result, outputs, expected = _run(model, (x,), opset)
    assert _ops(result).count("QuantizeLinear") == 6
    compare(list(expected), outputs, rtol=1e-5, atol=1e-6)


def test_fake_quantize_per_tensor_at_opset_10():
    model = Fn(lambda x: torch.fake_quantize_per_tensor_affine(x, 0.1, 3, 0, 255))
    x = torch.randn(4, 5)
    result, outputs, expected = _run(model, (x,), 10)
    assert [o for o in _ops(result) if o != "Constant"] == ["QuantizeLinear", "DequantizeLinear"]
    _within_steps(expected, outputs, [0.1])


def qat_model():
    """The default eager-mode QAT model (FusedMovingAvgObsFakeQuantize), trained a little."""
    torch.manual_seed(0)
    m = nn.Sequential(tq.QuantStub(), nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(),
                      nn.Linear(8 * 6 * 6, 5), tq.DeQuantStub())
    m.train()
    m.qconfig = tq.get_default_qat_qconfig("fbgemm")
    tq.prepare_qat(m, inplace=True)
    for _ in range(3):
        m(torch.randn(4, 3, 8, 8))
    return m


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("opset", [13, RUNNABLE])
def test_qat_model(opset):
    model = qat_model()
    model.apply(tq.disable_observer)
    model.eval()
    x = torch.randn(2, 3, 8, 8)
    result, outputs, expected = _run(model, (x,), opset)
    assert _ops(result).count("QuantizeLinear") == 5  # input, conv weight, conv output, fc weight, fc output
    scale = float(model[4].activation_post_process.scale)
    _within_steps(expected, outputs, [scale])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_qat_model_with_its_observer_on_says_what_to_do():
    model = qat_model().eval()  # eval() leaves the observers on
    with pytest.raises(OnnxExporterError, match="disable_observer"):
        export(model, (torch.randn(2, 3, 8, 8),), None, opset_version=17)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_newest_opset():
    """At the newest opset (Q/DQ version 28, which onnxruntime 1.32 cannot run yet) every model
    exports, passes the checker and keeps its Q/DQ nodes."""
    import onnx

    qat = qat_model()
    qat.apply(tq.disable_observer)
    models = [(pt2e_model(False), torch.randn(5, 16), 2), (pt2e_model(), torch.randn(2, 3, 6, 6), 3),
              (QuantizeOps(), torch.randn(2, 3, 4), 6), (FakeQuant(), torch.randn(2, 3, 4), 6),
              (qat.eval(), torch.randn(2, 3, 8, 8), 5), (DynamicQuantizedLinear(), torch.randn(4, 16), 1)]
    for model, x, quantize_nodes in models:
        result = export(model, (x,), None, opset_version=NEWEST)
        onnx.checker.check_model(result.model, full_check=True)
        assert _ops(result).count("QuantizeLinear") == quantize_nodes
        assert result.model.opset_import[0].version == NEWEST


class DynamicQuantizedLinear(nn.Module):
    """PT2E dynamic quantization: the activation's parameters chosen per input at run time."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.inner = QuantizedLinear(nn.Linear(16, 8), 0.0, 0)

    def forward(self, x):
        scale, zp = qd.choose_qparams.tensor(x, -128, 127, torch.finfo(torch.float32).eps, torch.int8)
        xq = qd.quantize_per_tensor.tensor(x, scale, zp, -128, 127, torch.int8)
        xdq = qd.dequantize_per_tensor.tensor(xq, scale, zp, -128, 127, torch.int8)
        w = qd.dequantize_per_channel(self.inner.wq, self.inner.ws, self.inner.wzp, 0, -127, 127, torch.int8)
        return F.linear(xdq, w, self.inner.bias), scale, zp


@pytest.mark.parametrize("opset", [13, RUNNABLE])
def test_dynamic_quantization(opset):
    model = DynamicQuantizedLinear().eval()
    x = torch.randn(4, 16) * 2
    result, outputs, expected = _run(model, (x,), opset)
    assert _ops(result).count("DequantizeLinear") == 2
    compare(list(expected[1:]), outputs[1:], rtol=1e-6, atol=1e-9)
    _within_steps(expected[:1], outputs[:1], [float(expected[1]) * 2])

"""SPEC row autograd_inlining: with False, each torch.autograd.Function call stays one op.

Its ONNX form is the Function's ``symbolic`` staticmethod, else a conversion registered under
``onnxplug.autograd_functions.function_key(cls)``, else an UnsupportedOperatorError naming the
class and the line of the call. With True (the default) the calls are inlined.
"""

from __future__ import annotations

import threading

import onnx
import pytest
import torch

import onnxplug
from onnxplug.autograd_functions import NAMESPACE, function_key
from onnxplug.testing import export_and_compare


class Scale(torch.autograd.Function):
    """``x * alpha`` with a reference-style symbolic: a non-tensor argument as an attribute."""

    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        return x * alpha

    @staticmethod
    def backward(ctx, grad):  # pragma: no cover - export runs no backward
        return grad * 2, None

    @staticmethod
    def symbolic(g, x, alpha):
        return g.op("Mul", x, g.constant(torch.tensor(alpha, dtype=torch.float32)))


class ClampedExp(torch.autograd.Function):
    """No symbolic: needs a registered conversion."""

    @staticmethod
    def forward(ctx, x):
        return x.clamp(max=3.0).exp()


class MinMax(torch.autograd.Function):
    """Two outputs; setup_context style (forward without ctx)."""

    @staticmethod
    def forward(x, dim):
        return x.amin(dim, keepdim=True), x.amax(dim, keepdim=True)

    @staticmethod
    def setup_context(ctx, inputs, output):  # pragma: no cover - export runs no backward
        pass

    @staticmethod
    def symbolic(g, x, dim):
        axes = g.constant([dim])
        if g.opset >= 18:
            return g.op("ReduceMin", x, axes, keepdims_i=1), g.op("ReduceMax", x, axes, keepdims_i=1)
        return g.op("ReduceMin", x, axes_is=[dim], keepdims_i=1), g.op("ReduceMax", x, axes_is=[dim], keepdims_i=1)


class Mixed(torch.autograd.Function):
    """Non-tensor arguments of every carried kind: a tuple, a string, a dtype, a tensor, a float."""

    @staticmethod
    def forward(ctx, x, pair, mode, dtype, offset=None, scale=1.0):
        y = (x * pair[0] + pair[1]) if mode == "affine" else x
        if offset is not None:
            y = y + offset
        return (y * scale).to(dtype)

    @staticmethod
    def symbolic(g, x, pair, mode, dtype, offset=None, scale=1.0):
        assert isinstance(pair, tuple) and mode == "affine" and dtype is torch.float64
        y = g.op("Add", g.op("Mul", x, g.constant(float(pair[0]))), g.constant(float(pair[1])))
        if offset is not None:
            y = g.op("Add", y, offset)
        y = g.op("Mul", y, g.constant(float(scale)))
        return g.op("Cast", y, to_i=11)  # DOUBLE


def ops(result):
    return [n.op_type for n in result.model.graph.node]


def kept_keys(result):
    return [k for k in result.served if k.startswith(NAMESPACE)]


def test_symbolic_staticmethod_with_a_non_tensor_argument():
    def fn(x):
        return Scale.apply(x, 2.5) + 1

    r = export_and_compare(fn, (torch.randn(3, 4),), autograd_inlining=False)
    assert ops(r) == ["Constant", "Mul", "Constant", "Add"] or ops(r).count("Mul") == 1
    assert kept_keys(r) == [f"{NAMESPACE}::symbolic.{function_key(Scale).rsplit('.', 1)[1]}"]
    assert "onnxplug.autograd_functions.convert_with_symbolic" in r.served[kept_keys(r)[0]]


def test_function_used_twice_is_two_ops_with_their_own_arguments():
    class TwoCalls(torch.nn.Module):
        def forward(self, x):
            return Scale.apply(x, 2.0) - Scale.apply(x, -3.0)

    r = export_and_compare(TwoCalls(), (torch.randn(5),), autograd_inlining=False)
    consts = [n for n in r.model.graph.node if n.op_type == "Constant"]
    assert ops(r).count("Mul") == 2 and ops(r).count("Sub") == 1 and len(consts) == 2


def test_registered_conversion_via_custom_symbolics():
    def convert(g, x):  # called like a symbolic: forward's arguments without ctx
        return g.op("Exp", g.op("Min", x, g.constant(torch.tensor(3.0))))

    def fn(x):
        return ClampedExp.apply(x) * 2

    x = torch.randn(4, 4) * 3
    r = export_and_compare(fn, (x,), autograd_inlining=False,
                           custom_symbolics={function_key(ClampedExp): convert})
    assert "Exp" in ops(r) and "Min" in ops(r)
    assert r.served[function_key(ClampedExp)].endswith("convert")


def test_registered_conversion_via_register_symbolic():
    def convert(g, x):
        return g.op("Exp", g.op("Min", x, g.constant(torch.tensor(3.0))))

    onnxplug.register_symbolic(function_key(ClampedExp), convert)
    try:
        r = export_and_compare(lambda x: ClampedExp.apply(x), (torch.randn(6),), autograd_inlining=False)
    finally:
        onnxplug.unregister_symbolic(function_key(ClampedExp))
    assert ops(r) == ["Constant", "Min", "Exp"]


def test_no_symbolic_and_no_conversion_names_the_function_and_the_line():
    class Model(torch.nn.Module):
        def forward(self, x):
            return ClampedExp.apply(x) + 1  # THE CALL

    with pytest.raises(onnxplug.UnsupportedOperatorError) as info:
        onnxplug.export(Model(), (torch.randn(3),), autograd_inlining=False)
    message = str(info.value)
    assert "test_autograd_inlining.ClampedExp" in message
    line = next(i for i, text in enumerate(open(__file__), 1) if "# THE CALL" in text)
    assert f"test_autograd_inlining.py:{line}" in message
    assert "symbolic" in message and "autograd_inlining=True" in message


def test_two_outputs_and_setup_context_style():
    def fn(x):
        lo, hi = MinMax.apply(x, 1)
        return hi - lo

    for opset in (13, 18):
        r = export_and_compare(fn, (torch.randn(3, 5),), opset=opset, autograd_inlining=False)
        assert {"ReduceMin", "ReduceMax"} <= set(ops(r))


def test_non_tensor_arguments_reach_symbolic_as_python_values():
    def fn(x, b):
        return Mixed.apply(x, (2.0, -1.0), "affine", torch.float64, b, 0.5)

    r = export_and_compare(fn, (torch.randn(2, 3), torch.randn(3)), autograd_inlining=False)
    assert ops(r).count("Cast") == 1 and r.model.graph.output[0].type.tensor_type.elem_type == 11


def test_default_inlines_and_leaves_no_custom_op():
    def fn(x):
        return Scale.apply(x, 2.0) + ClampedExp.apply(x)

    r = export_and_compare(fn, (torch.randn(4),))
    assert not kept_keys(r) and "Exp" in ops(r)
    assert all(n.domain in ("", "ai.onnx") for n in r.model.graph.node)


def test_apply_is_restored_and_other_threads_are_not_affected():
    original = torch.autograd.Function.__dict__["apply"]
    seen = []

    class Probe(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            seen.append(threading.current_thread().name)
            return x + 1

        @staticmethod
        def symbolic(g, x):
            return g.op("Add", x, g.constant(torch.tensor(1.0)))

    r = export_and_compare(lambda x: Probe.apply(x), (torch.randn(3),), autograd_inlining=False)
    assert ops(r)[-1] == "Add"
    assert torch.autograd.Function.__dict__["apply"] is original
    x = torch.randn(3, requires_grad=True)
    y = Probe.apply(x)  # eager, after the export: a real autograd call
    assert y.grad_fn is not None and torch.equal(y, x + 1)


def test_in_place_function_cannot_be_kept():
    class AddOne(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.mark_dirty(x)
            return x.add_(1)

    with pytest.raises(onnxplug.OnnxExporterError, match="mark_dirty"):
        onnxplug.export(lambda x: AddOne.apply(x.clone()), (torch.randn(3),), autograd_inlining=False)


def test_failing_symbolic_is_named():
    class Broken(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def symbolic(g, x):
            raise ValueError("boom")

    with pytest.raises(onnxplug.OnnxExporterError, match=r"Broken\.symbolic failed: ValueError: boom"):
        onnxplug.export(lambda x: Broken.apply(x), (torch.randn(3),), autograd_inlining=False)


class SumDiff(torch.autograd.Function):
    """Two outputs, no symbolic and no conversion."""

    @staticmethod
    def forward(ctx, x, k):
        return x * k, x - k


def test_fallthrough_emits_the_function_in_its_custom_domain():
    class Model(torch.nn.Module):
        def forward(self, x):
            a, b = SumDiff.apply(x, 2.0)
            return a + b

    r = onnxplug.export(Model(), (torch.randn(3),), autograd_inlining=False,
                        operator_export_type=onnxplug.OperatorExportTypes.ONNX_FALLTHROUGH)
    onnx.checker.check_model(r.model, full_check=True)  # onnxruntime cannot run the custom node
    kept = [n for n in r.model.graph.node if n.domain == NAMESPACE]
    assert len(kept) == 1 and kept[0].op_type == "function" and len(kept[0].output) == 2
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in kept[0].attribute}
    assert attrs["overload_name"].decode() == function_key(SumDiff).rsplit(".", 1)[1]
    assert attrs["args"].decode() == '{"args":[{"tensor":0},2.0],"kwargs":{}}'
    assert {o.domain: o.version for o in r.model.opset_import}[NAMESPACE] == 1


def test_fallthrough_keeps_a_one_output_function_as_one_node():
    """A one-output Function is kept as an op returning a one-element list (``Tensor[]``): the
    custom node's one output is that list's element."""

    class Model(torch.nn.Module):
        def forward(self, x):
            return ClampedExp.apply(x) + 1

    x = torch.randn(2, 3)
    r = onnxplug.export(Model(), (x,), autograd_inlining=False,
                        operator_export_type=onnxplug.OperatorExportTypes.ONNX_FALLTHROUGH)
    onnx.checker.check_model(r.model, full_check=True)
    (kept,) = [n for n in r.model.graph.node if n.domain == NAMESPACE]
    assert kept.op_type == "function" and len(kept.output) == 1
    (add,) = [n for n in r.model.graph.node if n.op_type == "Add"]
    assert add.input[0] == kept.output[0]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in kept.attribute}
    assert attrs["overload_name"].decode() == function_key(ClampedExp).rsplit(".", 1)[1]
    # onnxruntime cannot run the custom node: give it the Function's meaning and run the model
    func = onnx.helper.make_function(
        NAMESPACE, "function", ["x"], ["y"],
        [onnx.helper.make_node("Constant", [], ["m"], value_float=3.0),
         onnx.helper.make_node("Min", ["x", "m"], ["c"]),
         onnx.helper.make_node("Exp", ["c"], ["y"])],
        [onnx.helper.make_opsetid("", r.model.opset_import[0].version)])
    model = onnx.ModelProto()
    model.CopyFrom(r.model)
    for n in model.graph.node:
        if n.domain == NAMESPACE:
            del n.attribute[:]
    model.functions.append(func)
    from onnxplug.verify import run_onnxruntime

    (y,) = run_onnxruntime(model, [x])
    torch.testing.assert_close(torch.from_numpy(y), Model()(x))


def test_strict_fallback_inlines_with_a_warning():
    class OnlyStrict(torch.nn.Module):
        """Non-strict torch.export fails here; strict (TorchDynamo) takes the other branch."""

        def forward(self, x):
            y = Scale.apply(x, 2.0)
            if not torch.compiler.is_dynamo_compiling():
                raise RuntimeError("this model only captures in strict mode")
            return y

    x = torch.randn(3)
    r = onnxplug.export(OnlyStrict(), (x,), autograd_inlining=False)
    onnx.checker.check_model(r.model, full_check=True)
    assert not kept_keys(r) and "Mul" in ops(r)
    assert any("autograd_inlining=False was not honoured" in w and "Scale" in w for w in r.warnings)
    onnx_out = onnxplug.verify.run_onnxruntime(r.model, [x])[0]
    assert torch.allclose(torch.from_numpy(onnx_out), x * 2.0)


def test_eager_calls_in_another_thread_during_the_capture_stay_autograd_calls():
    stop, results = threading.Event(), []

    def eager_loop():
        x = torch.randn(3, requires_grad=True)
        while not stop.is_set():
            y = Scale.apply(x, 2.0)
            results.append(y.grad_fn is not None and torch.equal(y, x * 2.0))

    worker = threading.Thread(target=eager_loop)
    worker.start()
    try:
        r = export_and_compare(lambda x: Scale.apply(x, 3.0), (torch.randn(4),), autograd_inlining=False)
    finally:
        stop.set()
        worker.join()
    assert kept_keys(r) and results and all(results)

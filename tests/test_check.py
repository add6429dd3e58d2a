"""The checker runs on a weight-free copy of the model and keeps the checker's guarantees."""

from __future__ import annotations

import numpy as np
import onnx
import onnx_ir as ir
import pytest
import torch

import onnxplug
from onnxplug import serialize
from onnxplug.check import check_model
from onnxplug.testing import assert_matches
from onnxplug.verify import run_onnxruntime

BIG = (32, 32)  # 4 KiB of float32: above serialize.EXTERNAL_THRESHOLD


def _value(name, dtype, shape):
    return ir.Value(name=name, type=ir.TensorType(dtype), shape=ir.Shape(shape))


def _initializer(graph, name, array):
    v = ir.Value(name=name, const_value=ir.tensor(array, name=name),
                 type=ir.TensorType(ir.DataType.FLOAT), shape=ir.Shape(array.shape))
    graph.register_initializer(v)
    return v


def _if_model(rng):
    """y = cond ? x @ W_then + C : x @ W_else, with W_* initializers of the branches and C the
    value of a big Constant node in the main graph."""
    x = _value("x", ir.DataType.FLOAT, [2, 32])
    cond = _value("cond", ir.DataType.BOOL, [])
    arrays = {k: rng.standard_normal(BIG).astype(np.float32) for k in ("then", "else", "const")}
    branches = {}
    for key in ("then", "else"):
        graph = ir.Graph([], [], nodes=[], name=f"{key}_branch")
        w = _initializer(graph, f"w_{key}", arrays[key])
        matmul = ir.node("MatMul", [x, w])
        out = matmul.outputs[0]
        out.name, out.dtype, out.shape = f"y_{key}", ir.DataType.FLOAT, ir.Shape([2, 32])
        graph.append(matmul)
        graph.outputs.append(out)
        branches[key] = graph
    const = ir.node("Constant", [], attributes={"value": ir.tensor(arrays["const"], name="c")})
    c = const.outputs[0]
    c.name, c.dtype, c.shape = "c", ir.DataType.FLOAT, ir.Shape(list(BIG))
    branch = ir.node("If", [cond], attributes={"then_branch": branches["then"],
                                               "else_branch": branches["else"]})
    b = branch.outputs[0]
    b.name, b.dtype, b.shape = "b", ir.DataType.FLOAT, ir.Shape([2, 32])
    add = ir.node("MatMul", [b, c])
    y = add.outputs[0]
    y.name, y.dtype, y.shape = "y", ir.DataType.FLOAT, ir.Shape([2, 32])
    main = ir.Graph([x, cond], [y], nodes=[const, branch, add], name="main",
                    opset_imports={"": 17})
    return ir.Model(main, ir_version=8), arrays


def _tensors(proto):
    """Every TensorProto of a model: initializers and tensor attributes, subgraphs included."""
    def graph_tensors(graph):
        yield from graph.initializer
        for node in graph.node:
            for attr in node.attribute:
                if attr.HasField("t"):
                    yield attr.t
                yield from attr.tensors
                if attr.HasField("g"):
                    yield from graph_tensors(attr.g)
                for g in attr.graphs:
                    yield from graph_tensors(g)
    yield from graph_tensors(proto.graph)


def test_weightless_copy_has_no_large_tensor_anywhere():
    model, _ = _if_model(np.random.default_rng(0))
    before = {v.name: v.const_value for g in model.graphs() for v in g.initializers.values()}
    skeleton = serialize.weightless(model, scope="everything")
    tensors = list(_tensors(skeleton.proto))
    assert {t.name for t in tensors} == {"w_then", "w_else", "c"}
    for t in tensors:
        assert t.data_location == onnx.TensorProto.EXTERNAL and not t.raw_data
        assert list(t.dims) == list(BIG) and t.data_type == onnx.TensorProto.FLOAT
    # the model is as it was: the same tensor objects, the Constant's value included
    after = {v.name: v.const_value for g in model.graphs() for v in g.initializers.values()}
    assert all(after[k] is before[k] for k in before)
    const = next(n for n in model.graph if n.op_type == "Constant")
    assert isinstance(const.attributes["value"].value, ir.Tensor)


@pytest.mark.parametrize("external", [False, True])
def test_weightless_check_passes_and_the_model_runs(tmp_path, external):
    """Streamed to one file or to external data (subgraph initializers included), the model
    with subgraphs and a big Constant loads, passes the full checker and runs."""
    rng = np.random.default_rng(0)
    model, arrays = _if_model(rng)
    check_model(model)
    serialize.save(model, tmp_path / "if.onnx", external=external)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["if.onnx"] + ["if.onnx.data"] * external
    onnx.checker.check_model(onnx.load(str(tmp_path / "if.onnx")), full_check=True)
    if external:
        skeleton = onnx.load(str(tmp_path / "if.onnx"), load_external_data=False)
        outside = [t.name for t in _tensors(skeleton) if t.data_location == onnx.TensorProto.EXTERNAL]
        assert sorted(outside) == ["w_else", "w_then"]  # Constant values stay in the proto
    x = rng.standard_normal((2, 32)).astype(np.float32)
    for flag, key in ((True, "then"), (False, "else")):
        got = run_onnxruntime(str(tmp_path / "if.onnx"), [x, np.array(flag)])[0]
        np.testing.assert_allclose(got, x @ arrays[key] @ arrays["const"], rtol=1e-4, atol=1e-4)


def test_wrong_typed_input_is_rejected(mlp):
    result = onnxplug.export(mlp, (torch.randn(2, 4),), None)
    check_model(result.ir_model)
    result.ir_model.graph.inputs[0].dtype = ir.DataType.INT64
    with pytest.raises(onnxplug.CheckerError, match="checker rejected"):
        check_model(result.ir_model)


def test_shapes_of_replaced_weights_are_still_inferred():
    """A MatMul whose (replaced) weight has the wrong inner dimension is caught by shape
    inference: the placeholder keeps dtype and shape."""
    x = _value("x", ir.DataType.FLOAT, [2, 16])
    graph = ir.Graph([x], [], nodes=[], name="g", opset_imports={"": 17})
    w = _initializer(graph, "w", np.zeros(BIG, np.float32))
    matmul = ir.node("MatMul", [x, w])
    y = matmul.outputs[0]
    y.name, y.dtype, y.shape = "y", ir.DataType.FLOAT, ir.Shape([2, 32])
    graph.append(matmul)
    graph.outputs.append(y)
    with pytest.raises(onnxplug.CheckerError, match="MatMul"):
        check_model(ir.Model(graph, ir_version=8))


def test_small_shape_tensors_stay_inline_for_shape_inference():
    """Reshape's shape is read by shape inference: it stays in the checked copy."""
    x = _value("x", ir.DataType.FLOAT, [4, 256])
    graph = ir.Graph([x], [], nodes=[], name="g", opset_imports={"": 17})
    shape = ir.Value(name="shape", const_value=ir.tensor(np.array([2, -1], np.int64), name="shape"),
                     type=ir.TensorType(ir.DataType.INT64), shape=ir.Shape([2]))
    graph.register_initializer(shape)
    reshape = ir.node("Reshape", [x, shape])
    y = reshape.outputs[0]
    y.name, y.dtype, y.shape = "y", ir.DataType.FLOAT, ir.Shape([2, 999])  # wrong: 512
    graph.append(reshape)
    graph.outputs.append(y)
    with pytest.raises(onnxplug.CheckerError, match="Reshape|shape|999"):
        check_model(ir.Model(graph, ir_version=8))


def test_tensor_with_too_few_bytes_is_rejected():
    """The full checker rejects raw data shorter than dtype and shape need; so does the
    weight-free check, on the tensor's storage."""
    x = _value("x", ir.DataType.FLOAT, [2, 32])
    graph = ir.Graph([x], [], nodes=[], name="g", opset_imports={"": 17})
    short = ir.Tensor(np.zeros(1000, np.float32), shape=ir.Shape(list(BIG)), name="w")
    w = ir.Value(name="w", const_value=short, type=ir.TensorType(ir.DataType.FLOAT),
                 shape=ir.Shape(list(BIG)))
    graph.register_initializer(w)
    matmul = ir.node("MatMul", [x, w])
    y = matmul.outputs[0]
    y.name, y.dtype, y.shape = "y", ir.DataType.FLOAT, ir.Shape([2, 32])
    graph.append(matmul)
    graph.outputs.append(y)
    model = ir.Model(graph, ir_version=8)
    with pytest.raises(onnx.checker.ValidationError, match="too small"):
        onnx.checker.check_model(serialize.to_proto(model), full_check=True)
    with pytest.raises(onnxplug.CheckerError, match="4096"):
        check_model(model)


def test_weightless_and_full_check_agree_on_an_export(tmp_path, mixed):
    model = mixed
    x = torch.randn(3, 64)
    result = onnxplug.export(model, (x,), tmp_path / "m.onnx")
    check_model(result.ir_model)
    onnx.checker.check_model(result.model, full_check=True)
    assert_matches(model, (x,), run_onnxruntime(str(tmp_path / "m.onnx"), [x]))


def test_empty_and_string_tensors_stay_inline(tmp_path):
    """A zero-element initializer (Concat with nothing) is written inline, as serde would, and
    the streamed file loads, passes the checker and runs."""
    x = _value("x", ir.DataType.FLOAT, [2, 32])
    graph = ir.Graph([x], [], nodes=[], name="g", opset_imports={"": 17})
    empty = _initializer(graph, "empty", np.zeros((0, 32), np.float32))
    big = _initializer(graph, "big", np.ones((2, 32), np.float32) * 3)
    cat = ir.node("Concat", [x, empty, big], attributes={"axis": 0})
    y = cat.outputs[0]
    y.name, y.dtype, y.shape = "y", ir.DataType.FLOAT, ir.Shape([4, 32])
    graph.append(cat)
    graph.outputs.append(y)
    model = ir.Model(graph, ir_version=8)
    check_model(model)
    serialize.save(model, tmp_path / "m.onnx", external=False)
    proto = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    xs = np.arange(64, dtype=np.float32).reshape(2, 32)
    got = run_onnxruntime(str(tmp_path / "m.onnx"), [xs])[0]
    np.testing.assert_array_equal(got, np.concatenate([xs, np.full((2, 32), 3, np.float32)]))

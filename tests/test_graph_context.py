"""GraphContext: output types inferred from the operator schemas, the public view of the op being
converted, and the lowering helpers a conversion call goes through (schema_args, op keys)."""

from __future__ import annotations

import operator

import numpy as np
import onnx_ir as ir
import pytest
import torch

import onnxplug
from onnxplug.errors import OnnxExporterError
from onnxplug.graph import GraphContext, infer_output_types, type_plan
from onnxplug.lowering import inplace_functional_key, op_key, schema_args
from onnxplug.options import ExportOptions
from onnxplug.testing import export_and_compare

F, I64, BOOL = ir.DataType.FLOAT, ir.DataType.INT64, ir.DataType.BOOL


def context(opset: int = 17) -> GraphContext:
    graph = ir.Graph([], [], nodes=[], name="g")
    return GraphContext(graph, opset, ExportOptions(opset_version=opset))


def value(name: str, dtype: ir.DataType | None) -> ir.Value:
    return ir.Value(name=name, type=ir.TensorType(dtype) if dtype is not None else None)


# -- inference rules -------------------------------------------------------------------------
def test_shared_type_variable_takes_the_input_type():
    g = context()
    x = value("x", ir.DataType.DOUBLE)
    assert g.op("Add", x, x).dtype == ir.DataType.DOUBLE
    assert g.op("Relu", x).dtype == ir.DataType.DOUBLE
    cond, y = value("c", BOOL), value("y", ir.DataType.INT32)
    assert g.op("Where", cond, y, y).dtype == ir.DataType.INT32  # X's T, not the condition's B
    parts = g.op("Split", x, axis_i=0, outputs=3)
    assert [p.dtype for p in parts] == [ir.DataType.DOUBLE] * 3  # a homogeneous variadic output


def test_type_variable_from_a_later_input():
    g = context()
    assert g.op("CastLike", value("x", F), value("t", ir.DataType.INT8)).dtype == ir.DataType.INT8


def test_fixed_constraint_gives_its_type():
    g = context()
    x = value("x", F)
    assert g.op("Equal", x, x).dtype == BOOL
    assert g.op("Shape", x).dtype == I64
    assert g.op("ArgMax", x, axis_i=0).dtype == I64  # written out in the schema
    vals, idx = g.op("TopK", x, g.constant([2]), axis_i=-1, outputs=2)
    assert (vals.dtype, idx.dtype) == (F, I64)


def test_unknown_input_type_leaves_the_output_untyped():
    g = context()
    assert g.op("Neg", value("x", None)).dtype is None
    assert g.op("Not", value("x", None)).dtype == BOOL  # the constraint allows bool only


def test_cast_to_attribute():
    g = context()
    assert g.op("Cast", value("x", F), to_i=ir.DataType.INT32).dtype == ir.DataType.INT32
    assert g.op("Cast", value("x", F), to=int(ir.DataType.BOOL)).dtype == BOOL


def test_constant_of_shape_value():
    g = context()
    shape = g.constant([2, 3])
    assert g.op("ConstantOfShape", shape, value_t=torch.tensor([1], dtype=torch.int64)).dtype == I64
    assert g.op("ConstantOfShape", shape).dtype == F  # the default value is float 0


def test_dtype_attributes_of_random_and_eye_like_ops():
    g = context(17)
    x = value("x", ir.DataType.DOUBLE)
    assert g.op("RandomNormal", shape_is=[2]).dtype == F
    assert g.op("RandomUniform", shape_is=[2], dtype_i=int(ir.DataType.DOUBLE)).dtype == ir.DataType.DOUBLE
    assert g.op("RandomUniformLike", x).dtype == ir.DataType.DOUBLE  # no dtype: the input's
    assert g.op("RandomNormalLike", x, dtype_i=int(ir.DataType.FLOAT16)).dtype == ir.DataType.FLOAT16
    assert g.op("EyeLike", x, dtype_i=int(ir.DataType.INT64)).dtype == I64
    assert g.op("Multinomial", value("p", F)).dtype == ir.DataType.INT32


def test_constant_value_attributes():
    g = context()
    assert g.op("Constant", value_t=np.zeros(2, np.int32)).dtype == ir.DataType.INT32
    assert g.op("Constant", value_float=1.5).dtype == F
    assert g.op("Constant", value_ints=[1, 2]).dtype == I64


def test_quantize_linear_output_type():
    g = context(13)
    x, scale = value("x", F), value("s", F)
    assert g.op("QuantizeLinear", x, scale).dtype == ir.DataType.UINT8
    assert g.op("QuantizeLinear", x, scale, value("z", ir.DataType.INT8)).dtype == ir.DataType.INT8


def test_control_flow_outputs_follow_the_body_graph():
    g = context()
    sub = g.subgraph("then")
    then_graph = sub.finish(sub.op("Cast", g.constant([1.0]), to_i=ir.DataType.INT64))
    other = g.subgraph("else")
    else_graph = other.finish(other.op("Cast", g.constant([2.0]), to_i=ir.DataType.INT64))
    out = g.op("If", value("c", BOOL), then_branch=then_graph, else_branch=else_graph)
    assert out.dtype == I64


def test_schema_of_the_target_opset():
    assert g_op_type(context(17), "Gelu") is None  # Gelu is a standard op from opset 20
    assert g_op_type(context(20), "Gelu") == F


def g_op_type(g: GraphContext, op_type: str):
    return g.op(op_type, value("x", F)).dtype


def test_explicit_dtype_overrides():
    g = context()
    x = value("x", F)
    assert g.op("Add", x, x, dtype=torch.float16).dtype == ir.DataType.FLOAT16
    a, b = g.op("TopK", x, g.constant([1]), outputs=2, dtype=torch.float64)  # every output
    assert a.dtype == b.dtype == ir.DataType.DOUBLE


def test_custom_domain_without_schema_keeps_the_declared_type():
    g = context()
    x = value("x", F)
    assert g.op("com.example::Thing", x).dtype is None
    assert g.op("com.example::Thing", x, dtype=torch.int32).dtype == ir.DataType.INT32
    assert g.domains["com.example"] == 1


def test_schema_lookups_are_cached():
    before = type_plan.cache_info().hits
    g = context()
    x = value("x", F)
    for _ in range(3):
        g.op("Mul", x, x)
    assert type_plan.cache_info().hits >= before + 2
    plan = type_plan("", "Mul", 17)
    assert plan is type_plan("", "Mul", 17) and plan.outputs == ("T",)
    assert type_plan("com.example", "Thing", 1) is None


def test_infer_output_types_on_a_bare_node():
    node = ir.Node("", "Less", [value("a", ir.DataType.INT32), value("b", ir.DataType.INT32)])
    assert infer_output_types(node, 17) == [BOOL]


# -- the op being converted, through the public API -----------------------------------------------
def test_public_view_of_the_fx_node():
    seen = {}

    def topk(g, x, k, dim=-1, largest=True, sorted=True):
        seen.update(count=g.out_count(), used=(g.out_used(0), g.out_used(1)), target=g.target_name(),
                    arg=g.arg_val(0), k=g.arg_val(1), missing=g.arg_val(9),
                    out=(g.out_dtype(0), g.out_dtype(1), g.out_shape(1)), val=g.out_val(1))
        vals, idx = g.op("TopK", x, g.constant([k]), axis_i=dim, largest_i=int(largest), outputs=2)
        return vals, idx

    result = export_and_compare(lambda x: torch.topk(x, 2).values * 2, (torch.randn(3, 5),),
                                custom_symbolics={"aten::topk": topk})
    assert result.served["aten::topk.default"].endswith("topk")
    assert seen["count"] == 2 and seen["used"] == (True, False)
    assert seen["target"] == "aten.topk.default"
    assert isinstance(seen["arg"], torch.Tensor) and tuple(seen["arg"].shape) == (3, 5)
    assert seen["k"] == 2 and seen["missing"] is None
    assert seen["out"] == (torch.float32, torch.int64, (3, 2))
    assert seen["val"].dtype == torch.int64

    seen.clear()
    export_and_compare(lambda x: torch.topk(x, 2), (torch.randn(3, 5),), custom_symbolics={"aten::topk": topk})
    assert seen["used"] == (True, True)


def test_single_output_count_and_use():
    seen = {}

    def relu(g, x):
        seen.update(count=g.out_count(), used=g.out_used(0), list_arg=None)
        return g.op("Relu", x)

    def cat(g, tensors, dim=0):
        seen["list_arg"] = g.arg_val(0)
        return g.op("Concat", *tensors, axis_i=dim)

    export_and_compare(lambda x, y: torch.cat([torch.relu(x), y]), (torch.randn(2, 3), torch.randn(1, 3)),
                       custom_symbolics={"aten::relu": relu, "aten::cat": cat})
    assert seen["count"] == 1 and seen["used"] is True
    assert [tuple(v.shape) for v in seen["list_arg"]] == [(2, 3), (1, 3)]


def test_outside_a_conversion_nothing_is_known():
    g = context()
    assert g.out_count() is None and g.out_val() is None and g.out_dtype() is None
    assert g.arg_val(0) is None and g.target_name() == "" and g.out_used(0) is True
    assert not hasattr(g, "fx_node")


# -- the final outputs are checked against PyTorch's dtype ------------------------------------------
def _wrong_relu(g, x):
    return g.op("Relu", x, dtype=torch.int64)  # the value is float; the declared type is not


def test_a_wrong_output_type_fails_loudly_in_tests(monkeypatch):
    monkeypatch.setenv("ONNXPLUG_CHECK_TYPES", "1")
    with pytest.raises(OnnxExporterError, match=r"aten::relu.*_wrong_relu.*INT64.*torch\.float32"):
        onnxplug.export(lambda x: torch.relu(x) + 1, (torch.randn(2, 3),),
                        custom_symbolics={"aten::relu": _wrong_relu})


def test_a_wrong_output_type_is_relabelled_outside_tests(monkeypatch):
    monkeypatch.delenv("ONNXPLUG_CHECK_TYPES", raising=False)
    export_and_compare(lambda x: torch.relu(x) + 1, (torch.randn(2, 3),),
                       custom_symbolics={"aten::relu": _wrong_relu})


def test_inferred_types_export_without_dtype_arguments():
    def hardtanh(g, x, lo=-1.0, hi=1.0):
        big = g.op("Greater", x, g.constant(hi))
        y = g.op("Where", big, g.constant(hi), x)
        return g.op("Max", y, g.constant(lo))

    result = export_and_compare(lambda x: torch.nn.functional.hardtanh(x, -0.5, 0.5) * 3,
                                (torch.randn(4, 4),), custom_symbolics={"aten::hardtanh": hardtanh})
    assert result.served["aten::hardtanh.default"].endswith("hardtanh")


# -- schema_args and the op keys ------------------------------------------------------------------
def test_schema_args_fills_defaults_and_keyword_only_arguments():
    x = object()
    pos, kw, is_default = schema_args(torch.ops.aten.add.Tensor, (x, 2), {})
    assert pos == [x, 2] and is_default == [False, False]
    assert kw == {("alpha", "default"): 1}
    pos, kw, is_default = schema_args(torch.ops.aten.add.Tensor, (x,), {"other": 3, "alpha": 2})
    assert pos == [x, 3] and is_default == [False, False] and kw == {"alpha": 2}
    pos, kw, is_default = schema_args(torch.ops.aten.sum.dim_IntList, (x, [1]), {})
    assert pos == [x, [1], False] and is_default == [False, False, True]
    assert kw == {("dtype", "default"): None}


def test_schema_args_without_a_schema_passes_through():
    pos, kw, is_default = schema_args(operator.mul, (1, 2), {"k": 3})
    assert pos == [1, 2] and kw == {"k": 3} and is_default == [False, False]


def test_op_key():
    assert op_key(torch.ops.aten.add.Tensor) == "aten::add.Tensor"
    assert op_key(torch.ops.aten.relu.default) == "aten::relu.default"
    assert op_key(operator.getitem) == "_operator::getitem"
    assert op_key(torch.ops.higher_order.cond) == "higher_order::cond"
    assert op_key(torch.nn.functional.relu) == "torch_nn_functional::relu"


def test_inplace_functional_key():
    assert inplace_functional_key("aten::add_.Tensor") == "aten::add.Tensor"
    assert inplace_functional_key("aten::relu_") == "aten::relu"
    assert inplace_functional_key("aten::add.Tensor") is None
    assert inplace_functional_key("aten::__iand__.Tensor") is None  # dunder, not in-place form
    assert inplace_functional_key("aten::_private_.x") is None

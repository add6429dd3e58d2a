"""SPEC row operator_export_type=ONNX_ATEN: every ATen op is an ``ATen`` node in org.pytorch.aten.

onnxruntime cannot run ATen nodes, so these tests read the saved file: onnx.checker accepts it,
each node carries ``operator``/``overload_name``, tensor arguments are inputs in schema order,
non-tensor arguments typed attributes, output types come from PyTorch, and initializers are
graph inputs (keep_initializers_as_inputs=None follows the export type).
"""

from __future__ import annotations

import warnings

import onnx
import pytest
import torch
from onnx import helper

import onnxplug
from onnxplug import OperatorExportTypes

ATEN = OperatorExportTypes.ONNX_ATEN


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)

    def forward(self, x):
        u, s, _ = torch.linalg.svd(self.fc(x))
        return torch.relu(u) + 1, s.sum(0, keepdim=True)


def saved(tmp_path, model, args, **kw):
    path = tmp_path / "m.onnx"
    onnxplug.export(model, args, path, **kw)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def aten_nodes(proto):
    """``{operator: (node, attributes)}`` for the ATen nodes of the graph."""
    out = {}
    for n in proto.graph.node:
        if n.domain == "org.pytorch.aten":
            assert n.op_type == "ATen"
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            out[attrs["operator"].decode()] = (n, attrs)
    return out


def test_every_aten_op_is_an_aten_node(tmp_path):
    torch.manual_seed(0)
    proto = saved(tmp_path, Block().eval(), (torch.randn(4, 4),), operator_export_type=ATEN)
    imports = {o.domain: o.version for o in proto.opset_import}
    assert imports == {"": 17, "org.pytorch.aten": 1}
    nodes = aten_nodes(proto)
    assert set(nodes) == {"linear", "linalg_svd", "relu", "add", "sum"}
    # the only standard nodes are the constants of Python-number arguments
    assert {(n.domain, n.op_type) for n in proto.graph.node} - {("org.pytorch.aten", "ATen")} \
        == {("", "Constant")}
    linear, attrs = nodes["linear"]
    assert list(linear.input) == ["x", "fc.weight", "fc.bias"]  # tensors, in schema order
    assert attrs["overload_name"] == b""
    _, attrs = nodes["linalg_svd"]
    assert attrs["full_matrices"] == 1 and "driver" not in attrs  # bool as int, None omitted
    assert len(nodes["linalg_svd"][0].output) == 3
    _, attrs = nodes["add"]
    assert attrs["overload_name"] == b"Tensor" and attrs["alpha"] == 1
    _, attrs = nodes["sum"]
    assert attrs["overload_name"] == b"dim_IntList"
    assert attrs["dim"] == [0] and attrs["keepdim"] == 1  # an int list, a bool


def test_attribute_types_follow_the_schema(tmp_path):
    def fn(x):
        return torch.nn.functional.leaky_relu(x, 0.25), x.to(torch.float64), x.flip([0, 1])

    proto = saved(tmp_path, fn, (torch.randn(2, 3),), operator_export_type=ATEN)
    types = {a.name: a.type for n in proto.graph.node for a in n.attribute}
    nodes = aten_nodes(proto)
    assert nodes["leaky_relu"][1]["negative_slope"] == pytest.approx(0.25)
    assert types["negative_slope"] == onnx.AttributeProto.FLOAT
    assert nodes["flip"][1]["dims"] == [0, 1] and types["dims"] == onnx.AttributeProto.INTS
    (to_node, to_attrs), = [v for k, v in nodes.items() if k.startswith("_to_copy") or k == "to"]
    assert to_attrs["dtype"] == onnx.TensorProto.DOUBLE  # a dtype: its ONNX data type


def test_output_types_come_from_pytorch(tmp_path):
    torch.manual_seed(0)
    proto = saved(tmp_path, Block().eval(), (torch.randn(4, 4),), operator_export_type=ATEN)
    outs = [(o.type.tensor_type.elem_type, [d.dim_value for d in o.type.tensor_type.shape.dim])
            for o in proto.graph.output]
    assert outs == [(onnx.TensorProto.FLOAT, [4, 4]), (onnx.TensorProto.FLOAT, [1])]
    svd = aten_nodes(proto)["linalg_svd"][0]
    typed = {v.name: v.type.tensor_type for v in proto.graph.value_info}
    assert [[d.dim_value for d in typed[o].shape.dim] for o in svd.output if o in typed][:1] \
        == [[4, 4]]


def test_tensor_lists_in_place_ops_and_dynamic_sizes(tmp_path):
    def fn(x, y):
        z = torch.cat([x, y], 1)
        w = x.clone()
        w.add_(1)
        return z.view(z.shape[0], -1, 2), w

    proto = saved(tmp_path, fn, (torch.randn(2, 4), torch.randn(2, 4)), operator_export_type=ATEN,
                  input_names=["x", "y"], dynamic_axes={"x": {0: "b"}, "y": {0: "b"}})
    nodes = aten_nodes(proto)
    assert list(nodes["cat"][0].input) == ["x", "y"] and nodes["cat"][1]["dim"] == 1
    assert "add_" not in nodes and nodes["add"][1]["overload_name"] == b"Tensor"  # functional
    view, attrs = nodes["view"]
    assert len(view.input) == 2 and "size" not in attrs  # a run-time size is an int64 input
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "b"


def test_initializers_are_inputs_unless_asked_otherwise(tmp_path):
    torch.manual_seed(0)
    proto = saved(tmp_path, Block().eval(), (torch.randn(4, 4),), operator_export_type=ATEN)
    assert [i.name for i in proto.graph.input] == ["x", "fc.weight", "fc.bias"]
    proto = saved(tmp_path, Block().eval(), (torch.randn(4, 4),), operator_export_type=ATEN,
                  keep_initializers_as_inputs=False)
    assert [i.name for i in proto.graph.input] == ["x"]


def test_custom_symbolics_still_win(tmp_path):
    def relu(g, x):
        return g.op("Relu", x)

    proto = saved(tmp_path, lambda x: torch.relu(x) * 2, (torch.randn(3),),
                  operator_export_type=ATEN, custom_symbolics={"aten::relu": relu})
    assert ("", "Relu") in {(n.domain, n.op_type) for n in proto.graph.node}
    assert set(aten_nodes(proto)) == {"mul"}


def test_verify_is_skipped_with_a_warning(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = onnxplug.export(torch.nn.ReLU(), (torch.randn(3),), operator_export_type=ATEN,
                            verify=True)
    assert any("verify=True skipped" in str(w.message) for w in caught)
    assert any("aten::relu.default" in note for note in r.warnings)


@pytest.mark.parametrize("bad", ["ONNX_ATEN", "onnx_aten", 7, -1, True, 1.0, None])
def test_bad_export_type_fails_before_any_work(tmp_path, bad):
    calls = []

    class Spy(torch.nn.Module):
        def forward(self, x):
            calls.append(1)
            return x + 1

    with pytest.raises(onnxplug.OptionError, match="operator_export_type must be one of"):
        onnxplug.export(Spy(), (torch.randn(2),), tmp_path / "m.onnx", operator_export_type=bad)
    assert calls == [] and not (tmp_path / "m.onnx").exists()

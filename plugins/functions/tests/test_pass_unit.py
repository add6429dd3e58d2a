"""The pass on hand-built graphs: calls that cannot be contracted, and naming rules."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import onnx
import onnx_ir as ir
import onnxruntime as ort

from onnxplug.options import ExportOptions
from onnxplug.passes import PassContext
from onnxplug_functions.extract import export_modules_as_functions
from onnxplug_functions.naming import FunctionNames, identifier

STACK_A = {"L__self__a": ("a", "pkg.mod.A")}


def _node(op, inputs, fx, graph):
    n = ir.Node("", op, inputs, num_outputs=1)
    n.meta["fx_node"] = fx
    graph.append(n)
    return n.outputs[0]


def _model():
    """a1 = Relu(x) [in a]; b = Neg(a1) [root]; a2 = Add(a1, b) [in a]; y = a2."""
    x = ir.Value(name="x", type=ir.TensorType(ir.DataType.FLOAT), shape=ir.Shape([3]))
    g = ir.Graph([x], [], nodes=[], name="main", opset_imports={"": 17})
    a1 = _node("Relu", [x], "relu", g)
    b = _node("Neg", [a1], "neg", g)
    a2 = _node("Add", [a1, b], "add", g)
    a2.name, a2.type, a2.shape = "y", ir.TensorType(ir.DataType.FLOAT), ir.Shape([3])
    g.outputs.append(a2)
    fx = {"relu": SimpleNamespace(meta={"nn_module_stack": STACK_A}),
          "neg": SimpleNamespace(meta={"nn_module_stack": {}}),
          "add": SimpleNamespace(meta={"nn_module_stack": STACK_A})}
    return ir.Model(g, ir_version=8), fx


def test_a_call_whose_value_flows_out_and_back_stays_flat():
    model, fx = _model()
    context = PassContext(ExportOptions(export_modules_as_functions=True), None, fx, None)
    export_modules_as_functions(model, context)
    assert not model.functions
    assert [n.op_type for n in model.graph] == ["Relu", "Neg", "Add"]
    assert any("stays as plain nodes" in note and "'a'" in note for note in context.notes)


def test_type_name_only_gives_domain_and_name():
    model, fx = _model()
    fx["neg"].meta["nn_module_stack"] = STACK_A  # now the whole graph is one call of `a`
    context = PassContext(ExportOptions(export_modules_as_functions=True), None, fx, None)
    export_modules_as_functions(model, context)
    (fn,) = model.functions.values()
    assert (fn.domain, fn.name) == ("pkg.mod", "A")
    proto = ir.serde.serialize_model(model)
    onnx.checker.check_model(proto, full_check=True)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.array([-1.0, 0.5, 2.0], np.float32)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], np.maximum(x, 0) * 0)


def test_identifiers():
    assert identifier("3d-conv") == "_3d_conv"
    assert identifier("<lambda>") == "_lambda_"
    assert identifier("__main__") == "__main__"
    names = FunctionNames({("d", "Block")})
    assert names.allocate("d", "Block") == ("d", "Block_1")
    assert names.allocate("d", "Block") == ("d", "Block_2")
    assert names.allocate("e", "Block") == ("e", "Block")

"""``Constant`` nodes of the main graph become initializers.

A ``Constant`` node and an initializer hold the same tensor; onnxruntime turns the former into
the latter when it loads the model, so the graph runs the same. The node, though, counts as one
more node, and the conversions write many (shapes, axes, scalars). Initializers are also what
``deduplicate_initializers`` merges, so equal constants end up as one tensor.

Lifted: the main graph's default-domain ``Constant`` nodes with one of ``value``,
``value_int(s)``, ``value_float(s)``. Left alone: constants inside subgraphs (``If``/``Loop``
bodies) and local functions (a function has no initializers), a ``Constant`` whose output is a
graph output (its name is part of the interface), and everything when initializers become graph
inputs (``keep_initializers_as_inputs``, and below opset 9 where ONNX requires that): a lifted
constant would then be an input a caller could override.
"""

from __future__ import annotations

import onnx_ir as ir

from .rewrite import ExportPass, initializers_are_constant, is_default_domain


class LiftConstantsPass(ExportPass):
    """Replace the main graph's ``Constant`` nodes by initializers holding their tensors."""

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        if not initializers_are_constant(self.options) or self.options.opset_version < 9:
            return ir.passes.PassResult(model, modified=False)
        graph = model.graph
        modified = False
        taken = {v.name for v in graph.inputs} | set(graph.initializers)
        for node in list(graph):
            if node.op_type != "Constant" or not is_default_domain(node) or len(node.attributes) != 1:
                continue
            out = node.outputs[0]
            if out.is_graph_output():
                continue
            tensor = _tensor(node)
            if tensor is None:
                continue
            name = out.name or "const"
            unique, k = name, 0
            while unique in taken:
                k += 1
                unique = f"{name}_{k}"
            taken.add(unique)
            tensor.name = unique
            value = ir.Value(name=unique, type=ir.TensorType(tensor.dtype), shape=ir.Shape(tensor.shape),
                             const_value=tensor, metadata_props=out.metadata_props.copy())
            value.meta.update(out.meta)
            graph.register_initializer(value)
            out.replace_all_uses_with(value)
            graph.remove(node, safe=True)
            modified = True
        return ir.passes.PassResult(model, modified=modified)


def _tensor(node: ir.Node) -> ir.TensorProtocol | None:
    name, attr = next(iter(node.attributes.items()))
    if name == "value" and attr.type == ir.AttributeType.TENSOR:
        tensor = attr.as_tensor()
        if isinstance(tensor, ir.StringTensor) or tensor.dtype == ir.DataType.STRING:
            return None
        return tensor
    if name == "value_int":
        return ir.tensor(attr.as_int(), dtype=ir.DataType.INT64)
    if name == "value_ints":
        return ir.tensor(list(attr.as_ints()), dtype=ir.DataType.INT64)
    if name == "value_float":
        return ir.tensor(attr.as_float(), dtype=ir.DataType.FLOAT)
    if name == "value_floats":
        return ir.tensor(list(attr.as_floats()), dtype=ir.DataType.FLOAT)
    return None

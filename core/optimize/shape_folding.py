"""Shapes known at export time become constants.

``Shape(x)`` (with its ``start``/``end`` from opset 15) and ``Size(x)`` of a value whose
dimensions are all known ints, and ``Gather(Shape(x), indices)`` whose selected dimensions are
known ints even when others are dynamic, are replaced by int64 constants. The following
``Gather``/``Concat``/``Unsqueeze``/... chains are then folded by the constant-folding pass.
Dimensions with a name (``dynamic_axes``) are never folded.
"""

from __future__ import annotations


import numpy as np
import onnx_ir as ir

from .rewrite import ExportPass, constant_array, folds, is_default_domain, new_constant, replace_value


class FoldStaticShapesPass(ExportPass):
    """Replace ``Shape``/``Size``/``Gather(Shape)`` of known dimensions by constants."""


    def call(self, model: ir.Model) -> ir.passes.PassResult:
        if not folds(self.options):
            return ir.passes.PassResult(model, modified=False)
        graph = model.graph
        modified = False
        for node in list(graph):
            if not is_default_domain(node) or len(node.outputs) != 1 or node.outputs[0].is_graph_output():
                continue
            value = self._fold(node)
            if value is None:
                continue
            const = new_constant(graph, value, node.outputs[0].name or "shape", self.options, node)
            if const is not None and replace_value(node.outputs[0], const):
                graph.remove(node, safe=True)
                modified = True
        return ir.passes.PassResult(model, modified=modified)

    def _fold(self, node: ir.Node) -> np.ndarray | None:
        if node.op_type in ("Shape", "Size"):
            dims = _dims(node.inputs[0])
            if dims is None:
                return None
            if node.op_type == "Size":
                if not all(isinstance(d, int) for d in dims):
                    return None
                return np.array(int(np.prod(dims, dtype=np.int64)), dtype=np.int64)
            dims = dims[_slice(node, len(dims))]
            return np.array(dims, dtype=np.int64) if all(isinstance(d, int) for d in dims) else None
        if node.op_type == "Gather" and len(node.inputs) == 2:
            shape_node = node.inputs[0].producer() if node.inputs[0] is not None else None
            if shape_node is None or shape_node.op_type != "Shape" or not is_default_domain(shape_node):
                return None
            axis = node.attributes.get("axis")
            if axis is not None and axis.as_int() != 0:
                return None
            dims = _dims(shape_node.inputs[0])
            indices = constant_array(node.inputs[1], self.options)
            if dims is None or indices is None or indices.dtype.kind not in "iu":
                return None
            dims = dims[_slice(shape_node, len(dims))]
            n = len(dims)
            if np.any(indices < -n) or np.any(indices >= n):
                return None
            picked = [dims[int(i)] for i in indices.reshape(-1)]
            if not all(isinstance(d, int) for d in picked):
                return None
            return np.array(picked, dtype=np.int64).reshape(indices.shape)
        return None


def _dims(value: ir.Value | None) -> list | None:
    """The dimensions of ``value``: ints where known, None where not; None for unknown rank."""
    if value is None or value.shape is None:
        return None
    return [d if isinstance(d, int) else None for d in value.shape]


def _slice(shape_node: ir.Node, rank: int) -> slice:
    start = shape_node.attributes.get("start")
    end = shape_node.attributes.get("end")
    return slice(start.as_int() if start is not None else 0, end.as_int() if end is not None else rank)

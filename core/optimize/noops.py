"""Remove nodes that return their input unchanged.

``Identity``; ``Cast``/``CastLike`` to the type the input already has; ``Reshape`` to the shape
the input already has; ``Transpose`` with the identity permutation; ``Expand`` that broadcasts
to the input's own shape. A node whose output is a graph output goes only when its input can
take the output's name (it is not a graph input, an initializer or another graph output).
"""

from __future__ import annotations


import numpy as np
import onnx_ir as ir

from .rewrite import ExportPass, constant_array, is_default_domain, replace_value, reshaped, static_shape


class EliminateNoOpsPass(ExportPass):
    """Drop identity-like nodes from the main graph (local functions are left alone)."""


    def call(self, model: ir.Model) -> ir.passes.PassResult:
        graph = model.graph
        modified = False
        for node in list(graph):
            if not is_default_domain(node) or len(node.outputs) != 1 or not node.inputs:
                continue
            source = node.inputs[0]
            if source is None or not self._is_noop(node, source):
                continue
            out = node.outputs[0]
            if source.type is None:
                source.type = out.type
            if replace_value(out, source):
                graph.remove(node, safe=True)
                modified = True
        return ir.passes.PassResult(model, modified=modified)

    def _is_noop(self, node: ir.Node, x: ir.Value) -> bool:
        op = node.op_type
        if op == "Identity":
            return True
        if op in ("Cast", "CastLike"):
            if x.dtype is None:
                return False
            if op == "Cast":
                to = node.attributes.get("to")
                return to is not None and to.as_int() == x.dtype.value
            return len(node.inputs) == 2 and node.inputs[1] is not None and node.inputs[1].dtype == x.dtype
        if op == "Transpose":
            perm = node.attributes.get("perm")
            return perm is not None and list(perm.as_ints()) == list(range(len(perm.as_ints())))
        if op not in ("Reshape", "Expand"):
            return False
        shape = static_shape(x)
        if shape is None or len(node.inputs) < 2:
            return False
        target = constant_array(node.inputs[1], self.options)
        if target is None or target.ndim != 1:
            return False
        if op == "Reshape":
            return reshaped(shape, [int(d) for d in target], node) == shape
        if op == "Expand":
            try:
                return tuple(np.broadcast_shapes(shape, tuple(int(d) for d in target))) == shape
            except ValueError:
                return False
        return False


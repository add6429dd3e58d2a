"""Remove nodes that return their input unchanged.

``Identity``; ``Cast``/``CastLike`` to the type the input already has; ``Reshape`` to the shape
the input already has; ``Transpose`` with the identity permutation; ``Expand`` that broadcasts
to the input's own shape; ``Slice`` that keeps everything (starts 0, steps 1, ends past the
end: ``x[:]``, which PyTorch's ``slice`` ops leave in graphs, dynamic dimensions included);
``Mul`` by a constant one of the same type that broadcasts nothing (``x * 1`` is ``x``
exactly, NaN, infinities and signed zeros included). A node whose output is a graph output goes only when its input can
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
            source = self._times_one(node) if node.op_type == "Mul" else node.inputs[0]
            if source is None or not self._is_noop(node, source):
                continue
            out = node.outputs[0]
            if source.type is None:
                source.type = out.type
            if replace_value(out, source):
                graph.remove(node, safe=True)
                modified = True
        return ir.passes.PassResult(model, modified=modified)

    def _times_one(self, node: ir.Node) -> ir.Value | None:
        """For ``Mul(x, 1)`` or ``Mul(1, x)``: ``x``, when the product is ``x`` itself (same
        dtype, the one a single element of rank at most x's, so nothing is broadcast)."""
        if len(node.inputs) != 2 or any(v is None for v in node.inputs):
            return None
        for k in (0, 1):
            x, one = node.inputs[k], node.inputs[1 - k]
            array = constant_array(one, self.options)
            if (array is None or array.size != 1 or x.dtype is None or x.dtype != one.dtype
                    or x.shape is None or array.ndim > len(x.shape) or array.dtype == np.bool_):
                continue
            if array.reshape(-1)[0] == 1:
                return x
        return None

    def _is_noop(self, node: ir.Node, x: ir.Value) -> bool:
        op = node.op_type
        if op in ("Identity", "Mul"):  # Mul: only x * 1, found by _times_one
            return True
        if op == "Slice":
            return self._keeps_everything(node, x)
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


    def _keeps_everything(self, node: ir.Node, x: ir.Value) -> bool:
        """``Slice(x, starts, ends, axes, steps)`` (opset 10+ inputs) that returns all of x:
        every start 0, every step 1, and every end at least the axis's length (any end at or
        past 2**62 when the length is dynamic: PyTorch writes ``x[a:]`` with INT64_MAX)."""
        if len(node.inputs) < 3 or x.shape is None:
            return False
        starts = constant_array(node.inputs[1], self.options)
        ends = constant_array(node.inputs[2], self.options)
        steps = constant_array(node.inputs[4], self.options) if len(node.inputs) > 4 and node.inputs[4] is not None else None
        if len(node.inputs) > 4 and node.inputs[4] is not None and steps is None:
            return False
        rank = len(x.shape)
        if len(node.inputs) > 3 and node.inputs[3] is not None:
            axes = constant_array(node.inputs[3], self.options)
            if axes is None:
                return False
        else:
            axes = np.arange(len(starts)) if starts is not None else None
        if starts is None or ends is None or axes is None or not (len(starts) == len(ends) == len(axes)):
            return False
        if steps is not None and (len(steps) != len(starts) or any(int(s) != 1 for s in steps)):
            return False
        for start, end, axis in zip(starts.tolist(), ends.tolist(), axes.tolist()):
            if not -rank <= axis < rank:
                return False
            dim = x.shape[axis % rank]
            if start != 0:
                return False
            if not (end >= 2**62 or (isinstance(dim, int) and end >= dim)):
                return False
        return True

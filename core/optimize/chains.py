"""Two layout ops in a row become one: ``Transpose(Transpose(x))`` and ``Reshape(Reshape(x))``.

Both are exact. ``Transpose(Transpose(x, p), q)`` is ``Transpose(x, [p[i] for i in q])`` (and
vanishes when that is the identity); ``Reshape(Reshape(x, a), b)`` is ``Reshape(x, b)`` when ``b``
is a constant that does not copy dimensions from its input (no ``0`` entries, or
``allowzero=1``), and vanishes when that gives ``x`` its own shape back. The first node goes
only when nothing else reads its output.
"""

from __future__ import annotations


import onnx_ir as ir

from .rewrite import ExportPass, constant_array, is_default_domain, may_merge, replace_value, reshaped, static_shape


class CollapseLayoutChainsPass(ExportPass):
    """Merge consecutive ``Transpose`` pairs and ``Reshape`` pairs of the main graph."""


    def call(self, model: ir.Model) -> ir.passes.PassResult:
        graph = model.graph
        modified = False
        for node in list(graph):
            if node.graph is not graph or not is_default_domain(node) or not node.inputs:
                continue
            inner = node.inputs[0].producer() if node.inputs[0] is not None else None
            if (inner is None or inner.op_type != node.op_type or not is_default_domain(inner)
                    or inner.graph is not graph or not may_merge(inner, node, self.options, self.fx_nodes)):
                continue
            if node.op_type == "Transpose":
                modified |= self._transposes(graph, inner, node)
            elif node.op_type == "Reshape":
                modified |= self._reshapes(graph, inner, node)
        return ir.passes.PassResult(model, modified=modified)

    def _transposes(self, graph: ir.Graph, inner: ir.Node, outer: ir.Node) -> bool:
        p, q = inner.attributes.get("perm"), outer.attributes.get("perm")
        if p is None or q is None or len(p.as_ints()) != len(q.as_ints()):
            return False  # no perm means "reverse", whose rank may be unknown
        p, q = list(p.as_ints()), list(q.as_ints())
        perm = [p[i] for i in q]
        x = inner.inputs[0]
        if perm == list(range(len(perm))):
            if replace_value(outer.outputs[0], x):
                graph.remove(outer, safe=True)
                _drop_if_unused(graph, inner)
                return True
            return False
        outer.replace_input_with(0, x)
        outer.attributes["perm"] = ir.AttrInt64s("perm", perm)
        _drop_if_unused(graph, inner)
        return True

    def _reshapes(self, graph: ir.Graph, inner: ir.Node, outer: ir.Node) -> bool:
        if len(outer.inputs) < 2:
            return False
        target = constant_array(outer.inputs[1], self.options)
        allowzero = outer.attributes.get("allowzero")
        if target is None or (0 in target.tolist() and not (allowzero is not None and allowzero.as_int() == 1)):
            return False
        x = inner.inputs[0]
        shape = static_shape(x)
        if shape is not None and reshaped(shape, [int(d) for d in target.reshape(-1)], outer) == shape:
            if replace_value(outer.outputs[0], x):  # the pair restores x's own shape
                graph.remove(outer, safe=True)
                _drop_if_unused(graph, inner)
                return True
        outer.replace_input_with(0, x)
        _drop_if_unused(graph, inner)
        return True


def _drop_if_unused(graph: ir.Graph, node: ir.Node) -> None:
    if not any(o.uses() or o.is_graph_output() for o in node.outputs):
        graph.remove(node, safe=True)

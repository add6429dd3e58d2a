"""Common-subexpression elimination: one node for each distinct computation.

``onnx_ir.passes.common.CommonSubexpressionEliminationPass`` is not used as is: it merges
``Dropout`` and ``Bernoulli`` (random in training mode), custom-domain nodes and calls of local
functions, whose bodies it cannot see. This pass merges only deterministic default-domain nodes
of the main graph without subgraphs, compares small ``Constant`` tensors by value, and never
merges a node whose output is a graph output (its name is part of the interface).
"""

from __future__ import annotations


import onnx_ir as ir

from .rewrite import ExportPass, NONDETERMINISTIC, has_subgraph, is_default_domain, may_merge

CONSTANT_LIMIT = 1024  # elements: larger Constant tensors are not compared byte by byte


class EliminateCommonSubexpressionsPass(ExportPass):
    """Replace each node that repeats an earlier node (same op, inputs and attributes)."""


    def call(self, model: ir.Model) -> ir.passes.PassResult:
        graph = model.graph
        seen: dict[tuple, ir.Node] = {}
        modified = False
        for node in list(graph):
            key = None if node.op_identifier() in model.functions else self._key(node)
            if key is None:
                continue
            first = seen.setdefault(key, node)
            if first is node or not may_merge(first, node, self.options, self.fx_nodes):
                continue
            for old, new in zip(node.outputs, first.outputs):
                old.replace_all_uses_with(new)
            graph.remove(node, safe=True)
            modified = True
        return ir.passes.PassResult(model, modified=modified)

    def _key(self, node: ir.Node) -> tuple | None:
        if (not is_default_domain(node) or node.op_type in NONDETERMINISTIC or has_subgraph(node)
                or any(o.is_graph_output() for o in node.outputs)):
            return None
        attrs = []
        for name, attr in sorted(node.attributes.items()):
            if attr.is_ref():
                return None
            value = attr.value
            if attr.type == ir.AttributeType.TENSOR:
                if value.size > CONSTANT_LIMIT:
                    return None
                value = (value.dtype, tuple(value.shape), value.tobytes())
            elif isinstance(value, (list, tuple)):
                value = tuple(value)
            attrs.append((name, attr.type, value))
        inputs = tuple(id(v) if v is not None else None for v in node.inputs)
        return (node.domain or "", node.op_type, node.overload, len(node.outputs), inputs, tuple(attrs))

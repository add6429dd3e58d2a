"""Lowering FX subgraphs: the branches and bodies of ``torch.cond``, ``while_loop``, ``scan``...

A higher-order op keeps its branches and bodies as ``torch.fx.GraphModule``\\ s (``get_attr``
nodes of the captured graph); its conversion receives them as arguments. It lowers each one
with the same registry, opset, options and constant handling as the main graph, through the
context it builds the ONNX body in::

    @symbolic("higher_order::cond", opset=9)
    def cond(g, pred, true_graph, false_graph, operands):
        branches = []
        for name, gm in (("then_branch", true_graph), ("else_branch", false_graph)):
            sub = g.subgraph(name)                      # an empty body graph
            outs = sub.lower(gm, list(operands))        # FX nodes -> ONNX nodes inside it
            branches.append(sub.finish(*outs))          # its outputs; an onnx_ir.Graph
        return g.op("If", pred, then_branch_g=branches[0], else_branch_g=branches[1],
                    outputs=len(outs))

``ctx.lower(graph_module, inputs)`` takes one entry per placeholder of ``graph_module``:

* an ``onnx_ir.Value`` (or a constant: a tensor, a number) binds the placeholder to it. A value
  of an enclosing graph is used from the body by name, as ONNX allows (outer-scope values): an
  ``If`` branch's operands, a loop's parameters and closures;
* ``None`` makes the placeholder a new formal input of ``ctx``'s graph, typed from PyTorch's
  metadata (dtype and shape, dynamic dims by their names), appended after the inputs already
  added with ``add_input`` (a ``Loop`` body adds its iteration number and condition first).

It returns the graph module's outputs as ``onnx_ir.Value``\\ s, in order (a constant output is
materialised). Called on the context a conversion received (``g.lower(...)``), it inlines the
graph module into the graph being built (``invoke_subgraph``, the condition of a ``while_loop``
before its first iteration).

Inside the subgraph every call is converted as in the main graph: constant folding, the
registry's pick at the target opset, dtype checks, FX metadata on the ONNX nodes, the names of
dynamic dims. An op inside it that has no conversion is reported with the others of the model,
at the user's source line; the conversion that asked for the lowering is then abandoned (the
core catches :class:`~onnxplug.lowering.SubgraphFailed`; a conversion must let it propagate).
Value and node names need not be unique: the export's name-fixing pass makes them so across
every graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import onnx_ir as ir
import torch

from .errors import OnnxExporterError
from .lowering import Lowerer, SubgraphFailed, fetch_attr

if TYPE_CHECKING:
    from .graph import GraphContext

__all__ = ["SubgraphFailed", "lower_into", "placeholders"]


def placeholders(graph_module: torch.fx.GraphModule) -> list[torch.fx.Node]:
    """The placeholder nodes of ``graph_module``, in order (one per input ``lower`` takes)."""
    return [n for n in graph_module.graph.nodes if n.op == "placeholder"]


class SubgraphLowerer(Lowerer):
    """Lowers one FX graph module into a :class:`GraphContext`'s graph.

    Shares everything with the export's lowerer (registry, options, failures, the names of
    dynamic dims, constants and which conversion served each op) except the map from FX nodes to
    values, which is the graph module's own.
    """

    def __init__(self, parent: Lowerer, ctx: "GraphContext"):  # noqa: D107 - no super().__init__
        self.__dict__.update(parent.__dict__)
        self.root: Lowerer = getattr(parent, "root", parent)
        self.g = ctx
        self.graph = ctx.graph
        self.env = {}

    def materialize(self, t: torch.Tensor) -> ir.Value:
        """Constants live in the main graph (subgraphs see its initializers by name)."""
        return self.root.materialize(t)

    def lower(self, graph_module: torch.fx.GraphModule, inputs: Sequence[Any]) -> list[ir.Value]:
        phs = placeholders(graph_module)
        if len(inputs) != len(phs):
            raise OnnxExporterError(
                f"lowering subgraph {type(graph_module).__name__}: it takes {len(phs)} input(s) "
                f"({', '.join(p.name for p in phs)}), but {len(inputs)} were given. Pass one "
                "value (or None for a new formal input) per placeholder.")
        for ph, value in zip(phs, inputs):
            self.env[ph] = self._formal_input(ph) if value is None else value
        failed_before = self.failures.lowering_failed
        output = None
        for node in graph_module.graph.nodes:
            if node.op == "get_attr":
                self.env[node] = fetch_attr(graph_module, node.target)
            elif node.op == "call_function":
                self._lower(node)
            elif node.op == "output":
                output = node
        if self.failures.lowering_failed and not failed_before:
            raise SubgraphFailed(type(graph_module).__name__)
        results = output.args[0] if output is not None else ()
        if not isinstance(results, (list, tuple)):
            results = (results,)
        return [self._as_output(r) for r in results]

    def fx_node_tag(self, node: torch.fx.Node) -> str:
        """``"subgraph:<name>"``: FX names of a subgraph repeat the main graph's, and passes look
        names up in the main graph's map."""
        return f"subgraph:{node.name}"

    def _formal_input(self, ph: torch.fx.Node) -> ir.Value:
        v = ir.Value(name=ph.name)
        self._set_meta(v, ph.meta.get("val"))
        if v.dtype is None:
            raise OnnxExporterError(
                f"subgraph input {ph.name!r} has no tensor metadata (val={ph.meta.get('val')!r}); "
                "only tensors and integers can be inputs of an ONNX body graph.")
        self.g.graph.inputs.append(v)
        return v

    def _as_output(self, r: Any) -> ir.Value:
        v = self.value_of(r)
        if isinstance(v, ir.Value):
            return v
        if isinstance(v, (int, float, bool)):
            return self.g.constant(v)
        raise OnnxExporterError(
            f"a subgraph output is a {type(v).__name__} ({v!r:.40}); ONNX body graphs return "
            "tensors. Return tensors (or numbers) from the branch or body function.")


def lower_into(ctx: "GraphContext", graph_module: torch.fx.GraphModule,
               inputs: Sequence[Any]) -> list[ir.Value]:
    """Lower ``graph_module`` into ``ctx``'s graph (see the module docstring); its outputs."""
    lowerer = getattr(ctx, "_lowerer", None)
    if lowerer is None:
        raise OnnxExporterError(
            "g.lower() works only inside an export (the context was not built by the core's "
            "lowering).")
    if not isinstance(graph_module, torch.fx.GraphModule):
        raise OnnxExporterError(
            f"g.lower() takes a torch.fx.GraphModule (a branch or body of a higher-order op), "
            f"not {type(graph_module).__name__}.")
    saved = ctx.new_nodes, ctx._fx_node
    try:
        return SubgraphLowerer(lowerer, ctx).lower(graph_module, inputs)
    finally:
        ctx.new_nodes, ctx._fx_node = saved

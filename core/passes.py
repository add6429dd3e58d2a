"""Running FX and IR passes, and the built-in IR passes.

An IR pass is any callable ``fn(model, context)``: it may change the ``onnx_ir.Model`` in place
and return None, return an ``onnx_ir.passes.PassResult``, or return a new model. ``onnx_ir``'s
own pass objects fit (see :func:`ir_pass`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import onnx_ir as ir
import onnx_ir.passes.common as common
import torch

from .options import ExportOptions
from .plugins import PassEntry


@dataclass
class PassContext:
    """What an IR pass can know about the export besides the model.

    ``fx_nodes`` maps FX node names to nodes; every ONNX node built while lowering an FX node
    has ``node.meta["fx_node"]`` set to that name, so a pass can read the module stack
    (``fx_nodes[name].meta["nn_module_stack"]``) or source location of any ONNX node.
    """

    options: ExportOptions
    exported_program: torch.export.ExportedProgram
    fx_nodes: Mapping[str, torch.fx.Node]
    model_object: Any = None
    notes: list[str] = field(default_factory=list)


def ir_pass(make: Callable[[], ir.passes.PassBase], when: Callable[[ExportOptions], bool] | None = None):
    """Adapt an ``onnx_ir`` pass class (or factory) into an onnxplug IR pass."""

    def run(model: ir.Model, context: PassContext):
        if when is not None and not when(context.options):
            return None
        return make()(model)

    run.__name__ = getattr(make, "__name__", "ir_pass")
    return run


def run_ir_passes(model: ir.Model, passes: list[PassEntry], context: PassContext) -> ir.Model:
    for entry in passes:
        result = entry.fn(model, context)
        if isinstance(result, ir.passes.PassResult):
            model = result.model
        elif isinstance(result, ir.Model):
            model = result
    return model


def run_fx_passes(ep: torch.export.ExportedProgram, passes: list[PassEntry],
                  options: ExportOptions) -> torch.export.ExportedProgram:
    for entry in passes:
        result = entry.fn(ep, options)
        if result is not None:
            ep = result
    return ep


def deduplicate_initializers(model: ir.Model, context: PassContext) -> None:
    """Merge initializers with equal dtype, shape and bytes into the first of them.

    Only tensors that share dtype, shape and size with another are ever read, so a model with
    no duplicates costs nothing; skipped when initializers are also graph inputs (each input
    must stay overridable on its own).
    """
    if context.options.keep_initializers_as_inputs:
        return
    graph = model.graph
    groups: dict[tuple, list[ir.Value]] = {}
    for v in graph.initializers.values():
        c = v.const_value
        if c is not None and not v.is_graph_input():
            groups.setdefault((c.dtype, tuple(c.shape.numpy()), c.nbytes), []).append(v)
    for values in groups.values():
        if len(values) < 2:
            continue
        seen: dict[bytes, ir.Value] = {}
        for v in values:
            data = v.const_value.tobytes()
            keep = seen.setdefault(data, v)
            if keep is not v:
                v.replace_all_uses_with(keep)
                del graph.initializers[v.name]


def _is_view(node: torch.fx.Node) -> bool:
    target = node.target
    return isinstance(target, torch._ops.OpOverload) and any(
        r.alias_info is not None for r in target._schema.returns)


def _mutated_args(node: torch.fx.Node) -> list[torch.fx.Node]:
    target = node.target
    if not isinstance(target, torch._ops.OpOverload) or not target._schema.is_mutable:
        return []
    out = []
    for i, arg in enumerate(target._schema.arguments):
        if arg.alias_info is not None and arg.alias_info.is_write:
            value = node.args[i] if i < len(node.args) else node.kwargs.get(arg.name)
            if isinstance(value, torch.fx.Node):
                out.append(value)
    return out


def writes_through_views(ep: torch.export.ExportedProgram) -> bool:
    """Does an in-place op write into a view, or into a tensor that a view was taken of?"""
    for node in ep.graph.nodes:
        for target in _mutated_args(node):
            if _is_view(target) or any(u is not node and _is_view(u) for u in target.users):
                return True
    return False


def functionalize(ep: torch.export.ExportedProgram, options: ExportOptions):
    """Rewrite in-place writes through views (``y[:, i] = v``) into functional scatters.

    Lowering handles plain in-place ops by rebinding the mutated value; a write into a view
    must reach the base tensor, which only functionalization does. It costs a retrace, so it
    runs only for graphs that need it.
    """
    if writes_through_views(ep):
        return ep.run_decompositions({})
    return None


BUILTIN_FX_PASSES = [(functionalize, 100, "functionalize")]

BUILTIN_IR_PASSES = [
    (ir_pass(common.RemoveUnusedNodesPass), 100, "remove_unused_nodes"),
    (deduplicate_initializers, 900, "deduplicate_initializers"),
    (ir_pass(common.TopologicalSortPass), 950, "topological_sort"),
    (ir_pass(common.RemoveUnusedOpsetsPass), 960, "remove_unused_opsets"),
    # unique value and node names across the graph and every Loop/If/Scan body
    (ir_pass(common.NameFixPass), 990, "name_fix"),
]

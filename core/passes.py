"""Running FX and IR passes, and the built-in IR passes.

An IR pass is a callable ``fn(model, context)`` that follows ``onnx_ir``'s pass contract: it
returns an ``onnx_ir.passes.PassResult(model, modified)`` saying which model comes next and
whether the pass changed anything. ``onnx_ir``'s own pass objects fit (see :func:`ir_pass`).
Every built-in pass returns a ``PassResult``. Deprecated forms, still accepted from third-party
passes: returning None (the model was changed in place, if at all) or a bare ``onnx_ir.Model``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx_ir as ir
import onnx_ir.passes.common as common
import torch

from .errors import OnnxExporterError, PluginError
from .hookspecs import BUILTIN
from .options import ExportOptions
from .checkpoint import is_deferred
from .serialize import PACKED_TYPES as _PACKED_TYPES
from .serialize import tensor_buffer

log = logging.getLogger("onnxplug")


@dataclass(frozen=True)
class PassEntry:
    """A pass contributed by a plugin; passes run in ascending (order, name)."""

    fn: Callable
    order: int
    name: str
    plugin: str
    provides: tuple[str, ...] = ()


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
    """Adapt an ``onnx_ir`` pass class (or factory) into an onnxplug IR pass.

    ``when(options)`` False skips the pass (``PassResult(model, modified=False)``).
    """

    def run(model: ir.Model, context: PassContext) -> ir.passes.PassResult:
        if when is not None and not when(context.options):
            return ir.passes.PassResult(model, modified=False)
        return make()(model)

    run.__name__ = getattr(make, "__name__", "ir_pass")
    return run


def pass_result(model: ir.Model, returned: Any) -> ir.passes.PassResult:
    """What a pass ``returned``, as a ``PassResult``.

    A ``PassResult`` is taken as is. The deprecated forms: a new ``onnx_ir.Model`` counts as
    modified; None means "changed in place, if at all" and counts as modified (the runner cannot
    tell).
    """
    if isinstance(returned, ir.passes.PassResult):
        return returned
    if isinstance(returned, ir.Model):
        return ir.passes.PassResult(returned, modified=True)
    return ir.passes.PassResult(model, modified=True)


def _run(entry: PassEntry, kind: str, label: Callable[[str], str], *args: Any) -> Any:
    """Call one pass. A plugin's pass that raises fails the export with a ``PluginError``
    naming it and its plugin (it may have changed the model in place before raising, so the
    export cannot go on without it); the core's own passes raise as they are."""
    if entry.plugin == BUILTIN:  # the core's own pass: its error is a bug of ours, as it is
        return entry.fn(*args)
    try:
        return entry.fn(*args)
    except OnnxExporterError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's bug, reported as such
        raise PluginError(
            f"{kind} pass {entry.name!r} of plugin {label(entry.plugin)} failed: "
            f"{type(exc).__name__}: {exc}\nWhat to do: report it to the plugin's authors; "
            f"meanwhile export without the plugin (ONNXPLUG_DISABLE={entry.plugin}).") from exc


def run_ir_passes(model: ir.Model, passes: list[PassEntry], context: PassContext,
                  label: Callable[[str], str] = repr) -> ir.Model:
    """Run ``passes`` in order, each on the model the previous one returned.

    ``label(plugin)`` names a plugin in errors (``LoadedPlugins.label``: with its distribution).
    """
    for entry in passes:
        result = pass_result(model, _run(entry, "IR", label, model, context))
        log.debug("ir pass %s (%s): %s", entry.name, entry.plugin,
                  "modified" if result.modified else "unchanged")
        model = result.model
    return model


def run_fx_passes(ep: torch.export.ExportedProgram, passes: list[PassEntry],
                  options: ExportOptions, label: Callable[[str], str] = repr) -> torch.export.ExportedProgram:
    """Run the FX ``passes`` in order; a pass returns a new program or None (changed in place)."""
    for entry in passes:
        result = _run(entry, "FX", label, ep, options)
        if result is not None:
            ep = result
    return ep


def deduplicate_initializers(model: ir.Model, context: PassContext) -> ir.passes.PassResult:
    """Merge initializers with equal dtype, shape and bytes into the first of them.

    Only tensors that share dtype, shape and size with another are ever read, and of those
    only a sample of elements unless the samples of two collide, so a model with no duplicates
    costs almost nothing (no weight is hashed, no transposed weight made contiguous); skipped when initializers are also graph inputs (each input
    must stay overridable on its own).
    """
    modified = False
    if context.options.keep_initializers_as_inputs:
        return ir.passes.PassResult(model, modified)
    graph = model.graph
    groups: dict[tuple, list[ir.Value]] = {}
    for v in graph.initializers.values():
        c = v.const_value
        if c is not None and not v.is_graph_input():
            groups.setdefault((c.dtype, tuple(c.shape.numpy()), c.nbytes), []).append(v)
    for values in groups.values():
        if len(values) < 2:
            continue
        # a few elements of each first: only tensors whose samples collide are read in full
        samples: dict[bytes | None, list[ir.Value]] = {}
        for v in values:
            samples.setdefault(_sample(v.const_value), []).append(v)
        if None in samples:  # a tensor that cannot be sampled is compared with all of them
            samples = {None: values}
        for alike in samples.values():
            if len(alike) < 2:
                continue
            seen: dict[bytes, ir.Value] = {}
            for v in alike:
                keep = seen.setdefault(_digest(v.const_value), v)
                if keep is not v:
                    v.replace_all_uses_with(keep)
                    del graph.initializers[v.name]
                    modified = True
    return ir.passes.PassResult(model, modified)


SAMPLE_ELEMENTS = 64


def _sample(tensor: ir.TensorProtocol) -> bytes | None:
    """The bytes of ``SAMPLE_ELEMENTS`` elements spread over the tensor (first and last
    included), read by indexing its torch or numpy storage in place: no contiguous copy, no
    transposed weight made. Tensors with different samples differ; equal samples say nothing
    (their digests decide). None where the storage cannot be indexed (packed 4-bit types, other
    tensor kinds): such tensors all fall to the digest."""
    raw = getattr(tensor, "raw", None)
    if tensor.dtype in _PACKED_TYPES or tensor.size == 0:
        return None
    if isinstance(raw, torch.Tensor) and raw.device.type == "cpu" and not is_deferred(raw):
        try:
            flat = torch.linspace(0, raw.numel() - 1, min(SAMPLE_ELEMENTS, raw.numel())).long()
            with torch.no_grad():
                picked = raw[torch.unravel_index(flat, raw.shape)] if raw.dim() else raw.reshape(1)
            return picked.contiguous().view(torch.uint8).numpy().tobytes()
        except (RuntimeError, TypeError):  # fake or exotic tensors
            return None
    if isinstance(raw, np.ndarray) and raw.dtype != object and raw.dtype.byteorder in "=|<":
        flat = np.linspace(0, raw.size - 1, min(SAMPLE_ELEMENTS, raw.size)).astype(np.int64)
        picked = raw[np.unravel_index(flat, raw.shape)] if raw.ndim else raw.reshape(1)
        return np.ascontiguousarray(picked).view(np.uint8).tobytes()
    return None


def _digest(tensor: ir.TensorProtocol) -> bytes:
    """A strong hash of the tensor's bytes (read in place where possible): holding the digests,
    not the bytes, keeps deduplication from copying every same-shaped weight into memory."""
    return hashlib.blake2b(tensor_buffer(tensor), digest_size=32).digest()


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


def writes_through_views(ep: torch.export.ExportedProgram) -> torch.fx.Node | None:
    """The first in-place op that writes into a view, or into a tensor a view was taken of."""
    for node in ep.graph.nodes:
        for target in _mutated_args(node):
            if _is_view(target) or any(u is not node and _is_view(u) for u in target.users):
                return node
    return None


def functionalize(ep: torch.export.ExportedProgram, options: ExportOptions):
    """Rewrite in-place writes through views (``y[:, i] = v``) into functional scatters.

    Lowering handles plain in-place ops by rebinding the mutated value; a write into a view
    must reach the base tensor. Writes through ``select``/``slice`` views are rewritten where
    they are (:func:`onnxplug.local_functionalize.functionalize_locally`); only a graph with
    other writes through views costs a re-trace (``run_decompositions({})``).
    """
    write = writes_through_views(ep)
    if write is None:
        return None
    from .local_functionalize import functionalize_locally

    local = functionalize_locally(ep)
    if local is not None:
        return local
    try:
        return ep.run_decompositions({})
    except Exception as exc:  # the re-trace can fail where the capture did not (draft_export)
        from .lowering import node_location

        raise OnnxExporterError(
            f"{write.target} (FX node {write.name!r} at {node_location(write) or 'unknown'}) "
            "writes into a view, and functionalizing the whole program for it failed: "
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}\nWhat to do: write "
            "that update functionally (torch.where, index_put, scatter, or building a new "
            "tensor with cat) instead of assigning into a view.") from exc


BUILTIN_FX_PASSES = [(functionalize, 100, "functionalize")]

BUILTIN_IR_PASSES = [
    (ir_pass(common.RemoveUnusedNodesPass), 100, "remove_unused_nodes"),
    (deduplicate_initializers, 900, "deduplicate_initializers"),
    (ir_pass(common.TopologicalSortPass), 950, "topological_sort"),
    (ir_pass(common.RemoveUnusedOpsetsPass), 960, "remove_unused_opsets"),
    # unique value and node names across the graph and every Loop/If/Scan body
    (ir_pass(common.NameFixPass), 990, "name_fix"),
]

"""Decompose only the ops that have no conversion at the target opset, then retry.

The captured graph stays at the highest level that converts: an op the registry cannot
convert is replaced by PyTorch's own decomposition of that op alone (from
``torch.export.default_decompositions()``), and the graph is checked again, a few rounds
deep, since a decomposition may produce other ops without a conversion. What cannot be
handled is recorded in the export's :class:`~onnxplug.failures.Failures`.

Each node is replaced on its own, without re-tracing the program
(:mod:`onnxplug.local_decompose`); only the ops whose nodes cannot be traced alone cost
``ExportedProgram.run_decompositions``, the re-trace of the whole program.
"""

from __future__ import annotations

import logging
import operator
from functools import lru_cache

import torch

from .failures import Failures
from .local_decompose import decompose_locally
from .lowering import (dead_calls, inplace_functional_key, input_dtypes, no_complex_reason, node_location,
                       op_key)
from .registry import Registry

log = logging.getLogger("onnxplug")
MAX_ROUNDS = 6


@lru_cache(maxsize=1)
def export_decompositions():
    """``torch.export.default_decompositions()``, built once: the table decompositions come from."""
    return torch.export.default_decompositions()


def decomposition(op: torch._ops.OpOverload):
    """PyTorch's decomposition of ``op``: the export table, the aten table, or its composite kernel."""
    try:
        return export_decompositions()[op]
    except KeyError:
        pass
    from torch._decomp import decomposition_table

    if op in decomposition_table:
        return decomposition_table[op]
    if op.has_kernel_for_dispatch_key(torch._C.DispatchKey.CompositeImplicitAutograd):
        return op.decompose
    return None


def _convertible(node: torch.fx.Node, dtypes: tuple[torch.dtype, ...], registry: Registry) -> bool:
    """Whether a conversion takes ``node`` (its input dtypes matter: complex inputs need a
    complex-aware one, else the op is decomposed like an op with no conversion)."""
    if node.target is operator.getitem:
        return True
    key = op_key(node.target)
    if registry.lookup(key, dtypes) is not None:
        return True
    fkey = inplace_functional_key(key)
    return fkey is not None and registry.lookup(fkey, dtypes) is not None


def call_nodes(ep: torch.export.ExportedProgram, live: bool = False):
    """The ``call_function`` nodes of the program, those of control-flow branches and bodies
    (nested ``GraphModule``s) included: they are lowered with the same registry. With ``live``,
    only those the lowering converts (not :func:`~onnxplug.lowering.dead_calls`)."""
    for module in ep.graph_module.modules():
        if isinstance(module, torch.fx.GraphModule):
            dead = dead_calls(module.graph) if live else ()
            yield from (n for n in module.graph.nodes if n.op == "call_function" and n not in dead)


def missing_ops(ep: torch.export.ExportedProgram, registry: Registry, refused=()) -> list:
    """FX targets with no usable conversion (or whose conversion declined, ``refused``)."""
    seen, out = set(), []
    for node in call_nodes(ep, live=True):
        if node.target in out:
            continue
        dtypes = input_dtypes(node)
        kind = (node.target, any(dt.is_complex for dt in dtypes))
        if kind in seen:
            continue
        seen.add(kind)
        if node.target in refused or not _convertible(node, dtypes, registry):
            out.append(node.target)
    return out


def _rounds(ep, registry: Registry, only: set | None = None, refused=(), failed: dict | None = None):
    """Decompose missing ops (only ``only`` in the first round) until nothing more decomposes.

    An op whose decomposition makes torch.export fail is left in place and its reason recorded
    in ``failed`` (op -> message), so the error names it instead of PyTorch's traceback.
    """
    decomposed: list[str] = []
    failed = {} if failed is None else failed
    for round_ in range(MAX_ROUNDS):
        missing = [op for op in missing_ops(ep, registry, refused) if isinstance(op, torch._ops.OpOverload)
                   and (only is None or round_ > 0 or op in only) and op not in failed]
        table = {op: fn for op in missing if (fn := decomposition(op)) is not None}
        if not table:
            break
        local = decompose_locally(ep, table)
        ep = local.program
        rest = {op: fn for op, fn in table.items() if op in local.left}
        for op, why in local.left.items():
            log.info("decomposing %s with the whole program: %s", op_key(op), why)
        if rest:
            ep, rest = _whole_program(ep, rest, failed)
        done = [op for op in table if op in rest or op in local.done]
        if not done:
            break
        decomposed.extend(op_key(op) for op in done)
    return ep, decomposed


def _pre_dispatch(target) -> bool:
    """A pre-dispatch function of functorch (``_add_batch_dim``, ``_vmap_increment_nesting``...),
    left by ``vmap`` inside a captured body (associative_scan's generic mode): no op to decompose,
    but lowering the whole program to ATen (``run_decompositions({})``) inlines the vmap."""
    return not isinstance(target, torch._ops.OpOverload) and \
        getattr(target, "__module__", "").startswith("torch._functorch")


def _whole_program(ep, table: dict, failed: dict):
    """``ep.run_decompositions(table)``: the re-trace of the whole program, for the ops
    :func:`decompose_locally` could not replace node by node. An op whose decomposition makes
    it fail is left out and its reason recorded in ``failed``. Returns the program and the
    table of the ops decomposed."""
    try:
        return ep.run_decompositions(table), table
    except Exception:  # noqa: BLE001 - find the op(s) whose decomposition fails
        table = dict(table)
        for op, fn in list(table.items()):
            try:
                ep.run_decompositions({op: fn})
            except Exception as exc:  # noqa: BLE001
                first = (str(exc).strip().splitlines() or [""])[0][:200]
                failed[op] = f"PyTorch's decomposition of it failed ({type(exc).__name__}: {first})"
                del table[op]
        if not table:
            return ep, table
        return ep.run_decompositions(table), table


def decompose_unsupported(ep: torch.export.ExportedProgram, registry: Registry, opset: int,
                          plugins: list[str], failures: Failures | None = None):
    """Return ``(program, decomposed op keys)`` where every op converts.

    ``failures`` is the export's collector: its declined ops count as missing, and what is
    decomposed is recorded there. Raises :class:`UnsupportedOperatorError` (recorded in
    ``failures`` too) naming the ops of the *captured* graph, with their source locations, that
    neither a conversion nor PyTorch's decompositions can handle.
    """
    failures = failures if failures is not None else Failures()
    refused = dict(failures.declined)
    original = missing_ops(ep, registry, refused)
    if not original:
        return ep, []
    failed: dict = {}
    if any(_pre_dispatch(op) for op in original):  # vmap's batch dims: only the ATen re-trace removes them
        ep = ep.run_decompositions({})
        if not missing_ops(ep, registry, refused):
            return ep, []
    result, decomposed = _rounds(ep, registry, refused=refused, failed=failed)
    if not missing_ops(result, registry, refused):
        failures.add_decomposed(decomposed)
        return result, decomposed
    for op, reason in failed.items():
        failures.add_reason(op_key(op), reason)
    refused = {**refused, **{op: reason for op, reason in failed.items() if op not in refused}}
    culprits = _unresolved(ep, registry, original, refused, failed) or original
    for node in call_nodes(ep):
        if node.target in culprits:
            key = op_key(node.target)
            if reason := no_complex_reason(key, input_dtypes(node), registry):
                failures.add_reason(key, reason)
            failures.add_unsupported(key, node_location(node) or node.name)
    raise failures.error(registry, opset, plugins)


def _unresolved(ep, registry: Registry, original: list, refused: dict, failed: dict) -> list:
    """Which of the captured graph's ops are the problem, to report them as the user wrote them:
    those without a decomposition, and those whose decomposition alone leaves new missing ops."""
    unresolved = []
    for op in original:
        if not isinstance(op, torch._ops.OpOverload) or decomposition(op) is None or op in failed:
            unresolved.append(op)
            continue
        alone, _ = _rounds(ep, registry, only={op}, refused=refused)
        if set(missing_ops(alone, registry, refused)) - set(original):
            unresolved.append(op)
    return unresolved

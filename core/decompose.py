"""Decompose only the ops that have no conversion at the target opset, then retry.

The captured graph stays at the highest level that converts: an op the registry cannot
convert is replaced by PyTorch's own decomposition of that op alone (from
``torch.export.default_decompositions()``), and the graph is checked again, a few rounds
deep, since a decomposition may produce other ops without a conversion.
"""

from __future__ import annotations

import operator
from functools import lru_cache

import torch

from .lowering import inplace_functional_key, op_key
from .registry import Registry

MAX_ROUNDS = 6


@lru_cache(maxsize=1)
def _table():
    return torch.export.default_decompositions()


def decomposition(op: torch._ops.OpOverload):
    """PyTorch's decomposition of ``op``: the export table, the aten table, or its composite kernel."""
    try:
        return _table()[op]
    except KeyError:
        pass
    from torch._decomp import decomposition_table

    if op in decomposition_table:
        return decomposition_table[op]
    if op.has_kernel_for_dispatch_key(torch._C.DispatchKey.CompositeImplicitAutograd):
        return op.decompose
    return None


def _convertible(target, registry: Registry) -> bool:
    if target is operator.getitem:
        return True
    key = op_key(target)
    if registry.lookup(key) is not None:
        return True
    fkey = inplace_functional_key(key)
    return fkey is not None and registry.lookup(fkey) is not None


def missing_ops(ep: torch.export.ExportedProgram, registry: Registry) -> list:
    seen, out = set(), []
    for node in ep.graph.nodes:
        if node.op != "call_function" or node.target in seen:
            continue
        seen.add(node.target)
        if not _convertible(node.target, registry):
            out.append(node.target)
    return out


def decompose_unsupported(ep: torch.export.ExportedProgram, registry: Registry):
    """Return ``(program, decomposed op keys)``; ops nothing can convert are left in place."""
    decomposed: list[str] = []
    for _ in range(MAX_ROUNDS):
        missing = [op for op in missing_ops(ep, registry) if isinstance(op, torch._ops.OpOverload)]
        table = {op: fn for op in missing if (fn := decomposition(op)) is not None}
        if not table:
            break
        decomposed.extend(op_key(op) for op in table)
        ep = ep.run_decompositions(table)
    return ep, decomposed

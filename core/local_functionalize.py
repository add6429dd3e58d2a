"""Rewrite in-place writes through views without re-tracing the program.

The lowering handles an in-place op on a tensor that is no view by rebinding the tensor to the
op's result. A write into a view (``images[i, :h, :w].copy_(img)``, torchvision's batching) must
reach the base tensor: :func:`functionalize_locally` rewrites each such write where it is, as
the functional op on a fresh copy of the view chain (``select``/``slice`` views), scattered
back (``slice_scatter``/``select_scatter``) and written into the base with ``copy_``, which the
lowering rebinds. A write into the result of another in-place op (``r.index_put_(...)``
twice) is a write into the same tensor: it is pointed at the tensor itself.

What it cannot rewrite (other view ops, an op that writes several inputs, a view read after a
later write into its base: that read must see the write) makes it return None, and the caller
functionalizes the whole program (``ExportedProgram.run_decompositions({})``).
"""

from __future__ import annotations

import copy
import operator

import torch

from .local_decompose import INHERITED_META, copy_graph_module
from .lowering import functional_overload

aten = torch.ops.aten
# a view op -> (its scatter, how the scatter's arguments follow from the view's)
_SCATTERS = {
    aten.select.int: aten.select_scatter.default,
    aten.slice.Tensor: aten.slice_scatter.default,
}


def _mutated(node: torch.fx.Node) -> list[int]:
    """Positions of the arguments ``node`` writes into."""
    target = node.target
    if not isinstance(target, torch._ops.OpOverload) or not target._schema.is_mutable:
        return []
    return [i for i, a in enumerate(target._schema.arguments)
            if a.alias_info is not None and a.alias_info.is_write]


def _is_inplace_result(node: torch.fx.Node) -> bool:
    """``node`` is an in-place op that writes its first argument and returns it (``add_``)."""
    return _mutated(node) == [0] and bool(node.args)


def _is_view(node: torch.fx.Node) -> bool:
    """A view of another tensor (not the tensor itself, as an in-place op's result is)."""
    target = node.target
    return (isinstance(target, torch._ops.OpOverload) and not target._schema.is_mutable
            and any(r.alias_info is not None for r in target._schema.returns))


def _alias_root(node: torch.fx.Node) -> torch.fx.Node:
    """The tensor an in-place op's result is (through chains of them)."""
    while isinstance(node, torch.fx.Node) and _is_inplace_result(node):
        node = node.args[0]
    return node


def functionalize_locally(ep: torch.export.ExportedProgram):
    """A copy of ``ep`` whose writes through views are rewritten in place, or None when one
    cannot be (see the module docstring). The program passed in is not changed."""
    copies: dict = {}
    root = copy_graph_module(ep.graph_module, copies)
    graph = root.graph
    for node in list(graph.nodes):
        written = _mutated(node)
        if not written:
            continue
        if written != [0] or not node.args or not isinstance(node.args[0], torch.fx.Node):
            return None  # writes several inputs, or not its first
        target = node.args[0]
        base = _alias_root(target)
        if base is not target:
            node.replace_input_with(target, base)  # the same tensor
        if not _is_view(base):
            continue  # a plain in-place op: the lowering rebinds
        if not _rewrite_view_write(graph, node, base):
            return None
    if _stale_view_read(graph):
        return None
    root.recompile()
    return ep._update(root, copy.deepcopy(ep.graph_signature))


def _rewrite_view_write(graph: torch.fx.Graph, node: torch.fx.Node, view: torch.fx.Node) -> bool:
    """Replace ``node`` (an in-place op on ``view``) by its functional op on a fresh copy of the
    view chain, scattered back into the chain's base, and ``base.copy_(...)``."""
    chain = []  # innermost view first
    t = view
    while _is_view(t):
        if t.target not in _SCATTERS or not isinstance(t.args[0], torch.fx.Node):
            return False
        chain.append(t)
        t = _alias_root(t.args[0])
    base = t
    functional = functional_overload(node.target)
    if functional is None or any(_mutated(u) or _is_view(u) for u in node.users):
        return False  # a later write or view of the written view: left to functionalization
    meta = {k: node.meta[k] for k in INHERITED_META if k in node.meta}

    def add(target, args, kwargs, like):
        new = graph.call_function(target, tuple(args), kwargs)
        new.meta = {**meta, "val": like.meta.get("val")}
        return new

    with graph.inserting_before(node):
        fresh = [base]  # the chain re-read where the write happens: it sees earlier writes
        for v in reversed(chain):
            fresh.append(add(v.target, (fresh[-1], *v.args[1:]), dict(v.kwargs), v))
        value = add(functional, (fresh[-1], *node.args[1:]), dict(node.kwargs), node)
        result = value
        for v, src in zip(chain, reversed(fresh[:-1])):
            value = add(_SCATTERS[v.target], (src, value, *v.args[1:]), dict(v.kwargs), src)
        add(aten.copy_.default, (base, value), {}, base)
    node.replace_all_uses_with(result)
    graph.erase_node(node)
    for v in chain:  # the old views, used only to be written into
        if not v.users:
            graph.erase_node(v)
    return True


def _stale_view_read(graph: torch.fx.Graph) -> bool:
    """Is a view read after a write into its base that came after the view was taken? ONNX
    values do not alias: such a read would miss the write."""
    order = {n: i for i, n in enumerate(graph.nodes)}
    writes: dict[torch.fx.Node, list[int]] = {}
    for n in graph.nodes:
        for i in _mutated(n):
            arg = n.args[i] if i < len(n.args) else None
            if isinstance(arg, torch.fx.Node):
                writes.setdefault(_alias_root(arg), []).append(order[n])
    for base, times in writes.items():
        stack = [u for u in base.users if _is_view(u)]
        while stack:
            v = stack.pop()
            for u in v.users:
                if _is_view(u):
                    stack.append(u)
                elif u.target is not operator.getitem and any(
                        order[v] < w < order[u] for w in times):
                    return True
    return False

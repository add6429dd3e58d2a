"""The nodes of one module call, and their structure.

A :class:`Group` holds what a module call's nodes read from outside (its inputs: graph inputs,
initializers such as the module's parameters, other nodes' outputs), what they give to the rest
of the graph (its outputs), and a canonical description of the nodes in between. Two groups
with equal :attr:`Group.shape` compute the same thing up to the values of node attributes; the
attribute values are listed per slot in :attr:`Group.slot_values`, in the same order for both.

``Constant`` nodes are not members of any group: a group reads them like any other value, and
the function body gets its own copy of each one it reads (so do small initializers that are
not parameters, such as a shared ``sqrt2``). Lowering shares small constants
between the nodes that need them, so without this the first layer of an encoder would hold a
constant that the other layers take as an input, and the layers would not share a function.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import onnx_ir as ir

from .scopes import ModuleCall

_GRAPH_TYPES = (ir.AttributeType.GRAPH, ir.AttributeType.GRAPHS)


def is_constant(node: ir.Node) -> bool:
    return node.op_type == "Constant" and node.domain == "" and not node.inputs


SMALL_CONSTANT = 16  # initializers up to this many elements that are not parameters


def is_small_constant(v: ir.Value, params: frozenset[str] | None) -> bool:
    """A small initializer that no parameter or buffer names (a folded scalar, a shared
    constant a conversion made): the body holds a copy, like a ``Constant`` node's value.
    ``params`` None: every initializer stays an input (``keep_initializers_as_inputs``)."""
    c = v.const_value
    return (params is not None and c is not None and v.is_initializer()
            and not v.is_graph_input()
            and v.name not in params and c.size <= SMALL_CONSTANT)


def constant_node(v: ir.Value) -> ir.Node:
    """The ``Constant`` node behind ``v``, or a new one (outside any graph) holding its value."""
    p = v.producer()
    if p is not None and is_constant(p):
        return p
    return ir.Node("", "Constant", [], [ir.AttrTensor("value", v.const_value)], num_outputs=1)


def subgraphs(node: ir.Node) -> Iterable[ir.Graph]:
    for attr in node.attributes.values():
        if attr.type == ir.AttributeType.GRAPH and attr.value is not None:
            yield attr.value
        elif attr.type == ir.AttributeType.GRAPHS and attr.value:
            yield from attr.value


def nested_nodes(node: ir.Node) -> Iterable[ir.Node]:
    """Every node inside ``node``'s subgraphs, at any depth."""
    for g in subgraphs(node):
        yield from ir.traversal.RecursiveGraphIterator(g)


def value_key(attr: ir.Attr) -> Any:
    """A hashable stand-in for an attribute's value."""
    t, v = attr.type, attr.value
    if attr.is_ref():
        return ("ref", attr.ref_attr_name)
    if t == ir.AttributeType.TENSOR:
        return (int(v.dtype), tuple(v.shape.numpy()), hashlib.sha1(v.tobytes()).hexdigest())
    if t == ir.AttributeType.FLOAT:
        return repr(float(v))
    if t == ir.AttributeType.FLOATS:
        return tuple(repr(float(x)) for x in v)
    if t in (ir.AttributeType.INTS, ir.AttributeType.STRINGS):
        return tuple(v)
    if t in (ir.AttributeType.INT, ir.AttributeType.STRING):
        return v
    return repr(v)


@dataclass
class Group:
    """The nodes of one module call, ready to become one function call.

    * ``items``: the body in order: copies-to-be of the constants read (first), then the
      members in a canonical topological order.
    * ``n_constants``: how many of ``items`` are constants read from outside: ``Constant``
      nodes, or new ``Constant`` nodes holding a small initializer (``constant_values`` lists
      the values they stand for).
    * ``inputs``/``outputs``: the values read from / given to the rest of the graph.
    * ``shape``: the structure with attribute values left out (equal shapes: one function).
    * ``slots``: ``(item index, attribute name)`` of every attribute value, in order, and
      ``slot_values`` their values (hashable).
    """

    call: ModuleCall
    items: list[ir.Node]
    n_constants: int
    inputs: list[ir.Value]
    outputs: list[ir.Value]
    shape: tuple
    slots: list[tuple[int, str]] = field(default_factory=list)
    slot_values: list[Any] = field(default_factory=list)
    constant_values: list[ir.Value] = field(default_factory=list)  # what items[:n] stand for

    @property
    def members(self) -> list[ir.Node]:
        return self.items[self.n_constants:]


class _Refs:
    """Numbers the values a group reads, in order of first use."""

    def __init__(self, main: ir.Graph, members: set[ir.Node], params: frozenset[str] | None):
        self.main_values = set(main.inputs) | set(main.initializers.values())
        self.members = members
        self.index: dict[ir.Node, int] = {}
        self.inputs: dict[ir.Value, int] = {}
        self.constants: dict[ir.Value, int] = {}
        self.params = params

    def ref(self, v: ir.Value | None, local: Mapping[ir.Value, Any] | None = None) -> Any:
        if v is None:
            return None
        if local is not None and v in local:
            return local[v]
        producer = v.producer()
        if producer in self.members:
            return ("n", self.index[producer], v.index())
        if (producer is not None and is_constant(producer)) or (
                producer is None and is_small_constant(v, self.params)):
            return ("c", self.constants.setdefault(v, len(self.constants)))
        if producer is None and v not in self.main_values:
            return ("?", v.name)  # an enclosing subgraph's input: described by `local`
        return ("i", self.inputs.setdefault(v, len(self.inputs)))


def canonical_order(members: list[ir.Node], priority: Mapping[ir.Node, float]) -> list[ir.Node]:
    """A topological order of ``members`` that depends only on their structure and priority.

    Kahn's algorithm, ties broken by ``priority`` (the lowering order), so two calls of one
    module, lowered by the same code, list their nodes alike.
    """
    mset = set(members)
    preds: dict[ir.Node, set[ir.Node]] = {m: set() for m in mset}
    for m in members:
        for n in (m, *nested_nodes(m)):
            for v in n.inputs:
                p = v.producer() if v is not None else None
                if p in mset and p is not m:
                    preds[m].add(p)
    succs: dict[ir.Node, list[ir.Node]] = {m: [] for m in mset}
    for m, ps in preds.items():
        for p in ps:
            succs[p].append(m)
    pending = {m: len(ps) for m, ps in preds.items()}
    seq = {m: i for i, m in enumerate(members)}
    heap = [(priority.get(m, 0), seq[m], m) for m in members if pending[m] == 0]
    heapq.heapify(heap)
    out: list[ir.Node] = []
    while heap:
        _, _, m = heapq.heappop(heap)
        out.append(m)
        for s in succs[m]:
            pending[s] -= 1
            if pending[s] == 0:
                heapq.heappush(heap, (priority.get(s, 0), seq[s], s))
    if len(out) != len(members):
        raise ValueError("the module call's nodes form a cycle")
    return out


def analyse(call: ModuleCall, members: list[ir.Node], main: ir.Graph,
            priority: Mapping[ir.Node, float], owner: Mapping[ir.Node, ir.Node],
            params: frozenset[str] | None = frozenset()) -> Group | None:
    """Describe the nodes of ``call``; None when they give nothing to the rest of the graph.

    ``params`` names the parameters and buffers: initializers of those names are always
    function inputs (None: every initializer is)."""
    ordered = canonical_order(members, priority)
    mset = set(ordered)
    refs = _Refs(main, mset, params)
    for i, m in enumerate(ordered):
        refs.index[m] = i
    member_shapes = [_node_shape(n, refs) for n in ordered]
    outputs: list[ir.Value] = []
    out_refs = []
    for m in ordered:
        for v in m.outputs:
            if v.is_graph_output() or any(owner.get(u, u) not in mset for u, _ in v.uses()):
                outputs.append(v)
                out_refs.append(("n", refs.index[m], v.index()))
    if not outputs:
        return None
    constant_values = sorted(refs.constants, key=refs.constants.get)
    constants = [constant_node(v) for v in constant_values]
    const_shapes = [_attrs_shape(c.attributes, refs, None) for c in constants]
    items = constants + ordered
    slots, values = [], []
    for p, n in enumerate(items):
        for name in sorted(n.attributes):
            attr = n.attributes[name]
            if attr.type not in _GRAPH_TYPES:
                slots.append((p, name))
                values.append(value_key(attr))
    shape = (tuple(const_shapes), tuple(member_shapes), len(refs.inputs), tuple(out_refs))
    inputs = sorted(refs.inputs, key=refs.inputs.get)
    return Group(call, items, len(constants), inputs, outputs, shape, slots, values,
                 constant_values)


def _node_shape(n: ir.Node, refs: _Refs, local: Mapping[ir.Value, Any] | None = None,
                depth: int = 0) -> tuple:
    return (n.domain, n.op_type, n.overload, tuple(refs.ref(v, local) for v in n.inputs),
            len(n.outputs), _attrs_shape(n.attributes, refs, local, depth))


def _attrs_shape(attrs: Mapping[str, ir.Attr], refs: _Refs, local, depth: int = 0) -> tuple:
    """Attribute names and types; subgraphs in full (their values are not inferred)."""
    out = []
    for name in sorted(attrs):
        a = attrs[name]
        if a.type == ir.AttributeType.GRAPH and not a.is_ref():
            out.append((name, "g", _graph_shape(a.value, refs, local, depth + 1)))
        elif a.type == ir.AttributeType.GRAPHS and not a.is_ref():
            shapes = tuple(_graph_shape(g, refs, local, depth + 1) for g in a.value)
            out.append((name, "gs", shapes))
        else:
            out.append((name, int(a.type)))
    return tuple(out)


def _graph_shape(g: ir.Graph, refs: _Refs, outer: Mapping[ir.Value, Any] | None,
                 depth: int) -> tuple:
    """A subgraph's structure; its own values are numbered by (depth, node, output)."""
    local: dict[ir.Value, Any] = dict(outer or {})
    for i, v in enumerate(g.inputs):
        local[v] = ("s", depth, "in", i)
    nodes = []
    for j, n in enumerate(g):
        shape = _node_shape(n, refs, local, depth)
        # attribute values inside subgraphs are part of the structure
        nodes.append((shape, tuple((k, value_key(a)) for k, a in sorted(n.attributes.items())
                                   if a.type not in _GRAPH_TYPES)))
        for v in n.outputs:
            local[v] = ("s", depth, j, v.index())
    return (len(g.inputs), tuple(nodes), tuple(refs.ref(v, local) for v in g.outputs))

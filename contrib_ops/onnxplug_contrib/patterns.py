"""Small helpers for matching and replacing node patterns in an ``onnx_ir`` graph.

The fusion passes read a pattern backwards from an anchor node (``producer(v, "Add")``), check
what must hold (constants, single use, shapes), and replace the anchor's output with the fused
node's (:func:`substitute`); the nodes left without users are removed by the final cleanup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx_ir as ir

MS = "com.microsoft"


def producer(v: ir.Value | None, op_type: str | Sequence[str] | None = None, domain: str = ""):
    """The node producing ``v`` when it is ``op_type`` in ``domain`` (any type when None)."""
    if v is None:
        return None
    node = v.producer()
    if node is None:
        return None
    types = (op_type,) if isinstance(op_type, str) else op_type
    if types is not None and (node.op_type not in types or node.domain != domain):
        return None
    return node


def const(v: ir.Value | None) -> np.ndarray | None:
    """The value of a constant (initializer or ``Constant`` node), else None."""
    if v is None:
        return None
    if v.const_value is not None:
        return v.const_value.numpy()
    node = v.producer()
    if node is not None and node.op_type == "Constant" and node.domain == "" and "value" in node.attributes:
        return node.attributes["value"].value.numpy()
    return None


def scalar(v: ir.Value | None) -> float | None:
    c = const(v)
    return float(c.reshape(())) if c is not None and c.size == 1 else None


def attr(node: ir.Node, name: str, default: Any = None) -> Any:
    a = node.attributes.get(name)
    return default if a is None else a.value


def single_use(v: ir.Value) -> bool:
    """Used by exactly one node and not a graph output: safe to fold into its consumer."""
    return len(v.uses()) == 1 and not v.is_graph_output()


def users(v: ir.Value) -> set[ir.Node]:
    return {u.node for u in v.uses()}


def dims(v: ir.Value | None) -> tuple | None:
    """The shape of ``v`` as ints and strings (named dynamic dims), or None if unknown."""
    if v is None or v.shape is None:
        return None
    out = []
    for d in v.shape:
        if isinstance(d, int):
            out.append(d)
        elif d.value is None:
            return None  # an anonymous dynamic dim: equal to nothing
        else:
            out.append(str(d.value))
    return tuple(out)


def set_shape(v: ir.Value, shape, like: ir.Value | None = None) -> ir.Value:
    """Declare ``v``'s shape (ints and dim names) and, from ``like``, its type."""
    v.shape = ir.Shape([d if isinstance(d, int) else ir.SymbolicDim(d) for d in shape])
    if like is not None and v.type is None:
        v.type = like.type
    return v


def reduce_axes(node: ir.Node) -> list[int] | None:
    """The axes of a Reduce* node: the attribute (before opset 18) or a constant input."""
    if len(node.inputs) > 1:
        c = const(node.inputs[1])
        return None if c is None else [int(a) for a in c.reshape(-1)]
    axes = attr(node, "axes")
    return None if axes is None else list(axes)


def last_axis(axes: list[int] | None, rank: int | None) -> bool:
    return axes is not None and rank is not None and len(axes) == 1 and axes[0] in (-1, rank - 1)


def node(domain: str, op_type: str, inputs: Sequence[ir.Value | None], num_outputs: int = 1,
         **attrs: Any) -> ir.Node:
    """A new node; attributes are plain Python values (int, float, str, lists)."""
    attributes = [ir.convenience.convert_attribute(k, v) for k, v in attrs.items() if v is not None]
    return ir.Node(domain, op_type, list(inputs), attributes, num_outputs=num_outputs)


def initializer(graph: ir.Graph, array: np.ndarray, name: str) -> ir.Value:
    """A new initializer in ``graph`` holding ``array`` (the name made unique)."""
    unique, k = name, 0
    while unique in graph.initializers:
        k += 1
        unique = f"{name}_{k}"
    tensor = ir.tensor(np.ascontiguousarray(array), name=unique)
    v = ir.Value(name=unique, const_value=tensor, type=ir.TensorType(tensor.dtype),
                 shape=ir.Shape(tensor.shape))
    graph.register_initializer(v)
    return v


def substitute(graph: ir.Graph, anchor: ir.Node, new_nodes: ir.Node | Sequence[ir.Node],
               old: ir.Value, new: ir.Value) -> None:
    """Insert ``new_nodes`` before ``anchor`` and make every use of ``old`` use ``new``.

    ``new`` takes ``old``'s type, shape and, when ``old`` is a graph output, its name (so output
    names are kept). The replaced nodes are left for the final cleanup to delete.
    """
    new_nodes = [new_nodes] if isinstance(new_nodes, ir.Node) else list(new_nodes)
    graph.insert_before(anchor, new_nodes)
    if new.type is None:
        new.type = old.type
    if new.shape is None and old.shape is not None:
        new.shape = old.shape
    for key in ("fx_node",):
        for n in new_nodes:
            if key in anchor.meta:
                n.meta[key] = anchor.meta[key]
    was_output = old.is_graph_output()
    name = old.name
    old.replace_all_uses_with(new, replace_graph_outputs=True)
    if was_output:
        old.name = None
        new.name = name


def bias_add(v: ir.Value):
    """``(y, bias)`` when ``v = Add(y, bias)`` with a constant 1-D bias over the last axis.

    ``y`` must already have ``v``'s shape (the bias must not broadcast it): known from its
    shape, or because ``y`` is a ``MatMul`` by a constant whose last dim is the bias's size.
    """
    add = producer(v, "Add")
    shape = dims(v)
    if add is None or not single_use(v) or not shape:
        return None
    for y, b in (add.inputs, add.inputs[::-1]):
        c = const(b)
        if c is None or c.ndim != 1 or c.shape[0] != shape[-1]:
            continue
        mm = producer(y, "MatMul")
        w = const(mm.inputs[1]) if mm is not None else None
        if dims(y) == shape or (w is not None and w.ndim == 2 and w.shape[1] == c.shape[0]):
            return y, b
    return None

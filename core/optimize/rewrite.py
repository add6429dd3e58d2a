"""What the graph-quality passes share: which values are constants, and safe rewiring.

A value counts as a constant when its tensor is known and no caller can change it: a
default-domain ``Constant`` node's output, or an initializer that is not (and will not become) a
graph input. With ``keep_initializers_as_inputs`` every initializer ends up as an overridable
graph input, and with ``export_params=False`` parameters are graph inputs with no tensor at all,
so neither is ever folded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx_ir as ir

from ..options import ExportOptions

DEFAULT_DOMAINS = ("", "ai.onnx")

# Ops whose result is not a function of their inputs: never merged, never folded.
NONDETERMINISTIC = frozenset({
    "RandomUniform", "RandomNormal", "RandomUniformLike", "RandomNormalLike", "Multinomial",
    "Bernoulli", "Dropout",
})


class ExportPass(ir.passes.InPlacePass):
    """An in-place ``onnx_ir`` pass configured by an export's options (and, for passes that must
    not merge nodes across module calls, the FX nodes the ONNX nodes were built from)."""

    def __init__(self, options: ExportOptions, fx_nodes: Mapping[str, Any] | None = None):
        super().__init__()
        self.options = options
        self.fx_nodes = fx_nodes or {}


def is_default_domain(node: ir.Node) -> bool:
    return node.domain in DEFAULT_DOMAINS


def has_subgraph(node: ir.Node) -> bool:
    return any(a.type in (ir.AttributeType.GRAPH, ir.AttributeType.GRAPHS)
               for a in node.attributes.values())


def initializers_are_constant(options: ExportOptions) -> bool:
    """Initializers may be folded: they stay initializers and are not graph inputs."""
    return not options.keep_initializers_as_inputs


def folds(options: ExportOptions) -> bool:
    """Folding passes run only with ``do_constant_folding=True`` and outside training mode."""
    from ..enums import TrainingMode

    return options.do_constant_folding and options.training != TrainingMode.TRAINING


def constant_tensor(value: ir.Value | None, options: ExportOptions) -> ir.TensorProtocol | None:
    """The tensor of ``value`` if it is a constant nothing can override, else None."""
    if value is None or value.is_graph_input():
        return None
    producer = value.producer()
    if producer is None:
        if value.is_initializer() and initializers_are_constant(options):
            return value.const_value
        return None
    if producer.op_type != "Constant" or not is_default_domain(producer):
        return None
    try:
        return ir.convenience.get_const_tensor(value)
    except ValueError:
        return None


def constant_array(value: ir.Value | None, options: ExportOptions) -> np.ndarray | None:
    tensor = constant_tensor(value, options)
    return None if tensor is None else tensor.numpy()


def static_shape(value: ir.Value | None) -> tuple[int, ...] | None:
    """The shape of ``value`` when every dimension is a known int."""
    if value is None or value.shape is None:
        return None
    dims = tuple(value.shape)
    if all(isinstance(d, int) for d in dims):
        return dims
    return None


def new_constant(graph: ir.Graph, array: np.ndarray, name: str, options: ExportOptions,
                 before: ir.Node) -> ir.Value | None:
    """A constant holding ``array``: an initializer, or a ``Constant`` node before ``before``
    when initializers become graph inputs (a folded value must not be overridable). None when
    neither is allowed (``Constant`` holds only float tensors before opset 9)."""
    array = np.asarray(array)
    tensor = ir.tensor(array if array.flags.c_contiguous else array.copy(), name=name)
    if initializers_are_constant(options):
        unique, k = name, 0
        while unique in graph.initializers:
            k += 1
            unique = f"{name}_{k}"
        tensor.name = unique
        value = ir.Value(name=unique, const_value=tensor, type=ir.TensorType(tensor.dtype),
                         shape=ir.Shape(tensor.shape))
        graph.register_initializer(value)
        return value
    floats = (ir.DataType.FLOAT, ir.DataType.DOUBLE, ir.DataType.FLOAT16)
    if options.opset_version < 9 and tensor.dtype not in floats:
        return None
    node = ir.Node("", "Constant", [], [ir.Attr("value", ir.AttributeType.TENSOR, tensor)])
    copy_meta(before, node)
    graph.insert_before(before, node)
    out = node.outputs[0]
    out.name = name
    out.type, out.shape, out.const_value = ir.TensorType(tensor.dtype), ir.Shape(tensor.shape), tensor
    return out


def copy_meta(source: ir.Node, target: ir.Node) -> None:
    """Let ``target`` stand for ``source``: its FX node (module stack) and source location."""
    if "fx_node" in source.meta:
        target.meta["fx_node"] = source.meta["fx_node"]
    if source.doc_string and not target.doc_string:
        target.doc_string = source.doc_string


def replace_value(old: ir.Value, new: ir.Value) -> bool:
    """Make every user of ``old`` use ``new``; a graph output keeps ``old``'s name.

    Refused (False) when ``old`` is a graph output and ``new`` cannot take its name: ``new`` is a
    graph input, an initializer or already a graph output (a name there is part of the
    model's interface and must stay).
    """
    if old.is_graph_output():
        if new.is_graph_input() or new.is_initializer() or new.is_graph_output():
            return False
        name = old.name
        old.replace_all_uses_with(new, replace_graph_outputs=True)
        old.name = None
        new.name = name
        return True
    old.replace_all_uses_with(new)
    return True


def module_stack(node: ir.Node, fx_nodes: Mapping[str, Any]) -> tuple | None:
    """The ``nn_module_stack`` keys of the FX node ``node`` was lowered from, or None."""
    fx = fx_nodes.get(node.meta.get("fx_node")) if node.meta.get("fx_node") else None
    if fx is None:
        return None
    return tuple((fx.meta.get("nn_module_stack") or {}).keys())


def may_merge(a: ir.Node, b: ir.Node, options: ExportOptions, fx_nodes: Mapping[str, Any]) -> bool:
    """May a rewrite turn nodes ``a`` and ``b`` into one?

    Always, unless modules become local functions (``export_modules_as_functions``): then only
    nodes lowered inside the same module call, so every function keeps its own computation.
    """
    if not options.wants_functions:
        return True
    stack = module_stack(a, fx_nodes)
    return stack is not None and stack == module_stack(b, fx_nodes)


def reshaped(shape: tuple[int, ...], target: list[int], node: ir.Node) -> tuple[int, ...] | None:
    """The shape ``Reshape(x, target)`` gives an input of ``shape``, or None if invalid."""
    allowzero = node.attributes.get("allowzero")
    dims = list(target)
    if not (allowzero is not None and allowzero.as_int() == 1):
        for i, d in enumerate(dims):
            if d == 0:
                if i >= len(shape):
                    return None
                dims[i] = shape[i]
    if dims.count(-1) > 1:
        return None
    total = int(np.prod(shape, dtype=np.int64))
    if -1 in dims:
        known = int(np.prod([d for d in dims if d != -1], dtype=np.int64))
        if known == 0 or total % known:
            return None
        dims[dims.index(-1)] = total // known
    return tuple(dims) if int(np.prod(dims, dtype=np.int64)) == total else None

"""`GraphContext`: the object symbolic functions receive as ``g`` to build ONNX nodes.

The graph itself is an ``onnx_ir.Graph``; values are ``onnx_ir.Value``. A value produced by
lowering an FX node carries the node's torch dtype and shape (``g.dtype(v)``, ``g.shape(v)``);
values a symbolic function creates itself carry what it declares (``g.op(..., dtype=...)``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx.defs
import onnx_ir as ir
import torch
from onnx_ir.tensor_adapters import TorchTensor, from_torch_dtype, to_torch_dtype

from .checkpoint import TensorView, is_deferred
from .errors import OnnxExporterError
from .fx_values import uniform_value

if TYPE_CHECKING:
    from .options import ExportOptions

_SUFFIX = {
    "i": ir.AttributeType.INT, "f": ir.AttributeType.FLOAT, "s": ir.AttributeType.STRING,
    "t": ir.AttributeType.TENSOR, "g": ir.AttributeType.GRAPH, "is": ir.AttributeType.INTS,
    "fs": ir.AttributeType.FLOATS, "ss": ir.AttributeType.STRINGS,
}
_CACHE_LIMIT = 256  # constants up to this many elements are shared within a graph


def onnx_dtype(dtype: torch.dtype) -> ir.DataType:
    return from_torch_dtype(dtype)


def torch_dtype(dtype: ir.DataType | None) -> torch.dtype | None:
    return None if dtype is None else to_torch_dtype(dtype)


def to_ir_tensor(value: Any, dtype: torch.dtype | None = None, name: str | None = None) -> ir.TensorProtocol:
    """An ``onnx_ir`` tensor from a torch tensor (zero-copy), numpy array or Python value.

    A contiguous CPU tensor is wrapped as it is. A view that is not contiguous (a transposed
    weight) and a checkpoint weight that is not in memory (``checkpoint.Deferred``) become a
    ``checkpoint.TensorView``: the graph holds the view, and the contiguous bytes are made only
    while the tensor is written, so no second copy of the weights is held.
    """
    if isinstance(value, torch.Tensor):
        t = value.detach()
        if dtype is not None and t.dtype != dtype:
            t = t.to(dtype)
        if t.device.type != "cpu":
            t = t.cpu()
        if t.is_meta:
            raise OnnxExporterError(
                f"a constant{f' {name!r}' if name else ''} is a tensor on the meta device (no "
                "values). Export a meta-device model with weights= (its checkpoint), or load "
                "its weights first.")
        if is_deferred(t) or (t.layout == torch.strided and not t.is_contiguous()):
            return TensorView(t, name=name)
        return TorchTensor(t, name=name)
    if isinstance(value, np.ndarray) and dtype is None:
        return ir.tensor(value, name=name)
    if dtype is None:
        flat = np.asarray(value)
        if flat.dtype == np.float64:
            dtype = torch.float32
        elif flat.dtype.kind in "iu":
            dtype = torch.int64
        elif flat.dtype == np.bool_:
            dtype = torch.bool
        else:
            dtype = torch.from_numpy(np.zeros(0, flat.dtype)).dtype
    return TorchTensor(torch.tensor(value, dtype=dtype), name=name)


def attribute(name: str, value: Any) -> ir.Attr | None:
    """An attribute from ``name_suffix=value`` or a plain typed Python value (None: omitted)."""
    if value is None:
        return None
    base, _, suffix = name.rpartition("_")
    if base and suffix in _SUFFIX:
        kind = _SUFFIX[suffix]
        if kind == ir.AttributeType.TENSOR:
            value = to_ir_tensor(value)
        elif kind in (ir.AttributeType.INTS, ir.AttributeType.FLOATS, ir.AttributeType.STRINGS):
            value = list(value)
        elif kind == ir.AttributeType.INT:
            value = int(value)
        elif kind == ir.AttributeType.FLOAT:
            value = float(value)
        return ir.Attr(base, kind, value)
    if isinstance(value, bool):
        return ir.AttrInt64(name, int(value))
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return ir.AttrTensor(name, to_ir_tensor(value))
    if isinstance(value, ir.Graph):
        return ir.AttrGraph(name, value)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, ir.Graph) for v in value):
        return ir.AttrGraphs(name, list(value))
    return ir.convenience.convert_attribute(name, value)


# -- output types from the operator schemas -------------------------------------------------------
_VARIADIC = onnx.defs.OpSchema.FormalParameterOption.Variadic


def _type_of(type_str: str) -> ir.DataType | None:
    """``"tensor(float)"`` -> ``ir.DataType.FLOAT``; None for sequences, maps and optionals."""
    if not (type_str.startswith("tensor(") and type_str.endswith(")")):
        return None
    return ir.DataType.__members__.get(type_str[7:-1].upper())


@dataclass(frozen=True)
class _TypePlan:
    """How an op's output types follow from its inputs, per its schema (see :func:`type_plan`).

    ``inputs[k]`` is the type variable of formal input ``k`` (None: a written-out type or a
    heterogeneous variadic); ``outputs[k]`` is a fixed ``ir.DataType``, the name of a type
    variable an input shares, or None (the schema alone cannot tell). A variadic last formal
    parameter stands for every actual one from its position on.
    """

    inputs: tuple[str | None, ...]
    variadic_input: bool
    outputs: tuple[ir.DataType | str | None, ...]
    variadic_output: bool


@lru_cache(maxsize=None)
def type_plan(domain: str, op_type: str, version: int) -> _TypePlan | None:
    """The output-type rules of ``domain::op_type`` at opset ``version``; None without a schema.

    An output whose type is written out, or whose type constraint allows one type only, gets that
    type; one whose type variable an input shares (and that is not a heterogeneous variadic) gets
    that input's type.
    """
    try:
        schema = onnx.defs.get_schema(op_type, version, domain)
    except onnx.defs.SchemaError:
        return None
    allowed = {t.type_param_str: tuple(t.allowed_type_strs) for t in schema.type_constraints}
    inputs = tuple(p.type_str if p.type_str in allowed and p.is_homogeneous else None
                   for p in schema.inputs)
    outputs: list[ir.DataType | str | None] = []
    for p in schema.outputs:
        options = allowed.get(p.type_str, (p.type_str,))
        if len(options) == 1:
            outputs.append(_type_of(options[0]))
        elif p.is_homogeneous and p.type_str in inputs:
            outputs.append(p.type_str)
        else:
            outputs.append(None)
    return _TypePlan(inputs, bool(schema.inputs) and schema.inputs[-1].option == _VARIADIC,
                     tuple(outputs), bool(schema.outputs) and schema.outputs[-1].option == _VARIADIC)


def _formal(i: int, n: int, variadic: bool) -> int | None:
    return i if i < n else (n - 1 if variadic and n else None)


def _input_type(plan: _TypePlan, inputs: Sequence[ir.Value | None], variable: str) -> ir.DataType | None:
    for i, v in enumerate(inputs):
        k = _formal(i, len(plan.inputs), plan.variadic_input)
        if k is None:
            break
        if plan.inputs[k] == variable and v is not None and v.dtype is not None:
            return v.dtype
    return None


def _attr(node: ir.Node, name: str) -> Any:
    a = node.attributes.get(name)
    return None if a is None else a.value


def _dtype_attr(node: ir.Node, default: Any) -> list[ir.DataType | None]:
    """The ``dtype`` attribute, else ``default`` (a DataType, or a callable of the node)."""
    dt = _attr(node, "dtype")
    if dt is not None:
        return [ir.DataType(dt)]
    return [default(node) if callable(default) else default]


def _first_input_type(node: ir.Node) -> ir.DataType | None:
    return node.inputs[0].dtype if node.inputs and node.inputs[0] is not None else None


def _constant_type(node: ir.Node) -> list[ir.DataType | None]:
    for name, dt in (("value", None), ("value_float", ir.DataType.FLOAT),
                     ("value_floats", ir.DataType.FLOAT), ("value_int", ir.DataType.INT64),
                     ("value_ints", ir.DataType.INT64), ("value_string", ir.DataType.STRING),
                     ("value_strings", ir.DataType.STRING)):
        value = _attr(node, name)
        if value is not None:
            return [value.dtype if dt is None else dt]
    return [None]


def _quantize_type(node: ir.Node) -> list[ir.DataType | None]:
    out = _attr(node, "output_dtype")
    if out:
        return [ir.DataType(out)]
    zero_point = node.inputs[2] if len(node.inputs) > 2 else None
    return [zero_point.dtype if zero_point is not None else ir.DataType.UINT8]


def _graph_outputs(name: str, skip: int = 0) -> Callable[[ir.Node], list[ir.DataType | None]]:
    def rule(node: ir.Node) -> list[ir.DataType | None]:
        body = _attr(node, name)
        return [v.dtype for v in body.outputs[skip:]] if isinstance(body, ir.Graph) else []
    return rule


# Default-domain ops whose output types come from an attribute or a body graph (first outputs).
_ATTRIBUTE_TYPES: dict[str, Callable[[ir.Node], list[ir.DataType | None]]] = {
    "Cast": lambda n: [ir.DataType(_attr(n, "to"))] if _attr(n, "to") is not None else [None],
    "ConstantOfShape": lambda n: [v.dtype if (v := _attr(n, "value")) is not None else ir.DataType.FLOAT],
    "Constant": _constant_type,
    "RandomNormal": lambda n: _dtype_attr(n, ir.DataType.FLOAT),
    "RandomUniform": lambda n: _dtype_attr(n, ir.DataType.FLOAT),
    "RandomNormalLike": lambda n: _dtype_attr(n, _first_input_type),
    "RandomUniformLike": lambda n: _dtype_attr(n, _first_input_type),
    "EyeLike": lambda n: _dtype_attr(n, _first_input_type),
    "Bernoulli": lambda n: _dtype_attr(n, _first_input_type),
    "Multinomial": lambda n: _dtype_attr(n, ir.DataType.INT32),
    "QuantizeLinear": _quantize_type,
    "If": _graph_outputs("then_branch"),
    "Loop": _graph_outputs("body", skip=1),
    "Scan": _graph_outputs("body"),
}


def infer_output_types(node: ir.Node, version: int) -> list[ir.DataType | None]:
    """The ONNX type of each output of ``node`` that its schema and attributes determine.

    ``version`` is the opset of the node's domain. An output nothing determines (or a node with
    no schema: most custom domains) gets None.
    """
    plan = type_plan(node.domain, node.op_type, version)
    types: list[ir.DataType | None] = []
    if node.domain in ("", "ai.onnx") and node.op_type in _ATTRIBUTE_TYPES:
        types = list(_ATTRIBUTE_TYPES[node.op_type](node))[:len(node.outputs)]
    if plan is None:
        return types + [None] * (len(node.outputs) - len(types))
    for i in range(len(types), len(node.outputs)):
        k = _formal(i, len(plan.outputs), plan.variadic_output)
        rule = plan.outputs[k] if k is not None else None
        if isinstance(rule, str):
            rule = _input_type(plan, node.inputs, rule)
        types.append(rule)
    return types


class GraphContext:
    """Builds ONNX nodes for one export (or one subgraph of it).

    The stable surface a symbolic function uses:

    * ``g.opset``: the target default-domain opset (an int); ``g.options``: the
      :class:`onnxplug.options.ExportOptions` of the export; ``g.domain_version(domain)``: the
      version of a custom domain the export imports (to choose a conversion's form);
    * building: ``g.op(...)`` (output types inferred from the operator schema),
      ``g.constant(...)``, ``g.initializer(...)``, ``g.subgraph(...)``, ``g.lower(...)`` (an FX
      branch or body, converted like the main graph);
    * what is known about a value: ``g.dtype(v)``, ``g.shape(v)``, ``g.rank(v)``,
      ``g.static_shape(v)``, ``g.const_value(v)``, ``g.set_type(v, ...)``;
    * the op being converted, from PyTorch's metadata: ``g.out_dtype(i)``, ``g.out_shape(i)``,
      ``g.out_val(i)``, ``g.out_count()``, ``g.out_used(i)``, ``g.arg_val(i)``, ``g.arg_uniform(i)``,
      ``g.target_name()``.

    Everything else (``graph``, ``new_nodes``, ``domains``, underscored names) belongs to the core.
    """

    def __init__(self, graph: ir.Graph, opset: int, options: "ExportOptions",
                 domains: dict[str, int] | None = None, declared: Mapping[str, int] | None = None):
        self.graph = graph
        self.opset = opset
        self.options = options
        self.domains: dict[str, int] = domains if domains is not None else {}
        self.declared: Mapping[str, int] = declared or {}  # plugins' onnxplug_custom_opsets
        self.new_nodes: list[ir.Node] = []
        self._fx_node: torch.fx.Node | None = None  # the node being converted (set_fx_node)
        self._constants: dict[tuple, ir.Value] = {}
        self._static_values: dict = {}  # FX node -> its export-time value (arg_uniform)
        self._lowerer: Any = None  # the export's Lowerer, set by the core (for lower())

    # -- building nodes ------------------------------------------------------------------
    def op(self, op_type: str, *inputs: Any, outputs: int = 1, dtype: torch.dtype | None = None,
           **attrs: Any) -> Any:
        """Append a node and return its output value (or a tuple when ``outputs > 1``).

        ``op_type`` is ``"Relu"`` for the default domain or ``"com.microsoft::Gelu"`` for a
        custom one. Inputs are values, ``None`` for an omitted optional input, or constants
        (torch/numpy tensors and Python scalars, converted with :meth:`constant`). Attributes
        are keywords with a type suffix (``axis_i=1``, ``alpha_f=0.5``, ``mode_s="linear"``,
        ``value_t=tensor``, ``perm_is=[0, 2, 1]``, ``_fs``, ``_ss``, ``_g``) or plain Python values
        typed automatically; ``None`` omits the attribute.

        Each output's type is inferred from the ONNX operator schema at the target opset: a type
        the schema fixes (``Shape`` -> int64, ``Equal`` -> bool, ``TopK``'s indices), the type of
        the input that shares the output's type variable (``Add``, ``Where``'s X), or the type an
        attribute names (``Cast``'s ``to``, ``ConstantOfShape``'s ``value``, the random ops'
        ``dtype``, the body graph of ``If``/``Loop``/``Scan``). ``dtype`` overrides it for every
        output; it is needed only where nothing determines the type (an op without a schema,
        such as most custom-domain ops, or inputs of unknown type).
        """
        domain, _, name = op_type.rpartition("::")
        if domain:
            self.domains.setdefault(domain, self.domain_version(domain))
        values = [self._as_value(v) for v in inputs]
        while values and values[-1] is None:
            values.pop()
        attributes = [a for k, v in attrs.items() if (a := attribute(k, v)) is not None]
        node = ir.Node(domain, name, values, attributes, num_outputs=outputs)
        self.graph.append(node)
        self.new_nodes.append(node)
        if dtype is not None:
            for out in node.outputs:
                out.dtype = onnx_dtype(dtype)
        else:
            version = self.opset if not domain or domain == "ai.onnx" else self.domains.get(domain, 1)
            for out, inferred in zip(node.outputs, infer_output_types(node, version)):
                if inferred is not None:
                    out.dtype = inferred
        return node.outputs[0] if outputs == 1 else tuple(node.outputs)

    def domain_version(self, domain: str) -> int:
        """The version of ``domain`` this export imports, for a conversion that has a different
        form per version: ``custom_opsets[domain]`` when the user names it, else the version
        the domain's plugin declares (``onnxplug_custom_opsets``), else 1. The default domain
        (``""`` or ``"ai.onnx"``) answers ``g.opset``."""
        if domain in ("", "ai.onnx"):
            return self.opset
        return self.options.custom_opsets.get(domain) or self.declared.get(domain, 1)

    def constant(self, value: Any, dtype: torch.dtype | None = None) -> ir.Value:
        """A constant value: a ``Constant`` node, shared with identical small constants.

        Python ints become int64, floats float32 and bools bool unless ``dtype`` says otherwise.
        """
        tensor = to_ir_tensor(value, dtype)
        key = None
        if tensor.size <= _CACHE_LIMIT:
            key = (tensor.dtype, tuple(tensor.shape.numpy()), tensor.tobytes())
            cached = self._constants.get(key)
            if cached is not None:
                return cached
        if self.opset < 9 and tensor.dtype not in (ir.DataType.FLOAT, ir.DataType.DOUBLE, ir.DataType.FLOAT16):
            # Constant holds only float tensors before opset 9: other dtypes become initializers
            # (of the main graph: there they are also graph inputs, as IR version 3 wants)
            root = self._lowerer.graph if self._lowerer is not None else self.graph
            name = f"_const_{len(root.initializers)}"
            while name in root.initializers:
                name += "_"
            out = ir.Value(name=name, const_value=tensor, type=ir.TensorType(tensor.dtype),
                           shape=ir.Shape(tensor.shape))
            root.register_initializer(out)
            if key is not None:
                self._constants[key] = out
            return out
        out = self.op("Constant", value=tensor)
        out.dtype, out.shape = tensor.dtype, ir.Shape(tensor.shape)
        out.const_value = tensor
        if key is not None:
            self._constants[key] = out
        return out

    def initializer(self, tensor: torch.Tensor, name: str | None = None) -> ir.Value:
        """A graph initializer holding ``tensor`` (zero-copy until saving).

        Use it for weights a conversion precomputes (a transposed weight, say); small constants
        are better made with :meth:`constant`. The name is made unique if taken.
        """
        # the main graph's: bodies (If/Loop/Scan) see its initializers, and branches share them
        root = self._lowerer.graph if self._lowerer is not None else self.graph
        base = name or "_init"
        unique, k = base, 0
        while unique in root.initializers:
            k += 1
            unique = f"{base}_{k}"
        t = tensor.detach()
        v = ir.Value(name=unique, const_value=to_ir_tensor(t, name=unique),
                     type=ir.TensorType(onnx_dtype(t.dtype)), shape=ir.Shape(tuple(t.shape)))
        root.register_initializer(v)
        return v

    @staticmethod
    def const_value(v: Any) -> torch.Tensor | None:
        """The torch tensor behind a constant value (initializer or Constant), else None."""
        if not isinstance(v, ir.Value) or v.const_value is None:
            return None
        c = v.const_value
        raw = getattr(c, "raw", None)
        if isinstance(raw, torch.Tensor):
            return raw
        return torch.from_numpy(c.numpy().copy())

    def _as_value(self, v: Any) -> ir.Value | None:
        if v is None or isinstance(v, ir.Value):
            return v
        if isinstance(v, (torch.Tensor, np.ndarray, int, float, bool)):
            return self.constant(v)
        if isinstance(v, Sequence) and all(isinstance(x, (int, float, bool)) for x in v):
            return self.constant(list(v))
        raise TypeError(
            f"g.op() input {v!r} of type {type(v).__name__} is neither an onnx_ir.Value nor a "
            "constant; build it with g.op(...) or g.constant(...)."
        )

    # -- what is known about a value ---------------------------------------------------------
    @staticmethod
    def dtype(v: ir.Value) -> torch.dtype | None:
        """The torch dtype of ``v``, or None when nothing declared it."""
        return torch_dtype(v.dtype) if v is not None else None

    @staticmethod
    def shape(v: ir.Value) -> tuple[int | str, ...] | None:
        """The shape of ``v``: ints for static dims, strings naming dynamic ones; None if unknown."""
        if v is None or v.shape is None:
            return None
        return tuple(d if isinstance(d, int) else str(d.value) for d in v.shape)

    @classmethod
    def rank(cls, v: ir.Value) -> int | None:
        s = cls.shape(v)
        return None if s is None else len(s)

    # -- the op being converted (PyTorch's metadata of its FX node) -----------------------------
    def set_fx_node(self, node: torch.fx.Node | None) -> None:
        """For the core: the FX node whose conversion runs next (what ``out_*`` describe)."""
        self._fx_node = node

    def target_name(self) -> str:
        """The op being converted as PyTorch prints it (``aten.max_pool2d.default``), or ''."""
        return str(self._fx_node.target) if self._fx_node is not None else ""

    def out_val(self, i: int = 0) -> Any:
        """PyTorch's value for output ``i`` of the op: a fake tensor, a SymInt..., or None.

        For an op returning one tensor, ``i=0`` is that tensor.
        """
        val = self._fx_node.meta.get("val") if self._fx_node is not None else None
        if isinstance(val, (tuple, list)):
            val = val[i] if i < len(val) else None
        return val

    def out_count(self) -> int | None:
        """How many outputs the op returns: the length of its tuple or list, 1 for a single value.

        None outside a conversion or without metadata. For ``split`` along a dynamic dim,
        ``torch.export`` fixes the count with guards, so it is safe to build the graph with.
        """
        val = self._fx_node.meta.get("val") if self._fx_node is not None else None
        if isinstance(val, (tuple, list)):
            return len(val)
        return None if val is None else 1

    def out_used(self, i: int = 0) -> bool:
        """Whether a later node (or the graph's outputs) uses output ``i`` of the op.

        True when unknown, and for every output when the whole result is used (not through
        indexing). A conversion may skip building outputs that are not used.
        """
        node = self._fx_node
        if node is None:
            return True
        for user in node.users:
            if user.target is not operator.getitem:
                return True
            if user.args[1] == i and user.users:
                return True
        return False

    def arg_val(self, i: int) -> Any:
        """PyTorch's value for positional argument ``i`` of the op, as it was traced.

        A fake tensor (dtype, shape, strides, storage offset) for a tensor argument, a list of
        them for a tensor list, the Python value for a constant argument; None when absent.
        """
        node = self._fx_node
        if node is None or i >= len(node.args):
            return None

        def val(a: Any) -> Any:
            if isinstance(a, torch.fx.Node):
                return a.meta.get("val")
            if isinstance(a, (list, tuple)):
                return type(a)(val(x) for x in a)
            return a
        return val(node.args[i])

    def arg_uniform(self, i: int, name: str | None = None) -> bool | int | float | None:
        """The one value every element of tensor argument ``i`` (or keyword ``name``) has, when
        that is known at export time although the graph computes it (an all-True mask built
        from ``arange``, expanded to a dynamic batch): see ``onnxplug.fx_values``. None when
        unknown or not uniform."""
        node = self._fx_node
        if node is None:
            return None
        arg = node.args[i] if i < len(node.args) else node.kwargs.get(name) if name else None
        return uniform_value(arg, self._static_values)

    def out_dtype(self, i: int = 0) -> torch.dtype | None:
        """The torch dtype PyTorch gives output ``i`` of the op being converted."""
        val = self.out_val(i)
        return val.dtype if isinstance(val, torch.Tensor) else None

    def out_shape(self, i: int = 0) -> tuple[int | str, ...] | None:
        """The shape of output ``i`` of the op being converted: ints, or strings for dynamic dims."""
        val = self.out_val(i)
        if not isinstance(val, torch.Tensor):
            return None
        return tuple(int(d) if isinstance(d, int) or str(d).isdigit() else str(d) for d in val.shape)

    @classmethod
    def static_shape(cls, v: ir.Value) -> tuple[int, ...] | None:
        """The shape when every dim is static, else None."""
        s = cls.shape(v)
        return s if s is not None and all(isinstance(d, int) for d in s) else None  # type: ignore[return-value]

    @staticmethod
    def set_type(v: ir.Value, dtype: torch.dtype | None = None, shape: Sequence | None = None) -> ir.Value:
        """Declare the dtype and/or shape of a value the symbolic function built."""
        if dtype is not None:
            v.dtype = onnx_dtype(dtype)
        if shape is not None:
            v.shape = ir.Shape([d if isinstance(d, int) else ir.SymbolicDim(str(d)) for d in shape])
        return v

    # -- subgraphs -----------------------------------------------------------------------------
    def subgraph(self, name: str = "body") -> "GraphContext":
        """A context for a body graph (``Loop``, ``If``, ``Scan``) that may use outer values.

        Add inputs with :meth:`add_input`, build nodes with ``op``, then pass
        ``sub.finish(*outputs)`` as the ``GRAPH`` attribute.
        """
        sub = ir.Graph([], [], nodes=[], name=name)
        ctx = GraphContext(sub, self.opset, self.options, self.domains, self.declared)
        ctx._lowerer = self._lowerer
        return ctx

    def lower(self, graph_module: torch.fx.GraphModule, inputs: Sequence[Any]) -> list[ir.Value]:
        """Lower an FX graph module (a branch or body of a higher-order op) into this graph.

        ``inputs`` has one entry per placeholder: a value (of this graph or an enclosing one:
        bodies use outer values by name) or a constant binds it; ``None`` makes it a new input
        of this graph, typed from PyTorch's metadata. Returns the module's outputs as values.
        Every call inside is converted as in the main graph (same registry, opset, folding,
        source locations). On a ``g.subgraph(...)`` context it builds a body; on the ``g`` a
        conversion received, it inlines the module. See :mod:`onnxplug.subgraphs`.
        """
        lower_into = getattr(getattr(self, "_lowerer", None), "lower_into", None)
        if lower_into is None:
            raise OnnxExporterError("g.lower() works only inside an export (the context was not "
                                    "built by the core's lowering).")
        return lower_into(self, graph_module, inputs)

    def add_input(self, name: str, dtype: torch.dtype, shape: Sequence | None = None) -> ir.Value:
        v = ir.Value(name=name)
        self.set_type(v, dtype, shape)
        self.graph.inputs.append(v)
        return v

    def finish(self, *outputs: ir.Value) -> ir.Graph:
        for out in outputs:
            producer = out.producer()
            if producer is None or producer.graph is not self.graph or out in self.graph.outputs:
                out = self.op("Identity", out)
            self.graph.outputs.append(out)
        return self.graph

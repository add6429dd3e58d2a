"""`GraphContext`: the object symbolic functions receive as ``g`` to build ONNX nodes.

The graph itself is an ``onnx_ir.Graph``; values are ``onnx_ir.Value``. A value produced by
lowering an FX node carries the node's torch dtype and shape (``g.dtype(v)``, ``g.shape(v)``);
values a symbolic function creates itself carry what it declares (``g.op(..., dtype=...)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx_ir as ir
import torch
from onnx_ir.tensor_adapters import TorchTensor, from_torch_dtype, to_torch_dtype

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
    """An ``onnx_ir`` tensor from a torch tensor (zero-copy), numpy array or Python value."""
    if isinstance(value, torch.Tensor):
        t = value.detach()
        if dtype is not None and t.dtype != dtype:
            t = t.to(dtype)
        if t.device.type != "cpu":
            t = t.cpu()
        return TorchTensor(t.contiguous(), name=name)
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


class GraphContext:
    """Builds ONNX nodes for one export (or one subgraph of it).

    Attributes a symbolic function uses:

    * ``g.opset``: the target default-domain opset (an int).
    * ``g.options``: the :class:`onnxplug.options.ExportOptions` of the export.
    * ``g.op(...)``, ``g.constant(...)``, ``g.dtype(v)``, ``g.shape(v)``, ``g.rank(v)``.
    """

    def __init__(self, graph: ir.Graph, opset: int, options: "ExportOptions",
                 domains: dict[str, int] | None = None):
        self.graph = graph
        self.opset = opset
        self.options = options
        self.domains: dict[str, int] = domains if domains is not None else {}
        self.new_nodes: list[ir.Node] = []
        self.fx_node: Any = None  # the torch.fx.Node being lowered, set by the core
        self._constants: dict[tuple, ir.Value] = {}

    # -- building nodes ------------------------------------------------------------------
    def op(self, op_type: str, *inputs: Any, outputs: int = 1, dtype: torch.dtype | None = None,
           **attrs: Any) -> Any:
        """Append a node and return its output value (or a tuple when ``outputs > 1``).

        ``op_type`` is ``"Relu"`` for the default domain or ``"com.microsoft::Gelu"`` for a
        custom one. Inputs are values, ``None`` for an omitted optional input, or constants
        (torch/numpy tensors and Python scalars, converted with :meth:`constant`). Attributes
        are keywords with a type suffix (``axis_i=1``, ``alpha_f=0.5``, ``mode_s="linear"``,
        ``value_t=tensor``, ``perm_is=[0, 2, 1]``, ``_fs``, ``_ss``, ``_g``) or plain Python values
        typed automatically; ``None`` omits the attribute. ``dtype`` declares the torch dtype of
        the outputs, so later ``g.dtype(out)`` calls can use it.
        """
        domain, _, name = op_type.rpartition("::")
        if domain:
            self.domains.setdefault(domain, 1)
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
        return node.outputs[0] if outputs == 1 else tuple(node.outputs)

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
            name = f"_const_{len(self.graph.initializers)}"
            while name in self.graph.initializers:
                name += "_"
            out = ir.Value(name=name, const_value=tensor, type=ir.TensorType(tensor.dtype),
                           shape=ir.Shape(tensor.shape))
            self.graph.register_initializer(out)
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
        root = self.graph
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

    def _out_val(self, i: int) -> Any:
        val = self.fx_node.meta.get("val") if self.fx_node is not None else None
        if isinstance(val, (tuple, list)):
            val = val[i] if i < len(val) else None
        return val

    def out_dtype(self, i: int = 0) -> torch.dtype | None:
        """The torch dtype PyTorch gives output ``i`` of the op being converted."""
        val = self._out_val(i)
        return val.dtype if isinstance(val, torch.Tensor) else None

    def out_shape(self, i: int = 0) -> tuple[int | str, ...] | None:
        """The shape of output ``i`` of the op being converted: ints, or strings for dynamic dims."""
        val = self._out_val(i)
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
        return GraphContext(sub, self.opset, self.options, self.domains)

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

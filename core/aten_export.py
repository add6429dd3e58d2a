"""The ``ONNX_ATEN``, ``ONNX_ATEN_FALLBACK`` and ``ONNX_FALLTHROUGH`` export types, as a plugin.

Built on the ``onnxplug_register_fallbacks`` hook (:mod:`onnxplug.fallbacks`); the core's
built-in plugin registers it. Every node it emits encodes one PyTorch op call the same way:

* **inputs**: the tensor arguments, in schema order (a tensor list contributes each tensor; an
  omitted optional tensor is an empty input, so positions stay those of the schema). A
  non-tensor argument that is only known at run time (a dynamic size) is an int64 input too;
* **attributes**: every other argument, named after its schema argument: ints (bools as 0/1),
  floats, strings, int and float lists; a dtype as its ONNX ``TensorProto`` data type (int), a
  device, layout or memory format as its string; ``None`` is omitted;
* **outputs**: one per result of the op; types and shapes come from the FX node's metadata.

``ONNX_ATEN`` makes every ATen op an ``ATen`` node in domain ``org.pytorch.aten`` with string
attributes ``operator`` (``"add"``) and ``overload_name`` (``"Tensor"``, ``""`` for the default
overload). ``ONNX_ATEN_FALLBACK`` does that only for ATen ops the export could not convert
otherwise. ``ONNX_FALLTHROUGH`` emits such ops (ATen and ``torch.library`` custom ops alike)
unconverted: domain = the op's namespace (``aten``, ``mylib``), op type = its name, attribute
``overload_name``. onnxruntime runs none of these nodes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import onnx_ir as ir
import torch
from onnx_ir.tensor_adapters import from_torch_dtype

from .enums import OperatorExportTypes
from .errors import OnnxExporterError
from .hookspecs import hookimpl

ATEN_DOMAIN = "org.pytorch.aten"


def _is_tensor_type(t: Any) -> bool:
    return "Tensor" in str(t)


def _as_int64_input(g: Any, value: list) -> ir.Value:
    """A 1-D int64 value from a list mixing ints and run-time scalars (a dynamic size)."""
    parts = [g.op("Reshape", v, g.constant([1])) if isinstance(v, ir.Value)
             else g.constant([int(v)]) for v in value]
    return parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis_i=0)


def _attribute(op_name: str, name: str, value: Any) -> tuple[str, Any]:
    """``(g.op keyword with its type suffix, value)`` for a non-tensor argument."""
    if isinstance(value, bool):
        return f"{name}_i", int(value)
    if isinstance(value, int):
        return f"{name}_i", value
    if isinstance(value, float):
        return f"{name}_f", value
    if isinstance(value, str):
        return f"{name}_s", value
    if isinstance(value, torch.dtype):
        return f"{name}_i", int(from_torch_dtype(value))
    if isinstance(value, (torch.device, torch.layout, torch.memory_format)):
        return f"{name}_s", str(value)
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, (bool, int)) for v in value):
            return f"{name}_is", [int(v) for v in value]
        if all(isinstance(v, (bool, int, float)) for v in value):
            return f"{name}_fs", [float(v) for v in value]
        if all(isinstance(v, str) for v in value):
            return f"{name}_ss", list(value)
    raise OnnxExporterError(
        f"{op_name}: argument {name!r} = {value!r:.60} ({type(value).__name__}) has no ONNX "
        "attribute form, so the op cannot be emitted unconverted. Register a symbolic function "
        "for it (custom_symbolics={...}).")


def encode_call(g: Any, op: torch._ops.OpOverload, args: tuple, kwargs: dict):
    """``(inputs, attributes)`` of ``op`` called with ``args``/``kwargs`` (see the module doc)."""
    inputs: list[ir.Value | None] = []
    attrs: dict[str, Any] = {}
    values = dict(zip([a.name for a in op._schema.arguments if not a.kwarg_only], args))
    values.update(kwargs)
    for arg in op._schema.arguments:
        value = values.get(arg.name)
        if _is_tensor_type(arg.type):
            inputs.extend(value if isinstance(value, (list, tuple)) else [value])
        elif isinstance(value, ir.Value):
            inputs.append(value)
        elif isinstance(value, (list, tuple)) and any(isinstance(v, ir.Value) for v in value):
            inputs.append(_as_int64_input(g, list(value)))
        elif value is not None:
            key, encoded = _attribute(str(op), arg.name, value)
            attrs[key] = encoded
    return inputs, attrs


def _returns_one_list(op: torch._ops.OpOverload) -> bool:
    """Whether ``op`` returns one ``Tensor[]`` (a kept autograd Function does)."""
    returns = op._schema.returns
    return len(returns) == 1 and isinstance(returns[0].type, torch.ListType)


def _emit(g: Any, op: torch._ops.OpOverload, op_type: str, inputs: list, attrs: dict) -> Any:
    """One node with as many outputs as the op returns; a one-element list result gets a
    1-tuple back (the lowering indexes it like any sequence)."""
    outputs = g.out_count() or 1
    result = g.op(op_type, *inputs, outputs=outputs, **attrs)
    return (result,) if outputs == 1 and _returns_one_list(op) else result


def aten_node(op: torch._ops.OpOverload) -> Callable:
    """The conversion of ``op`` to one ``org.pytorch.aten::ATen`` node."""
    def convert(g: Any, *args: Any, **kwargs: Any) -> Any:
        inputs, attrs = encode_call(g, op, args, kwargs)
        return _emit(g, op, f"{ATEN_DOMAIN}::ATen", inputs, {
            "operator_s": op._schema.name.split("::", 1)[1],
            "overload_name_s": op._schema.overload_name, **attrs})
    convert.__qualname__ = f"aten_node[{op}]"
    return convert


def unconverted_node(op: torch._ops.OpOverload) -> Callable:
    """The conversion of ``op`` to a node of its own namespace's domain (``aten::linalg_svd``)."""
    domain, _, name = op._schema.name.partition("::")

    def convert(g: Any, *args: Any, **kwargs: Any) -> Any:
        inputs, attrs = encode_call(g, op, args, kwargs)
        return _emit(g, op, f"{domain}::{name}", inputs,
                     {"overload_name_s": op._schema.overload_name, **attrs})
    convert.__qualname__ = f"unconverted_node[{op}]"
    return convert


def _aten_only(op: torch._ops.OpOverload) -> Callable | None:
    return aten_node(op) if op.namespace == "aten" else None


@hookimpl
def onnxplug_register_fallbacks(register):
    register(_aten_only, OperatorExportTypes.ONNX_ATEN, first=True)
    register(_aten_only, OperatorExportTypes.ONNX_ATEN_FALLBACK)
    register(unconverted_node, OperatorExportTypes.ONNX_FALLTHROUGH)

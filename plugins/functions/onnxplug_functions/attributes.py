"""Function attributes: annotated module attributes and inferred ones.

* Annotated attributes: names a module class declares with a PEP 526 annotation
  (``eps: float``), on the class or its bases below ``nn.Module``. Each call node carries the
  instance's value; like the reference exporter, the function body does not read them (they
  describe the call, for consumers that match functions to fused kernels). Values that ONNX
  attributes can hold are exported: bool/int, float, str and lists of them; tensors, modules,
  None and private names (``_supports_sdpa``) are skipped.
* Inferred attributes: node attributes of the body whose values differ between calls that
  share the function (a Dropout ``ratio``, a Constant ``value``, an inner call's attribute).
  They are named ``inferred::<op type>_<attribute>`` (``.1``, ``.2`` for repeats), the body refers
  to them with ``ref_attr_name``, and each call node sets its own value.
"""

from __future__ import annotations

import inspect
from typing import Any

import onnx_ir as ir
import torch

INFERRED = "inferred::"


def annotated_names(cls: type) -> list[str]:
    """Attribute names declared with annotations by ``cls`` and its bases below nn.Module."""
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, torch.nn.Module)) \
                or klass is torch.nn.Module:
            continue
        try:
            ann = inspect.get_annotations(klass)
        except Exception:  # an unresolvable annotation: the names are still in __dict__
            ann = klass.__dict__.get("__annotations__", {})
        names.extend(n for n in ann if n not in names and not n.startswith("_"))
    return names


def as_attribute(name: str, value: Any) -> ir.Attr | None:
    """An ONNX attribute holding ``value``, or None when ONNX attributes cannot hold it."""
    if isinstance(value, bool):
        return ir.AttrInt64(name, int(value))
    if isinstance(value, int):
        return ir.AttrInt64(name, value)
    if isinstance(value, float):
        return ir.AttrFloat32(name, value)
    if isinstance(value, str):
        return ir.AttrString(name, value)
    if isinstance(value, (list, tuple)) and value:
        if all(isinstance(v, (bool, int)) for v in value):
            return ir.AttrInt64s(name, [int(v) for v in value])
        if all(isinstance(v, (bool, int, float)) for v in value):
            return ir.AttrFloat32s(name, [float(v) for v in value])
        if all(isinstance(v, str) for v in value):
            return ir.AttrStrings(name, list(value))
    return None


def annotated_attributes(module: torch.nn.Module | None) -> list[ir.Attr]:
    """The annotated attributes of ``module`` with the values this instance holds."""
    if module is None:
        return []
    out = []
    for name in annotated_names(type(module)):
        value = getattr(module, name, None)
        if isinstance(value, (torch.Tensor, torch.nn.Module)):
            continue
        attr = as_attribute(name, value)
        if attr is not None:
            out.append(attr)
    return out


def inferred_name(op_type: str, attr: str, counts: dict[str, int]) -> str:
    """``inferred::Dropout_ratio``; a repeat gets ``.1``, ``.2``...; an attribute that is already
    inferred (an inner function's) keeps its name."""
    base = attr if attr.startswith(INFERRED) else f"{INFERRED}{op_type}_{attr}"
    k = counts.get(base, 0)
    counts[base] = k + 1
    return base if k == 0 else f"{base}.{k}"


def copy_attr(attr: ir.Attr, name: str | None = None) -> ir.Attr:
    return ir.Attr(name or attr.name, attr.type, attr.value, doc_string=attr.doc_string)

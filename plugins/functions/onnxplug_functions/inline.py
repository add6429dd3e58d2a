"""The inverse of export_modules_as_functions: inline every local function call."""

from __future__ import annotations

import os
from typing import Any

import onnx
import onnx_ir as ir
import onnx_ir.passes.common as common


def inline_functions(model: Any) -> Any:
    """Replace every call of a model-local function by the function's body, recursively.

    ``model`` is an ``onnx.ModelProto`` (a new flat ModelProto is returned; the argument is not
    changed), an ``onnx_ir.Model`` (flattened in place and returned) or a path to a ``.onnx``
    file (loaded, external data included; a ModelProto is returned). Attribute references
    (``ref_attr_name``) take the values set on each call node. The functions and the opset
    imports of their domains are removed, so runtimes without local-function support load the
    result.
    """
    if isinstance(model, (str, os.PathLike)):
        model = onnx.load(os.fspath(model))
    if isinstance(model, onnx.ModelProto):
        flat = ir.serde.deserialize_model(model)
        _inline(flat)
        return ir.serde.serialize_model(flat)
    if isinstance(model, ir.Model):
        _inline(model)
        return model
    raise TypeError(
        f"inline_functions expects an onnx.ModelProto, an onnx_ir.Model or a path to a .onnx "
        f"file, got {type(model).__name__}.")


def _inline(model: ir.Model) -> None:
    common.InlinePass()(model)
    common.RemoveUnusedOpsetsPass()(model)
    common.TopologicalSortPass()(model)

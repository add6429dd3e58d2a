"""The ONNX checker, with full shape inference, raising :class:`CheckerError`.

An exported ``onnx_ir`` model is checked without copying its weights: the checker runs on a
weight-free copy (see ``serialize.weightless``) in which every tensor of at least
``serialize.EXTERNAL_THRESHOLD`` bytes, whether a graph or subgraph initializer or the value of a
``Constant`` (any tensor attribute, in local functions too), is an external-data reference with
its dtype, shape and name but no bytes. The checker sees the same graph, types and shapes, and
full shape inference still reads the small tensors (shapes, axes) that stay inline. What it
would have checked on the bytes themselves, that a tensor holds exactly as many bytes as its
dtype and shape need, is checked on each replaced tensor's storage instead.
"""

from __future__ import annotations

import os
import tempfile

import onnx
import onnx_ir as ir

from . import serialize
from .errors import CheckerError


def check_model(model: ir.Model | onnx.ModelProto | str | os.PathLike) -> None:
    """Run ``onnx.checker`` (``full_check``) on an ``onnx_ir`` model (weight-free), a proto, or
    a path (for models saved with external data)."""
    if isinstance(model, ir.Model):
        _check_weightless(model)
        return
    _run_checker(os.fspath(model) if isinstance(model, os.PathLike) else model)


def _check_weightless(model: ir.Model) -> None:
    skeleton = serialize.weightless(model, scope="everything")
    # The checker resolves external references against the model's folder and wants the file
    # to exist: an empty one, beside the saved skeleton, is what it gets.
    with tempfile.TemporaryDirectory(prefix="onnxplug-check-") as folder:
        open(os.path.join(folder, serialize.WEIGHTLESS_LOCATION), "wb").close()
        path = os.path.join(folder, "model.onnx")
        with open(path, "wb") as fh:
            fh.write(skeleton.proto.SerializeToString())
        _run_checker(path)


def _run_checker(model: onnx.ModelProto | str) -> None:
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise CheckerError(
            f"the ONNX checker rejected the exported model: {exc}\nThis is a bug in the "
            "symbolic function that produced the node named in the message (see "
            "ExportResult.served or `onnxplug ops`); please report it to that plugin."
        ) from exc

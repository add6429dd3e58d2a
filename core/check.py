"""The ONNX checker, with full shape inference, raising :class:`CheckerError`."""

from __future__ import annotations

import onnx

from .errors import CheckerError


def check_model(model: onnx.ModelProto | str) -> None:
    """Run ``onnx.checker`` (``full_check``) on a proto, or on a path for external-data models."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise CheckerError(
            f"the ONNX checker rejected the exported model: {exc}\nThis is a bug in the "
            "symbolic function that produced the node named in the message (see "
            "ExportResult.served or `onnxplug ops`); please report it to that plugin."
        ) from exc

"""The reference exporter's enumerations, with the same member names."""

from __future__ import annotations

import enum


class TrainingMode(enum.IntEnum):
    """Which behaviour of the model is exported (the `training=` argument)."""

    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


class OperatorExportTypes(enum.IntEnum):
    """How operators are exported (the `operator_export_type=` argument)."""

    ONNX = 0
    ONNX_ATEN = 1
    ONNX_ATEN_FALLBACK = 2
    ONNX_FALLTHROUGH = 3

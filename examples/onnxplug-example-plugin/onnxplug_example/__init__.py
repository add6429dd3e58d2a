"""onnxplug-example-plugin: a third-party op, ``example::rms_norm``, and how to export it.

Importing the package defines the op (``torch.ops.example.rms_norm``); the onnxplug plugin in
:mod:`onnxplug_example.plugin` converts it to ONNX.
"""

from __future__ import annotations

from .ops import RMSNorm, rms_norm

__all__ = ["RMSNorm", "rms_norm"]

"""onnxplug: a PyTorch-to-ONNX exporter built as a small core plus pluggy plugins.

``onnxplug.export(model, args, f, ...)`` is the entry point; symbolic functions come from
plugins found through the ``onnxplug`` entry-point group (see ``onnxplug.hookspecs``).
"""

from __future__ import annotations

from .autograd_functions import function_key as autograd_function_key
from .enums import OperatorExportTypes, TrainingMode
from .errors import (
    CaptureError,
    CheckerError,
    ExportWriteError,
    OnnxExporterError,
    OptionError,
    PluginError,
    UnsupportedOperatorError,
    VerificationError,
)
from .export import export
from .graph import GraphContext
from .hookspecs import hookimpl
from .plugins import load_plugins, reload_plugins
from .registry import register_symbolic, symbolic, unregister_symbolic
from .result import ExportResult

__version__ = "0.1.0"


def inline_functions(model):
    """Inline every local function of an exported model (``export_modules_as_functions``),
    for runtimes without function support. See ``onnxplug_functions.inline_functions``."""
    try:
        from onnxplug_functions import inline_functions as inline
    except ImportError as exc:
        raise PluginError("inline_functions needs the onnxplug-functions plugin: "
                          "pip install -e plugins/functions") from exc
    return inline(model)


__all__ = [
    "autograd_function_key",
    "CaptureError", "CheckerError", "ExportResult", "ExportWriteError", "GraphContext",
    "OnnxExporterError",
    "OperatorExportTypes", "OptionError", "PluginError", "TrainingMode",
    "UnsupportedOperatorError", "VerificationError", "export", "hookimpl", "inline_functions",
    "load_plugins",
    "register_symbolic", "reload_plugins", "symbolic", "unregister_symbolic",
]

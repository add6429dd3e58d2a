"""The core's own plugin: graph capture with torch.export and the cleanup IR passes."""

from __future__ import annotations

from typing import Any

from .aten_export import onnxplug_register_fallbacks  # noqa: F401 - the export types (a hookimpl)
from .autograd_functions import onnxplug_register_symbolics  # noqa: F401 - kept Functions (a hookimpl)
from .capture import capture
from .hookspecs import hookimpl
from .optimize import OPTIMIZE_PASSES
from .passes import BUILTIN_FX_PASSES, BUILTIN_IR_PASSES
from .trace_capture import trace_on_request, trace_when_export_fails  # noqa: F401 (capture hooks)


@hookimpl(trylast=True)
def onnxplug_capture(model: Any, args: tuple, kwargs: dict, options: Any):
    return capture(model, args, kwargs, options)


@hookimpl
def onnxplug_register_ir_passes(register):
    for fn, order, name in BUILTIN_IR_PASSES + OPTIMIZE_PASSES:
        register(fn, order=order, name=name)


@hookimpl
def onnxplug_register_fx_passes(register):
    for fn, order, name in BUILTIN_FX_PASSES:
        register(fn, order=order, name=name)

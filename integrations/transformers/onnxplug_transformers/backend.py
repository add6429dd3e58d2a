"""The exporter and config classes registered with ``transformers.exporters``."""

from __future__ import annotations

import copy
import sys
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from transformers.exporters.auto import EXPORT_BACKENDS, register_backend
from transformers.exporters.configs import OnnxConfig
from transformers.exporters.exporter_dynamo import DynamoExporter
from transformers.exporters.exporter_onnx import OnnxExporter
from transformers.exporters.metadata import record_output_structure
from transformers.exporters.utils import disambiguate_io_names, patch_model_outputs

import onnx_ir
import onnxplug

FORMAT = "onnxplug"
DEFAULT_OPSET = 18


@dataclass
class OnnxplugConfig(OnnxConfig):
    """transformers' ``OnnxConfig`` for the onnxplug backend: ``dynamic``, ``dynamic_shapes``,
    ``strict`` and ``opset_version`` mean what they mean there (the default opset is 18);
    ``optimize`` and ``ort_fusions`` are onnxplug's own passes and ignored here."""

    export_format: str = FORMAT


class OnnxplugExporter(OnnxExporter):
    """transformers' capture, onnxplug's conversion. Saves and loads like the ``onnx`` backend
    (``model.onnx`` with a ``.data`` sidecar), so its runner runs the result."""

    export_format = FORMAT
    config_class = OnnxplugConfig
    required_packages = ["torch", "onnx", "onnxplug"]
    tested_versions: dict[str, str] = {}

    def export_program(self, model: Any, sample_inputs: MutableMapping[str, Any],
                       config: OnnxplugConfig):
        with patch_model_outputs(model) as (inputs_names, outputs_names, traced_outputs):
            program, metadata = DynamoExporter.export_program(self, model, sample_inputs,
                                                              config=config)
        inputs_names, outputs_names = disambiguate_io_names(inputs_names, outputs_names)
        result = onnxplug.export(program, (), None, kwargs=copy.deepcopy(dict(sample_inputs)),
                                 input_names=list(inputs_names), output_names=list(outputs_names),
                                 opset_version=config.opset_version or DEFAULT_OPSET)
        record_output_structure(metadata, traced_outputs[-1])
        return result.ir_model, metadata


def register() -> None:
    """Register ``export_format="onnxplug"`` (idempotent), with the ``onnx`` backend's runner."""
    if FORMAT in EXPORT_BACKENDS and EXPORT_BACKENDS[FORMAT].exporter is OnnxplugExporter:
        return
    runner = EXPORT_BACKENDS["onnx"].runner
    if isinstance(runner, str):
        from transformers.exporters.auto import get_runner_class

        runner = get_runner_class("onnx")
    _give_onnx_ir(sys.modules[OnnxExporter.__module__], sys.modules[runner.__module__])
    register_backend(OnnxplugExporter, runner)


def _give_onnx_ir(*modules: Any) -> None:
    """transformers' ONNX exporter and runner save, load and feed models with ``onnx_ir``, but
    import it only when onnxscript (which the torch.onnx path needs, and onnxplug does not) is
    installed. onnx_ir is onnxplug's own dependency: hand it to them so the shared save, load
    and runner code works without onnxscript."""
    for module in modules:
        if not hasattr(module, "onnx_ir"):
            module.onnx_ir = onnx_ir

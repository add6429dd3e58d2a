"""onnxplug as a backend of transformers' export API (``transformers.exporters``).

Importing this package registers the ``"onnxplug"`` export format, so transformers' own entry
points produce onnxplug exports::

    import onnxplug_transformers  # registers export_format="onnxplug"
    from transformers.exporters import AutoHfExporter

    config = onnxplug_transformers.OnnxplugConfig(dynamic=True, opset_version=18)
    exporter = AutoHfExporter.from_config(config)
    exported = exporter.export_for_generation(model, {"input_ids": ids}, config=config)
    exported.save_pretrained("out")          # prefill and decode graphs, with their caches

Capture is transformers' own (``DynamoExporter.export_program``: its patches, its cache pytree
registration, its metadata), so input and output names are those transformers' ONNX runner
expects; the ExportedProgram is then converted by onnxplug instead of ``torch.onnx``. The saved
files run with transformers' ``OnnxModelRunner``.
"""

from __future__ import annotations

from .backend import OnnxplugConfig, OnnxplugExporter, register

register()

__all__ = ["OnnxplugConfig", "OnnxplugExporter", "register"]

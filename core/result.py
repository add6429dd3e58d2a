"""`ExportResult`: what ``export()`` returns."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import onnx
import onnx_ir as ir

from . import serialize


@dataclass
class ExportResult:
    """The exported model and how it was made.

    * ``model``: the ``onnx.ModelProto`` (None when it was saved with external data);
    * ``ir_model``: the ``onnx_ir.Model`` it was serialized from;
    * ``served``: op key -> ``"plugin: function"`` that converted it;
    * ``decomposed``: ops that had no conversion and were decomposed by PyTorch;
    * ``plugins``: the plugins that were loaded; ``timings``: seconds per stage;
    * ``warnings``: anything worth knowing that did not stop the export;
    * ``axis_ranges``: for each named dynamic axis, what torch.export inferred about it
      (``{"seq": "2 .. 64", "batch": ">= 2", "len": "= 8*k, k >= 1"}``), also stored in the
      model's metadata as JSON under ``onnxplug.dynamic_axes``.
    """

    ir_model: ir.Model
    model: onnx.ModelProto | None
    served: dict[str, str] = field(default_factory=dict)
    decomposed: list[str] = field(default_factory=list)
    plugins: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    path: str | None = None
    axis_ranges: dict[str, str] = field(default_factory=dict)

    def save(self, f: Any) -> None:
        """Save the model to a path or a binary file object (atomically for paths)."""
        if serialize.needs_external_data(self.ir_model, None) or self.model is None:
            with serialize.staged_external(self.ir_model, serialize.require_path_for_external(f)):
                pass
            return
        serialize.write(self.model.SerializeToString(), f)

    def to_bytes(self) -> bytes:
        if self.model is None:
            raise ValueError("this model has external data; use save(path) instead.")
        return self.model.SerializeToString()

    def summary(self) -> str:
        """A readable description of the graph, node by node."""
        return ir.to_onnx_text(self.ir_model) if hasattr(ir, "to_onnx_text") else str(self.ir_model)

    def __repr__(self) -> str:
        g = self.ir_model.graph
        where = f", path={os.fspath(self.path)!r}" if self.path else ""
        return (f"ExportResult(nodes={len(g)}, inputs={len(g.inputs)}, outputs={len(g.outputs)}, "
                f"opset={g.opset_imports.get('')}{where})")

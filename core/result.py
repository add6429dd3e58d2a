"""`ExportResult`: what ``export()`` returns."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import onnx
import onnx_ir as ir

from . import serialize


@dataclass(frozen=True)
class CaptureReport:
    """How the model was captured: ``strategy`` is the one that worked (``"torch.export"``,
    ``"torch.export(strict)"``, ``"draft_export"``, ``"jit.trace"``, ``"ExportedProgram"``,
    ``"TorchScript"``, or what a capture plugin called itself); ``failed`` holds
    ``(strategy, reason)`` for each one tried before it; ``note`` is a caveat of the strategy
    (also among the result's warnings)."""

    strategy: str
    failed: tuple[tuple[str, str], ...] = ()
    note: str | None = None


@dataclass
class ExportResult:
    """The exported model and how it was made.

    * ``ir_model``: the ``onnx_ir.Model``, which holds the weights zero-copy (PyTorch's own
      tensors);
    * ``model`` (also ``proto``): the ``onnx.ModelProto``, built from ``ir_model`` the first
      time it is read, because it holds a copy of every weight; None for a model saved with
      external data (load that one from its file);
    * ``served``: op key -> ``"plugin: function"`` that converted it;
    * ``decomposed``: ops that had no conversion and were decomposed by PyTorch;
    * ``plugins``: the plugins that were loaded; ``timings``: seconds per stage;
    * ``warnings``: anything worth knowing that did not stop the export;
    * ``capture``: a :class:`CaptureReport`: which capture strategy worked and why the
      others failed;
    * ``axis_ranges``: for each named dynamic axis, what torch.export inferred about it
      (``{"seq": "2 .. 64", "batch": ">= 2", "len": "= 8*k, k >= 1"}``), also stored in the
      model's metadata as JSON under ``onnxplug.dynamic_axes``;
    * ``state_outputs``: names of the graph outputs that are not the model's own but the new
      state of its buffers, after the model's outputs (a ``TrainingMode.TRAINING`` BatchNorm's
      ``<buffer>.updated`` running mean and variance); also in the model's metadata as JSON
      under ``onnxplug.state_outputs``. Compare only the outputs before them with eager PyTorch.
    """

    ir_model: ir.Model
    _proto: onnx.ModelProto | None = field(default=None, repr=False, compare=False)
    served: dict[str, str] = field(default_factory=dict)
    decomposed: list[str] = field(default_factory=list)
    plugins: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    path: str | None = None
    axis_ranges: dict[str, str] = field(default_factory=dict)
    external_data: bool = False  # saved (or to be saved) with external data
    capture: CaptureReport | None = None
    state_outputs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.state_outputs:
            from .verify import state_output_names

            self.state_outputs = state_output_names(self.ir_model)

    @property
    def proto(self) -> onnx.ModelProto | None:
        """The ``ModelProto``, built on first use and kept (it copies every weight)."""
        if self._proto is None and not self.external_data:
            self._proto = serialize.to_proto(self.ir_model)
        return self._proto

    @property
    def model(self) -> onnx.ModelProto | None:
        """The ``ModelProto`` (see :attr:`proto`); None for a model with external data."""
        return self.proto

    def save(self, f: Any) -> None:
        """Save the model to a path or a binary file object (atomically for paths).

        Tensors are streamed from ``ir_model`` to the file; no ``ModelProto`` is built.
        """
        external = self.external_data or serialize.needs_external_data(self.ir_model, None)
        serialize.save(self.ir_model, f, external)

    def to_bytes(self) -> bytes:
        """The model as one binary ONNX protobuf (not for a model with external data)."""
        if self.external_data:
            raise ValueError("this model has external data; use save(path) instead.")
        return serialize.model_bytes(self.ir_model)

    def summary(self) -> str:
        """A readable description of the graph, node by node."""
        return ir.to_onnx_text(self.ir_model) if hasattr(ir, "to_onnx_text") else str(self.ir_model)

    def __repr__(self) -> str:
        g = self.ir_model.graph
        where = f", path={os.fspath(self.path)!r}" if self.path else ""
        return (f"ExportResult(nodes={len(g)}, inputs={len(g.inputs)}, outputs={len(g.outputs)}, "
                f"opset={g.opset_imports.get('')}{where})")

"""The exceptions `onnxplug.export` raises.

Every failure of an export is an :class:`OnnxExporterError`. Two failures have their own
subclass because callers often want to handle them specially: the ONNX checker rejecting the
produced model (:class:`CheckerError`) and operators that no installed plugin can convert
(:class:`UnsupportedOperatorError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


class OnnxExporterError(RuntimeError):
    """An export failed; the message says what was wrong and what to do about it."""


class CheckerError(OnnxExporterError):
    """The ONNX checker rejected the exported model."""


class OptionError(OnnxExporterError, ValueError):
    """An argument of `export()` is invalid. Raised before any work starts."""


class CaptureError(OnnxExporterError):
    """The model could not be captured into a graph by any capture plugin."""


class PluginError(OnnxExporterError):
    """A plugin failed to load, or registered something invalid."""


class ExportWriteError(OnnxExporterError, OSError):
    """Writing the model to ``f`` failed (disk full, quota, a vanished folder).

    Also an :class:`OSError`, so code that handles file-system errors keeps working. The
    previous file at the path, if any, is left as it was.
    """


class VerificationError(OnnxExporterError):
    """`verify=True`: onnxruntime's outputs differ from eager PyTorch's."""


@dataclass(frozen=True)
class UnsupportedOp:
    """One operator that could not be converted, with what is known about it."""

    key: str
    locations: tuple[str, ...] = ()
    available_opsets: tuple[int, ...] = ()
    reason: str = ""

    def describe(self, target_opset: int) -> str:
        where = ", ".join(self.locations[:3]) or "unknown location"
        if len(self.locations) > 3:
            where += f" (+{len(self.locations) - 3} more)"
        if self.available_opsets:
            lowest = min(self.available_opsets)
            if lowest > target_opset:
                has = f"converts from opset {lowest}: export with opset_version>={lowest}"
            else:
                has = f"conversions registered for opsets {list(self.available_opsets)}"
        else:
            has = "no conversion at any opset"
        reason = f"; {self.reason}" if self.reason else ""
        return f"  - {self.key} at {where}: {has}{reason}"


@dataclass(eq=False)
class UnsupportedOperatorError(OnnxExporterError):
    """One or more operators have no conversion at the requested opset.

    `ops` lists every unsupported operator of the model at once, `plugins` the plugins that
    were installed, so the message alone says what to install, register or change.
    """

    ops: list[UnsupportedOp]
    opset: int
    plugins: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [
            f"{len(self.ops)} operator(s) cannot be converted to ONNX at opset {self.opset}:",
            *(op.describe(self.opset) for op in self.ops),
            "Installed plugins: " + (", ".join(self.plugins) or "none"),
            "What to do: install a plugin that converts these ops, register one with "
            "onnxplug.register_symbolic(...) or pass custom_symbolics={...}, or change the opset.",
        ]
        return "\n".join(lines)

    def __reduce__(self):  # keep pickling (multiprocessing, pytest-xdist) working
        return (UnsupportedOperatorError, (self.ops, self.opset, self.plugins))

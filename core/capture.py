"""Graph capture with ``torch.export``: the built-in implementation of ``onnxplug_capture``.

* ``torch.export.ExportedProgram``: used as it is.
* ``torch.jit.ScriptModule`` / ``ScriptFunction``: PyTorch's TorchScript-to-ExportedProgram
  converter.
* ``nn.Module`` (or a plain function, wrapped in one): ``torch.export.export`` non-strict first,
  then strict; if both fail the error carries both reasons and what to change.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from .enums import TrainingMode
from .errors import CaptureError, OptionError
from .options import ExportOptions


# torch.export keeps process-global state (module hierarchy, fake-mode config) while it traces:
# two captures at once in one process corrupt each other. Capture is serialised; everything
# after it (lowering, passes, checking, saving) runs in parallel.
CAPTURE_LOCK = threading.RLock()


class FunctionModule(torch.nn.Module):
    """Wraps a plain function so that ``torch.export`` can capture it."""

    def __init__(self, fn: Any):
        super().__init__()
        self.fn = fn

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


def split_args(args: Any, kwargs: Mapping | None) -> tuple[tuple, dict]:
    """``export()``'s ``args``/``kwargs`` as ``(positional tuple, keyword dict)``: a lone tensor or a
    list becomes a tuple, and a trailing dict in ``args`` holds keyword arguments."""
    if isinstance(args, torch.Tensor):
        args = (args,)
    elif isinstance(args, list):
        args = tuple(args)
    elif not isinstance(args, tuple):
        args = (args,)
    kw = dict(kwargs or {})
    if args and isinstance(args[-1], dict):
        kw = {**args[-1], **kw}
        args = args[:-1]
    return args, kw


def is_torchscript(model: Any) -> bool:
    return isinstance(model, (torch.jit.ScriptModule, torch.jit.ScriptFunction))


def as_module(model: Any) -> Any:
    """The object ``torch.export`` should capture (plain functions get wrapped)."""
    if isinstance(model, (torch.nn.Module, torch.export.ExportedProgram)) or is_torchscript(model):
        return model
    if callable(model):
        return FunctionModule(model)
    raise OptionError(
        f"cannot export an object of type {type(model).__name__}: pass an nn.Module, a "
        "torch.export.ExportedProgram, a TorchScript module/function or a plain function."
    )


@contextlib.contextmanager
def training_mode(model: Any, mode: TrainingMode) -> Iterator[None]:
    """Put ``model`` in the requested train/eval state and restore every submodule afterwards."""
    if not isinstance(model, torch.nn.Module) or mode == TrainingMode.PRESERVE:
        yield
        return
    saved = [(m, m.training) for m in model.modules()]
    model.train(mode == TrainingMode.TRAINING)
    try:
        yield
    finally:
        for m, flag in saved:
            m.training = flag


def capture(model: Any, args: tuple, kwargs: dict, options: ExportOptions) -> torch.export.ExportedProgram:
    if isinstance(model, torch.export.ExportedProgram):
        return model
    if is_torchscript(model):
        from torch._export.converter import TS2EPConverter

        try:
            return TS2EPConverter(model, args, kwargs or None).convert()
        except Exception as exc:
            raise CaptureError(
                f"converting the TorchScript model to an ExportedProgram failed: "
                f"{type(exc).__name__}: {exc}\nWhat to do: export the original nn.Module instead "
                "of its scripted/traced form."
            ) from exc
    errors = []
    for strict in (False, True):
        try:
            with CAPTURE_LOCK:
                return torch.export.export(model, args, kwargs=kwargs or None,
                                           dynamic_shapes=options.dynamic_shapes, strict=strict)
        except Exception as exc:  # noqa: PERF203 - two attempts, different modes
            errors.append((strict, exc))
            if _is_user_error(exc):
                break
    reasons = "\n".join(
        f"  torch.export(strict={s}): {type(e).__name__}: {_first_lines(str(e))}" for s, e in errors)
    raise CaptureError(
        "torch.export could not capture the model:\n" + reasons + "\nWhat to do: make the "
        "failing code traceable (no data-dependent Python control flow; use torch.cond, or "
        "move it out of forward), check that args match forward()'s signature, and that "
        "dynamic axes are really dynamic (an example size of 0 or 1 is specialised: use a "
        "size of 2 or more in the example inputs)."
    ) from errors[-1][1]


def _is_user_error(exc: Exception) -> bool:
    """Errors strict mode cannot fix: wrong arguments, bad dynamic shape specs."""
    name = type(exc).__name__
    return isinstance(exc, TypeError) or name in ("UserError",) and "dynamic" in str(exc).lower()


def _first_lines(text: str, n: int = 12) -> str:
    lines = text.strip().splitlines()
    return "\n    ".join(lines[:n]) + ("\n    ..." if len(lines) > n else "")

"""Graph capture with ``torch.export``: the built-in implementation of ``onnxplug_capture``.

* ``torch.export.ExportedProgram``: used as it is.
* ``torch.jit.ScriptModule`` / ``ScriptFunction``: PyTorch's TorchScript-to-ExportedProgram
  converter.
* ``nn.Module`` (or a plain function, wrapped in one): ``torch.export.export`` non-strict first,
  then strict; if both fail the error carries both reasons and what to change.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from .autograd_functions import inlined_note, keep_functions
from .enums import TrainingMode
from .dynamic import input_labels, tensor_leaves
from .errors import CaptureError, OptionError
from .guards import CaptureLog, SpecializedAxes, refine, source_axis
from .options import ExportOptions
from .result import CaptureReport


# torch.export keeps process-global state (module hierarchy, fake-mode config) while it traces:
# two captures at once in one process corrupt each other. Capture is serialised; everything
# after it (lowering, passes, checking, saving) runs in parallel.
CAPTURE_LOCK = threading.RLock()


@contextlib.contextmanager
def long_lived_objects_frozen() -> Iterator[None]:
    """Keep the garbage collector's full collections away from the objects that existed before
    the block (``gc.freeze()``), and give them back afterwards (``gc.unfreeze()``).

    The imports before a capture (onnx, onnx_ir, every plugin's conversions) leave hundreds of
    thousands of young objects, so the first full collection falls inside ``torch.export``, which
    allocates fast, and traverses every object in the process: measured on BERT-base, 0.2-0.4 s
    of CPU (the gap between onnxplug's capture and a bare ``torch.export`` in a fresh process).
    Frozen, that collection only traverses what the capture created; what existed before is
    merely not collected while the block runs. A process that froze objects
    itself (``gc.get_freeze_count()`` > 0) is left as it is, so its own freeze is not undone.
    Blocks nest, and may run in several threads at once: the outermost one freezes, the last to
    leave gives back (``get_freeze_count`` counts every frozen object, so it is asked only when
    nothing of ours is frozen).
    """
    with _FREEZE_LOCK:
        ours = _FROZEN_BY_US[0] > 0
        if not ours and (not gc.isenabled() or gc.get_freeze_count()):
            ours = None  # the process's own freeze, or no collector: leave both alone
        elif not ours:
            gc.freeze()
        if ours is not None:
            _FROZEN_BY_US[0] += 1
    try:
        yield
    finally:
        if ours is not None:
            with _FREEZE_LOCK:
                _FROZEN_BY_US[0] -= 1
                if not _FROZEN_BY_US[0]:
                    gc.unfreeze()


_FREEZE_LOCK = threading.Lock()
_FROZEN_BY_US = [0]  # open long_lived_objects_frozen blocks that rest on onnxplug's own freeze


@contextlib.contextmanager
def stack_traces(keep: bool) -> Iterator[bool]:
    """Record each FX node's Python stack trace (``node.meta["stack_trace"]``) while capturing
    only when ``keep``; yields whether traces were dropped by this block.

    The traces give error messages and ``verbose`` doc strings their ``file:line``, and nothing
    else reads them; recording them costs about 10 % of ``torch.export`` (a captured traceback,
    symbolised, per node: 0.06 s of ResNet-50's 0.9 s). So the export captures without them,
    and captures again with them only when lowering fails and its error needs the locations
    (``export._Run.relocate``). A process that turned them off itself
    (``torch.fx.config.do_not_emit_stack_traces``) keeps them off, and nothing is dropped by us.
    Holds :data:`CAPTURE_LOCK`: the flag is process-global, and only captures read it.
    """
    import torch.fx

    with CAPTURE_LOCK:
        saved = torch.fx.config.do_not_emit_stack_traces
        torch.fx.config.do_not_emit_stack_traces = saved or not keep
        try:
            yield not keep and not saved
        finally:
            torch.fx.config.do_not_emit_stack_traces = saved


@contextlib.contextmanager
def keywords_named(model: Any, kwargs: Mapping) -> Iterator[None]:
    """While capturing, give a ``forward(..., **kwargs)`` a signature that names each keyword
    input the call passes into its ``**kwargs`` (``use_cache=`` to a model that only forwards
    it), as a keyword-only parameter; the call itself goes to the real ``forward``.

    torch.export binds its inputs to ``forward``'s signature twice and orders them differently
    the second time when a keyword lands in ``**kwargs`` (torch 2.13): the dynamic-shapes spec
    then matches one binding and not the other ("Must provide a tree_name when there might be
    a mismatch"). With every keyword named, both bindings agree. The override is an attribute
    of this module instance, removed afterwards; the module's parameters and hierarchy are
    untouched, so names and module stacks are those of the model.
    """
    forward = getattr(model, "forward", None) if isinstance(model, torch.nn.Module) else None
    try:
        signature = inspect.signature(forward) if forward is not None else None
    except (TypeError, ValueError):
        signature = None
    params = list(signature.parameters.values()) if signature is not None else []
    var_kw = next((p for p in params if p.kind is inspect.Parameter.VAR_KEYWORD), None)
    named = {p.name for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD}
    absorbed = [k for k in kwargs if k not in named]
    if var_kw is None or not absorbed:
        yield
        return
    keyword_only = [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY) for k in absorbed]

    def named_forward(*args: Any, **kw: Any) -> Any:
        return forward(*args, **kw)

    named_forward.__signature__ = signature.replace(
        parameters=[p for p in params if p is not var_kw] + keyword_only)
    own = model.__dict__.get("forward")
    model.forward = named_forward
    try:
        yield
    finally:
        if own is None:
            model.__dict__.pop("forward", None)
        else:
            model.forward = own


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


def note_capture(ep: torch.export.ExportedProgram, strategy: str,
                 failed: list[tuple[str, str]] = (), note: str | None = None):
    """Record on ``ep`` which strategy captured it and why the ones tried before failed
    (``[(strategy, reason)]``); ``export()`` reports it as ``ExportResult.capture``. A capture
    plugin calls this to name itself; ``note`` becomes a warning of the result. Returns ``ep``."""
    ep._onnxplug_capture = CaptureReport(strategy, tuple(failed), note)
    return ep


def capture_report(ep: torch.export.ExportedProgram) -> CaptureReport:
    """What :func:`note_capture` recorded on ``ep`` (a capture plugin that did not call it is
    reported as ``"a capture plugin"``)."""
    return getattr(ep, "_onnxplug_capture", None) or CaptureReport("a capture plugin")


def capture(model: Any, args: tuple, kwargs: dict, options: ExportOptions) -> torch.export.ExportedProgram:
    if isinstance(model, torch.export.ExportedProgram):
        return note_capture(model, "ExportedProgram")
    if is_torchscript(model):
        from torch._export.converter import TS2EPConverter

        try:
            return note_capture(TS2EPConverter(model, args, kwargs or None).convert(), "TorchScript")
        except Exception as exc:
            raise CaptureError(
                f"converting the TorchScript model to an ExportedProgram failed: "
                f"{type(exc).__name__}: {exc}\nWhat to do: export the original nn.Module instead "
                "of its scripted/traced form."
            ) from exc
    log = CaptureLog()
    try:
        return _capture_module(model, args, kwargs, options, log)
    finally:
        log.close()


def _capture_module(model: Any, args: tuple, kwargs: dict, options: ExportOptions,
                    log: CaptureLog) -> torch.export.ExportedProgram:
    """``torch.export`` non-strict, then strict; torch's output goes to ``log``'s file, which
    the error names when both fail."""
    errors, kept = [], set()
    for strict in (False, True):
        try:
            with CAPTURE_LOCK, keep_functions(not options.autograd_inlining, kept), \
                    long_lived_objects_frozen():
                ep = _export_refining(model, args, kwargs, options.dynamic_shapes, strict, log)
            return note_capture(ep, _strategy_name(strict), [(_strategy_name(s), _first_lines(
                f"{type(e).__name__}: {e}", 3)) for s, e in errors],
                inlined_note(kept) if strict else None)
        except SpecializedAxes as fixed:
            raise CaptureError(_specialised_message(fixed, model, args, kwargs, options)) from None
        except Exception as exc:  # noqa: PERF203 - two attempts, different modes
            errors.append((strict, exc))
            if _is_user_error(exc):
                break
    reasons = "\n".join(
        f"  torch.export(strict={s}): {type(e).__name__}: {_first_lines(str(e))}" for s, e in errors)
    error = CaptureError(
        "torch.export could not capture the model:\n" + reasons + "\nWhat to do: make the "
        "failing code traceable (no data-dependent Python control flow; use torch.cond, or "
        "move it out of forward), or pass capture='trace', and check that args match "
        "forward()'s signature.\n"
        f"torch's full output of these attempts is in {log.keep()}"
    )
    error.attempts = [(_strategy_name(s), e) for s, e in errors]  # read by trace_capture
    raise error from errors[-1][1]


def _strategy_name(strict: bool) -> str:
    return "torch.export(strict)" if strict else "torch.export"


REFINE_ATTEMPTS = 4


def _export_refining(model: Any, args: tuple, kwargs: dict, dynamic_shapes: Any, strict: bool,
                     log: CaptureLog) -> torch.export.ExportedProgram:
    """``torch.export.export``, retried with torch.export's own suggested fixes when the model
    limits a named dynamic axis (a range, a divisibility, an equality)."""
    for attempt in range(REFINE_ATTEMPTS):
        try:
            with CAPTURE_LOCK, log.active():
                return torch.export.export(model, args, kwargs=kwargs or None,
                                           dynamic_shapes=dynamic_shapes, strict=strict)
        except Exception as exc:
            refined = refine(exc, dynamic_shapes, log.symbols)
            if refined is None or attempt == REFINE_ATTEMPTS - 1:
                raise
            dynamic_shapes = refined
    raise AssertionError("unreachable")


def _specialised_message(fixed: SpecializedAxes, model: Any, args: tuple, kwargs: dict,
                         options: ExportOptions) -> str:
    paths = _input_paths(model, args, kwargs)
    labels = input_labels(options, len(paths))
    lines = []
    for source, value, where in fixed.axes:
        found = source_axis(source)
        if found is not None and found[0] in paths:
            index = paths[found[0]]
            label = labels[index]
            name = options.dynamic_axes.get(label, {}).get(found[1])
            axis = f"axis {found[1]} of input {label!r}" + (f" (dynamic name {name!r})" if name else "")
        else:
            axis = f"dynamic dimension {source}"
        lines.append(f"  {axis} is fixed to {value} by the model"
                     + (f" at {where}" if where else ""))
    return ("the model cannot run with these axes dynamic: the graph only works at one size.\n"
            + "\n".join(lines) + "\nWhat to do: remove those axes from dynamic_axes (or "
            "dynamic_shapes), or change the code at that line so the size is not fixed.")


def _input_paths(model: Any, args: tuple, kwargs: dict) -> dict[str, int]:
    """torch.export's argument paths (``"['x']"``, ``"['past'][0]"``) -> tensor input index."""
    from torch.utils import _pytree as pytree

    order = {id(t): i for i, t in enumerate(tensor_leaves(args, kwargs))}
    forward = model.forward if isinstance(model, torch.nn.Module) else model
    try:
        bound = inspect.signature(forward).bind(*args, **kwargs).arguments
    except (TypeError, ValueError):
        return {}
    out = {}
    for path, leaf in pytree.tree_flatten_with_path(dict(bound))[0]:
        if isinstance(leaf, torch.Tensor) and id(leaf) in order:
            out[pytree.keystr(path)] = order[id(leaf)]
    return out


def _is_user_error(exc: Exception) -> bool:
    """Errors strict mode cannot fix: wrong arguments, bad dynamic shape specs."""
    name = type(exc).__name__
    return isinstance(exc, TypeError) or name in ("UserError",) and "dynamic" in str(exc).lower()


def _first_lines(text: str, n: int = 12) -> str:
    lines = text.strip().splitlines()
    return "\n    ".join(lines[:n]) + ("\n    ..." if len(lines) > n else "")

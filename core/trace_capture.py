"""Capture by tracing: the strategy for models that ``torch.export`` rejects on data-dependent
control flow (``if boxes.numel() == 0``, ``int(mask.sum())``, a loop over ``torch.unique``).

Two strategies are tried, in this order:

* ``draft_export``: ``torch.export.draft_export``, i.e. ``torch.export`` that propagates the
  example's real values, so a data-dependent decision follows the example (as tracing does)
  while every other size stays symbolic: the outputs of ``nonzero``, ``nms`` or boolean masks
  keep their run-time size in the ONNX graph. Measured on torchvision's detection models, this
  is the one that works (``benchmarks/realops_detection.py``). Around it, integer floor
  division over data-dependent sizes is made to trace (:func:`integer_floor_division_fix`),
  and the captured program stops propagating real tensors (:func:`stop_real_propagation`).
* ``jit.trace``: ``torch.jit.trace`` of the model with flattened inputs and outputs, then
  PyTorch's TorchScript-to-ExportedProgram converter. It fails on graphs that use
  ``aten::_shape_as_tensor`` (torchvision's detection models do) and is kept for models that
  ``draft_export`` cannot run.

It is used when the user asks for it (``export(..., capture="trace")`` or the environment variable
``ONNXPLUG_CAPTURE=trace``) and, by :func:`trace_when_export_fails`, when ``torch.export`` fails
on a data-dependent guard. A traced graph takes the branch the example inputs take: the result
carries a warning that says so, and :class:`onnxplug.result.CaptureReport` names the strategy
that captured the model and why the others failed.

Both hook implementations are registered by the core's built-in plugin (``builtin_plugin.py``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import torch

from .capture import CAPTURE_LOCK, note_capture
from .errors import CaptureError, OptionError
from .guards import CaptureLog
from .hookspecs import hookimpl
from .options import CAPTURE_CHOICES as CHOICES

ENV = "ONNXPLUG_CAPTURE"
TRACE_NOTE = ("captured by tracing ({strategy}): data-dependent branches follow the example "
              "inputs, sizes that come from the data (nonzero, masks, nms) stay dynamic")

# Exceptions torch raises when a graph depends on tensor values (names, not imports: several
# live in private modules that move between releases).
_DATA_DEPENDENT = {
    "GuardOnDataDependentSymNode", "DataDependentOutputException",
    "DynamicOutputShapeException", "PendingUnbackedSymbolNotFound",
}
_DATA_DEPENDENT_TEXT = ("data-dependent", "data dependent", "guardondatadependentsymnode")


def capture_choice(options: Any) -> str:
    """``"auto"``, ``"export"`` or ``"trace"``: the ``capture=`` option, or, when that is left
    at ``"auto"``, the environment variable ``ONNXPLUG_CAPTURE``."""
    chosen = getattr(options, "capture", "auto")
    if chosen == "auto":
        env = os.environ.get(ENV, "").strip().lower() or "auto"
        if env not in CHOICES:
            raise OptionError(f"{ENV}={env!r} is not a capture strategy; use one of "
                              f"{', '.join(CHOICES)} (or unset it).")
        chosen = env
    return chosen


def is_data_dependent(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it was raised from) is torch.export failing on a
    guard or an output size that depends on tensor values."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if type(exc).__name__ in _DATA_DEPENDENT:
            return True
        text = str(exc).lower()
        if type(exc).__name__ in ("UserError", "Unsupported", "TorchRuntimeError") and any(
                t in text for t in _DATA_DEPENDENT_TEXT):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _traceable(model: Any) -> bool:
    return isinstance(model, torch.nn.Module) and not isinstance(
        model, (torch.jit.ScriptModule, torch.export.ExportedProgram))


@hookimpl(tryfirst=True, specname="onnxplug_capture")
def trace_on_request(model: Any, args: tuple, kwargs: dict, options: Any):
    """``capture="trace"`` (or ``ONNXPLUG_CAPTURE=trace``): trace, skipping ``torch.export``."""
    if capture_choice(options) != "trace" or not _traceable(model):
        return None
    return trace(model, args, kwargs, options, failed=[("torch.export", "not tried: capture='trace'")])


@hookimpl(wrapper=True, specname="onnxplug_capture")
def trace_when_export_fails(model: Any, args: tuple, kwargs: dict, options: Any):
    """Around every capture implementation: when they fail on a data-dependent guard, trace.

    ``capture="export"`` turns this off (the torch.export error is raised as it is).
    """
    try:
        return (yield)
    except CaptureError as exc:
        attempts = getattr(exc, "attempts", ())
        if (capture_choice(options) == "export" or not _traceable(model)
                or not any(is_data_dependent(e) for _, e in attempts)):
            raise
        failed = [(name, _reason(e)) for name, e in attempts]
        return trace(model, args, kwargs, options, failed=failed, export_error=exc)


def trace(model: Any, args: tuple, kwargs: dict, options: Any, failed: list[tuple[str, str]],
          export_error: BaseException | None = None) -> torch.export.ExportedProgram:
    """``draft_export``, then ``jit.trace``; the program is noted with the strategy that worked
    and ``failed`` plus the reasons of the strategies that did not."""
    failed = list(failed)
    log = CaptureLog()
    try:
        for name, strategy in STRATEGIES:
            try:
                with CAPTURE_LOCK, log.active():
                    ep = strategy(model, args, kwargs, options)
            except Exception as exc:  # noqa: PERF203 - each strategy's reason is reported
                failed.append((name, _reason(exc)))
                continue
            note_capture(ep, name, failed, TRACE_NOTE.format(strategy=name) + _decisions(ep))
            return ep
        reasons = "\n".join(f"  {name}: {why}" for name, why in failed)
        raise CaptureError(
            "no capture strategy could capture the model:\n" + reasons + "\nWhat to do: make "
            "the data-dependent code traceable (torch.cond for branches, torch._check for sizes), "
            f"or move it out of forward(). torch's output is in {log.keep()}") from export_error
    finally:
        log.close()


def _decisions(ep: Any) -> str:
    """`` (3 decisions taken from the example)``: what draft_export's report counted."""
    report = getattr(ep, "_report", None)
    count = len(getattr(report, "failures", ()) or ())
    return f" ({count} data-dependent decision(s) taken from the example)" if count else ""


def _draft_export(model: Any, args: tuple, kwargs: dict, options: Any):
    with integer_floor_division_fix():
        ep = torch.export.draft_export(model, args, kwargs=kwargs or None,
                                       dynamic_shapes=options.dynamic_shapes, strict=False)
    stop_real_propagation(ep)
    return drop_runtime_asserts(ep)


def stop_real_propagation(ep: torch.export.ExportedProgram) -> None:
    """The program's fake tensors stop computing real values beside the fake ones.

    ``draft_export`` runs every op on the example's real tensors too, to decide data-dependent
    questions; its fake mode stays attached to the program, and any later retrace of it
    (``run_decompositions``) would run the whole model on real tensors again: minutes for a
    detector, and errors wherever a fake kernel disagrees with the real one. Every decision
    is in the graph by now."""
    from torch._guards import detect_fake_mode

    vals = [n.meta.get("val") for n in ep.graph.nodes if n.op == "placeholder"]
    mode = detect_fake_mode([v for v in vals if isinstance(v, torch.Tensor)])
    if mode is not None and getattr(mode, "propagate_real_tensors", False):
        mode.propagate_real_tensors = False


@contextlib.contextmanager
def integer_floor_division_fix() -> Iterator[None]:
    """While ``draft_export`` runs: integer floor division of a tensor whose size comes from the
    data (``torch.div(idx, n, rounding_mode="floor")`` after ``nonzero``, as RetinaNet and FCOS
    do) works.

    PyTorch's reference of integer floor division (the fake kernel used for data-dependent
    sizes) tests signs with ``prims.signbit``, whose fake result is declared int64 while the
    real one is bool; ``draft_export`` then re-derives the op's output from the real tensor
    with fresh sizes and fails (``PendingUnbackedSymbolNotFound``). The same reference with
    ``x < 0`` (equal for integers) is used instead, and restored after (captures hold
    ``CAPTURE_LOCK``, so no other capture sees it). The captured graph is unchanged: it keeps
    ``aten.div.Tensor_mode``; only the fake kernel differs."""
    try:
        import torch._refs as refs
    except ImportError:  # pragma: no cover - a torch without references
        refs = None
    original = getattr(refs, "_floor_divide_integer", None)
    if original is None or not hasattr(refs, "_maybe_broadcast"):
        yield
        return
    refs._floor_divide_integer = _floor_divide_integer
    try:
        yield
    finally:
        refs._floor_divide_integer = original


def _floor_divide_integer(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Floor division of integers: truncation, minus one where the signs differ and the
    division is not exact."""
    from torch import _prims as prims

    a, b = torch._refs._maybe_broadcast(a, b)
    if not a.dtype.is_signed:
        return prims.div(a, b)
    offset = torch.ne(a < 0, b < 0).logical_and(torch.fmod(a, b) != 0)
    return prims.div(a, b) - offset.to(a.dtype)


_ASSERTS = (torch.ops.aten._assert_scalar.default,)


def _is_scalar_step(node: Any) -> bool:
    """A node computing a Python scalar (``item``, ``sym_ite``, ``u0 >= 1``): free of effects."""
    target = node.target
    if target in (torch.ops.aten.item.default, torch.ops.aten._local_scalar_dense.default):
        return True
    if isinstance(target, torch._ops.OpOverload):
        return False
    return getattr(target, "__module__", "") in ("_operator", "operator", "torch") or \
        getattr(target, "__name__", "").startswith("sym_")


def drop_runtime_asserts(ep: torch.export.ExportedProgram) -> torch.export.ExportedProgram:
    """Remove the run-time checks ``draft_export`` adds for each data-dependent decision it
    took from the example (``Eq(u0, 1)``), and the computations that only fed them
    (``item``, ``sym_ite``): ONNX cannot raise, and the decision is the traced one."""
    graph = ep.graph_module.graph
    for node in [n for n in graph.nodes if n.op == "call_function" and n.target in _ASSERTS]:
        graph.erase_node(node)
    graph.eliminate_dead_code()
    for node in reversed(list(graph.nodes)):  # fx keeps nodes that bind unbacked symbols
        if node.op == "call_function" and not node.users and _is_scalar_step(node):
            graph.erase_node(node)
    ep.graph_module.recompile()
    return ep


def _jit_trace(model: Any, args: tuple, kwargs: dict, options: Any):
    """``torch.jit.trace`` of the model with its inputs and outputs flattened to tensors, then
    the TorchScript-to-ExportedProgram converter. Dynamic axes are not kept by this route."""
    from torch._export.converter import TS2EPConverter
    from torch.utils import _pytree as pytree

    if options.dynamic_shapes:
        raise CaptureError("jit.trace keeps no dynamic axes; it only captures fixed shapes.")
    flat, spec = pytree.tree_flatten((args, dict(kwargs or {})))
    if not all(isinstance(t, torch.Tensor) for t in flat):
        raise CaptureError("jit.trace takes only tensor inputs.")
    traced = torch.jit.trace(_FlatModule(model, spec), tuple(flat), check_trace=False,
                             strict=False)
    return TS2EPConverter(traced, tuple(flat)).convert()


class _FlatModule(torch.nn.Module):
    """``model`` called with flat tensors, returning a flat tuple (what jit.trace accepts)."""

    def __init__(self, model: torch.nn.Module, spec: Any):
        super().__init__()
        self.model, self.spec = model, spec

    def forward(self, *tensors: torch.Tensor) -> tuple:
        from torch.utils import _pytree as pytree

        a, kw = pytree.tree_unflatten(list(tensors), self.spec)
        return tuple(pytree.tree_leaves(self.model(*a, **kw)))


STRATEGIES = (("draft_export", _draft_export), ("jit.trace", _jit_trace))


def _reason(exc: BaseException, n: int = 3) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    text = "\n    ".join(lines[:n])
    return f"{type(exc).__name__}: {text}" + (" ..." if len(lines) > n else "")

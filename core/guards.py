"""What torch.export decided about dynamic axes while capturing, in the user's terms.

Capture runs inside :class:`CaptureLog`, which

* keeps torch's own output (log records and printed FX graphs, often thousands of lines per
  failed attempt) out of the terminal and in a file that an error message can name;
* follows the shape environment's log to learn, for each symbol, which input axis it stands
  for and the line of user code that fixed it to a constant, if any.

:func:`refine` turns torch.export's "Suggested fixes" (a range such as ``Dim('seq', max=64)``,
a divisibility, an equality) into a refined ``dynamic_shapes`` spec, and reports an axis the
model really fixes as :class:`SpecializedAxes`. :func:`describe_ranges` reports the range
torch.export inferred for each named axis.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sysconfig
import tempfile
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

_SHAPES_LOGGER = "torch.fx.experimental.symbolic_shapes"
_CREATE = re.compile(r"create_symbol (s\d+) = -?\d+ for (.+?) \[")
_FIXED = re.compile(r"(?:eval Eq\((s\d+), (-?\d+)\)|set_replacement (s\d+) = (-?\d+))")
_SOURCE = re.compile(r"L(.*)\.size\(\)\[(\d+)\]")
_FIX_LINE = re.compile(r"^\s*(\w+) = (.+)$")
_LIBRARY = tuple({os.path.dirname(torch.__file__), os.path.dirname(__file__),
                  sysconfig.get_paths()["stdlib"], os.path.dirname(os.__file__)})
_TOOLS = ("pluggy", "_pytest", "pytest")


def user_frame() -> str | None:
    """``file:line`` of the innermost stack frame outside torch and onnxplug."""
    for frame in reversed(traceback.extract_stack()):
        path = frame.filename
        parts = path.split(os.sep)
        if path.startswith(_LIBRARY) or path.startswith("<") or any(t in parts for t in _TOOLS):
            continue
        return f"{path}:{frame.lineno}"
    return None


@dataclass
class SymbolLog(logging.Handler):
    """Collects, from the shape environment's log, what each symbol means."""

    sources: dict[str, str] = field(default_factory=dict)   # s77 -> "['x'].size()[0]"
    fixed_at: dict[str, str] = field(default_factory=dict)  # s77 -> "model.py:12"

    def __post_init__(self) -> None:
        logging.Handler.__init__(self, logging.INFO)

    def __hash__(self) -> int:  # logging keeps handlers in sets
        return id(self)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record must not break capture
            return
        if m := _CREATE.search(message):
            self.sources[m.group(1)] = m.group(2)
        elif m := _FIXED.search(message):
            symbol = m.group(1) or m.group(3)
            where = user_frame()
            if where is not None:
                self.fixed_at.setdefault(symbol, where)


class CaptureLog:
    """Context manager: torch's output goes to a file, the symbol log is collected.

    ``path`` names the file; :meth:`keep` keeps it (for an error message), otherwise it is
    removed on exit.
    """

    def __init__(self) -> None:
        self.symbols = SymbolLog()
        fd, self.path = tempfile.mkstemp(prefix="onnxplug-capture-", suffix=".log")
        self._file = os.fdopen(fd, "w")
        self._kept = False

    def keep(self) -> str:
        self._kept = True
        return self.path

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """torch attaches its own stderr handlers to several of its loggers: swap them for the
        file, and listen to the shape environment at INFO."""
        dump = logging.StreamHandler(self._file)
        loggers = [logging.getLogger(name) for name, obj in list(logging.root.manager.loggerDict.items())
                   if name.split(".")[0] == "torch" and isinstance(obj, logging.Logger) and obj.handlers]
        shapes = logging.getLogger(_SHAPES_LOGGER)
        saved = [(lg, lg.handlers[:]) for lg in loggers]
        level = shapes.level
        for lg in loggers:
            lg.handlers = [dump]
        shapes.addHandler(self.symbols)
        if shapes.getEffectiveLevel() > logging.INFO:
            shapes.setLevel(logging.INFO)
        try:
            with contextlib.redirect_stderr(self._file), contextlib.redirect_stdout(self._file):
                yield
        finally:
            shapes.removeHandler(self.symbols)
            for lg, handlers in saved:
                lg.handlers = handlers
            shapes.setLevel(level)
            self._file.flush()

    def close(self) -> None:
        self._file.close()
        if not self._kept:
            with contextlib.suppress(OSError):
                os.unlink(self.path)


@dataclass
class SpecializedAxes(Exception):
    """The model fixes axes the user marked dynamic: ``[(torch source, value, user line)]``."""

    axes: list[tuple[str, str, str | None]]


def _fixes(message: str) -> list[tuple[str, str]]:
    lines = message.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "Suggested fixes:"), None)
    if start is None:
        return []
    out = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        if m := _FIX_LINE.match(line):
            out.append((m.group(1), m.group(2).strip()))
    return out


def is_constraint_violation(exc: BaseException) -> bool:
    from torch._dynamo.exc import UserError, UserErrorType

    return isinstance(exc, UserError) and exc.error_type == UserErrorType.CONSTRAINT_VIOLATION


def specialized_sources(message: str) -> list[tuple[str, str]]:
    """``[(torch source, constant)]`` for "your code specialized it to be a constant" lines."""
    pattern = re.compile(r"You marked (.+?) as dynamic but your code specialized it to be a "
                         r"constant \((-?\d+)\)")
    return pattern.findall(message)


def refine(exc: BaseException, dynamic_shapes: Any, symbols: SymbolLog) -> Any | None:
    """The ``dynamic_shapes`` spec torch.export's suggested fixes make valid, or None when the
    error is not a constraint violation with fixes. Raises :class:`SpecializedAxes` when the
    model fixes a dynamic axis to a constant."""
    message = str(exc)
    if not is_constraint_violation(exc):
        return None
    fixes = _fixes(message)
    constants = [(name, value) for name, value in fixes if re.fullmatch(r"-?\d+", value)]
    specialised = specialized_sources(message) + constants
    if specialised:
        by_source = {src: sym for sym, src in symbols.sources.items()}
        raise SpecializedAxes([(src, value, symbols.fixed_at.get(by_source.get(src, ""))
                                or _fixed_line_of_name(src, symbols)) for src, value in specialised])
    if not fixes:
        return None
    from torch.export.dynamic_shapes import refine_dynamic_shapes_from_suggested_fixes

    text = "Suggested fixes:\n" + "\n".join(f"  {name} = {value}" for name, value in fixes)
    return refine_dynamic_shapes_from_suggested_fixes(text, dynamic_shapes)


def _fixed_line_of_name(name: str, symbols: SymbolLog) -> str | None:
    """A Dim's name has no symbol of its own in the log: take any symbol that was fixed."""
    return next(iter(symbols.fixed_at.values()), None)


def source_axis(source: str) -> tuple[str, int] | None:
    """``"L['x'].size()[0]"`` -> ``("['x']", 0)``: the argument path and the axis."""
    m = _SOURCE.fullmatch(source.strip())
    return (m.group(1), int(m.group(2))) if m else None


def describe_range(lower: Any, upper: Any) -> str:
    """``"2 <= n <= 64"``-style text for one range, with ``n`` standing for the axis."""
    lo = int(lower) if lower is not None and str(lower) not in ("-oo", "-int_oo") else None
    hi = int(upper) if upper is not None and str(upper) not in ("oo", "int_oo") else None
    if hi is None:
        return f">= {lo}" if lo is not None else "any"
    return f"{lo} .. {hi}" if lo is not None else f"<= {hi}"


def describe_ranges(ep: torch.export.ExportedProgram,
                    leaf_axes: list[dict[int, str | None]]) -> dict[str, str]:
    """For each named dynamic axis, what torch.export inferred: ``{"seq": "2 .. 64"}``;
    ``"= 8*k, k 1 .. 8"`` for a derived size, ``"= batch"`` for one equal to another name."""
    ranges = ep.range_constraints
    out: dict[str, str] = {}
    owner: dict[Any, str] = {}
    for val, axes in zip(user_input_values(ep), leaf_axes):
        for axis, name in axes.items():
            if name is None or name in out or axis >= val.dim():
                continue
            size = val.shape[axis]
            if not isinstance(size, torch.SymInt):
                out[name] = f"fixed to {int(size)}"
                continue
            expr = size.node.expr
            if expr in owner:
                out[name] = f"= {owner[expr]}"
                continue
            owner[expr] = name
            free = sorted(expr.free_symbols, key=str)
            if len(free) == 1 and free[0] == expr:
                vr = ranges.get(expr)
                out[name] = describe_range(vr.lower, vr.upper) if vr is not None else "any"
            elif len(free) == 1:
                vr = ranges.get(free[0])
                inner = describe_range(vr.lower, vr.upper) if vr is not None else "any"
                out[name] = f"= {str(expr).replace(str(free[0]), 'k')}, k {inner}"
            else:
                out[name] = f"= {expr}"
    return out


def user_input_values(ep: torch.export.ExportedProgram) -> list[torch.Tensor]:
    """The fake tensors of the program's tensor user inputs, in order (one pass over the
    signature: a large model has thousands of parameter placeholders)."""
    from torch.export.graph_signature import InputKind

    user = {getattr(s.arg, "name", None) for s in ep.graph_signature.input_specs
            if s.kind == InputKind.USER_INPUT}
    return [n.meta["val"] for n in ep.graph.nodes if n.op == "placeholder" and n.name in user
            and isinstance(n.meta.get("val"), torch.Tensor)]


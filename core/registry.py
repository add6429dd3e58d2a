"""Symbolic functions and the per-export registry that picks one for each op.

Rules (see docs/architecture.md):

* A key is ``namespace::name`` or ``namespace::name.overload``; for a node whose overload has
  a usable registration, the overload key wins over the bare name.
* ``opset=N`` means "from N until a later registration". For target opset T the candidates
  are the registrations with N <= T.
* Among candidates: the call's ``custom_symbolics=`` first, then ``register_symbolic`` at
  runtime, then plugins; within the same source, an *active* custom-domain function first,
  then the highest N, then the higher plugin priority, then the plugin name. Two plugin
  registrations that tie on everything but the name are a conflict: reported, never silent.
* A function declared with ``domain="com.x"`` (it emits a custom domain) for an op that also
  has a standard conversion is *active* only when the user names the domain in
  ``custom_opsets``; for an op without a standard conversion it is always used.
* A function declared with ``complex=True`` accepts complex tensors (carried as real pairs, see
  ``onnxplug.lowering.COMPLEX_PAIRS``). For a node with a complex input (a tensor, or a Python
  complex number) only such registrations are eligible; for a node without one, the others are
  preferred and a complex-aware registration is used only when a key has no other kind.

What a registry picked is public: :attr:`Registry.picks` lists every lookup that found a
conversion, and :func:`observe_picks` lets a report (the test kit's usage check) see the picks
of every export while it is open. :attr:`SymbolicFunction.location` is the ``file:line`` a
reader opens to see a conversion (for a factory-made one: where it was registered).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import CodeType, FrameType
from typing import TYPE_CHECKING

from .errors import PluginError

if TYPE_CHECKING:
    import torch

_KEY = re.compile(r"^[A-Za-z_][\w.]*::[A-Za-z_]\w*(\.\w+)?$")
SOURCE_CALL, SOURCE_RUNTIME, SOURCE_PLUGIN = 3, 2, 1
ANY_OPSET = 1


@dataclass(frozen=True)
class SymbolicSpec:
    """What ``@symbolic`` attaches to a function: the key and first opset it converts.

    ``site`` is the ``file:line`` of the module-level statement that registered the function
    (None when it was not registered at a module's top level). ``complex``: the function accepts
    complex inputs (see the module docstring).
    """

    key: str
    opset: int
    domain: str | None = None
    site: str | None = None
    complex: bool = False


@dataclass(frozen=True)
class SymbolicFunction:
    """One registration: ``fn`` converts ``key`` from ``opset`` on, contributed by ``plugin``.

    ``site`` is where it was registered (see :class:`SymbolicSpec`), if known; ``complex``
    whether it accepts complex inputs.
    """

    key: str
    opset: int
    fn: Callable
    plugin: str
    priority: int = 0
    domain: str | None = None
    source: int = SOURCE_PLUGIN
    site: str | None = None
    complex: bool = False

    @property
    def qualname(self) -> str:
        mod = getattr(self.fn, "__module__", "?")
        return f"{mod}.{getattr(self.fn, '__qualname__', repr(self.fn))}"

    @property
    def location(self) -> str:
        """``file:line`` of this conversion: its ``def`` when the function is defined at the top
        of a module; for one made by a factory (a closure, lambda or partial), where it was
        registered by key, not the factory's body. ``"?"`` when neither is known."""
        code = _code(self.fn)
        if (code is None or _made_by_factory(code)) and self.site:
            return self.site
        if code is None:
            return "?"
        return f"{inspect.getsourcefile(code) or code.co_filename}:{code.co_firstlineno}"


@dataclass(frozen=True)
class Pick:
    """A lookup that found a conversion: ``entry`` serves ``key`` at target ``opset``."""

    key: str
    opset: int
    entry: SymbolicFunction


def _code(fn: Callable) -> CodeType | None:
    fn = inspect.unwrap(fn)
    while isinstance(fn, functools.partial):
        fn = fn.func
    return getattr(fn, "__code__", None)


def _made_by_factory(code: CodeType) -> bool:
    return "<locals>" in code.co_qualname or code.co_name == "<lambda>"


def frame_site(frame: FrameType | None) -> str | None:
    """``file:line`` that ``frame`` is executing (None for no frame)."""
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else None


def registration_site(fn: Callable, frame: FrameType | None) -> str | None:
    """Where ``fn`` is being registered, seen from ``frame`` (the caller of the decorator).

    For a function made inside a factory that is running now, that is the statement that called
    the factory; otherwise the caller itself. Only a module-level statement counts (a factory
    called from a test function registers nothing a reader could find by key).
    """
    code = _code(fn)
    if code is not None and ".<locals>." in code.co_qualname:
        factory = code.co_qualname.rpartition(".<locals>.")[0]
        f = frame
        while f is not None and f.f_code.co_qualname != factory:
            f = f.f_back
        if f is not None:
            frame = f.f_back
    if frame is None or frame.f_code.co_name != "<module>":
        return None
    return frame_site(frame)


def validate_key(key: object) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise PluginError(
            f"invalid op key {key!r}: use 'namespace::name' or 'namespace::name.overload', "
            "e.g. 'aten::gelu' or 'aten::add.Tensor'."
        )
    return key


def validate_opset(opset: object) -> int:
    """``opset`` as a registration's first opset: an int >= 1, else :class:`PluginError`.

    An int above the newest opset the installed ``onnx`` defines is accepted here (a plugin may
    be newer than ``onnx``); see :func:`beyond_newest`.
    """
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < ANY_OPSET:
        raise PluginError(f"invalid opset {opset!r}: it must be an int from 1 to "
                          f"{_newest()} (the newest opset the installed onnx defines).")
    return opset


def beyond_newest(opset: int) -> bool:
    """Whether a registration from ``opset`` on can never serve an export: no target opset the
    installed ``onnx`` defines reaches it (the plugin loader skips it with a warning)."""
    return opset > _newest()


def _newest() -> int:
    from .opsets import NEWEST_OPSET

    return NEWEST_OPSET


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
               inspect.Parameter.VAR_POSITIONAL)


def validate_signature(fn: object, key: str | None = None) -> Callable:
    """``fn`` if it can be called as a symbolic function, ``fn(g, *args)``; else :class:`PluginError`.

    It must be callable and take the graph context as its first positional parameter: a function
    without positional parameters, or whose first parameter is annotated with another type than
    :class:`onnxplug.GraphContext`, is refused. A callable whose signature Python cannot read (some
    built-ins) is accepted.
    """
    what = f" for {key}" if key else ""
    if not callable(fn):
        raise PluginError(f"{fn!r} was registered as the symbolic function{what}, but it is not "
                          "callable. Register a function such as def convert(g, x): ...")
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return fn
    name = getattr(fn, "__qualname__", repr(fn))
    if not params or params[0].kind not in _POSITIONAL:
        raise PluginError(
            f"symbolic function {name}{what} takes no positional parameter, but it is called as "
            f"fn(g, *args): make the graph context its first parameter, def {name}(g, ...).")
    annotation = params[0].annotation
    if annotation is not inspect.Parameter.empty and not _is_graph_context(annotation):
        raise PluginError(
            f"symbolic function {name}{what}: its first parameter {params[0].name!r} is annotated "
            f"{annotation!r}, but it receives the graph context: annotate it onnxplug.GraphContext "
            "(or not at all), and put the op's arguments after it.")
    return fn


def _is_graph_context(annotation: object) -> bool:
    """``GraphContext`` (or a subclass), ``Any`` or ``object``, as a class or a string. Read by
    name: the registry does not import the graph module."""
    from typing import Any

    if isinstance(annotation, str):
        return annotation.rpartition(".")[2] in ("GraphContext", "Any", "object")
    if annotation in (Any, object):
        return True
    return isinstance(annotation, type) and any(
        c.__name__ == "GraphContext" and c.__module__.startswith("onnxplug")
        for c in annotation.__mro__)


def symbolic(key: str | Iterable[str], opset: int = 7, *, domain: str | None = None,
             complex: bool = False):
    """Mark a function as the conversion of ``key`` (one key or several) from ``opset`` on.

    ``domain`` names the custom domain the function emits, if any (see the module docstring
    for when such a function is used). ``complex=True`` declares that it accepts complex inputs
    (as real pairs): only such functions convert a node with a complex input. The function is
    unchanged; a plugin still passes it to ``register`` in its ``onnxplug_register_symbolics``
    hook.
    """
    keys = [key] if isinstance(key, str) else list(key)
    specs = [SymbolicSpec(validate_key(k), validate_opset(opset), domain, complex=bool(complex))
             for k in keys]

    def mark(fn: Callable) -> Callable:
        validate_signature(fn, ", ".join(s.key for s in specs))
        site = registration_site(fn, sys._getframe(1))
        marked = [SymbolicSpec(s.key, s.opset, s.domain, site, s.complex) for s in specs]
        fn.__onnxplug_symbolic__ = [*getattr(fn, "__onnxplug_symbolic__", []), *marked]
        return fn

    return mark


def specs_of(fn: Callable, key: str | None, opset: int | None, domain: str | None,
             site: str | None = None, complex: bool = False):
    """The registrations ``register(fn, key=..., opset=..., complex=...)`` stands for.

    ``site`` is the ``file:line`` of the ``register`` call (used for a keyed registration).
    """
    if key is not None:
        return [SymbolicSpec(validate_key(key), validate_opset(7 if opset is None else opset),
                             domain, site, bool(complex))]
    specs = getattr(fn, "__onnxplug_symbolic__", None)
    if not specs:
        raise PluginError(
            f"{getattr(fn, '__qualname__', fn)!r} was registered without a key: decorate it "
            "with @onnxplug.symbolic(key, opset=N) or call register(fn, key=..., opset=...)."
        )
    return list(specs)


_runtime_lock = threading.Lock()
_runtime: dict[tuple[str, int], SymbolicFunction] = {}


def register_symbolic(key: str, fn: Callable, opset: int = ANY_OPSET, *, domain: str | None = None,
                      complex: bool = False):
    """Register ``fn`` for ``key`` from ``opset`` on, for every later export in this process.

    It takes precedence over every plugin's conversion of the same key (for complex inputs, only
    with ``complex=True``). Undo it with :func:`unregister_symbolic`.
    """
    validate_signature(fn, validate_key(key))
    entry = SymbolicFunction(key, validate_opset(opset), fn, "<runtime>",
                             domain=domain, source=SOURCE_RUNTIME, site=frame_site(sys._getframe(1)),
                             complex=bool(complex))
    with _runtime_lock:
        _runtime[(key, opset)] = entry


def unregister_symbolic(key: str, opset: int | None = None) -> None:
    """Remove runtime registrations of ``key`` (at ``opset``, or all of them)."""
    with _runtime_lock:
        for k in [k for k in _runtime if k[0] == key and (opset is None or k[1] == opset)]:
            del _runtime[k]


def runtime_symbolics() -> list[SymbolicFunction]:
    """The registrations made with :func:`register_symbolic` that are in force now."""
    with _runtime_lock:
        return list(_runtime.values())


_observers_lock = threading.Lock()
_observers: tuple[Callable[[Pick], None], ...] = ()


@contextlib.contextmanager
def observe_picks(callback: Callable[[Pick], None]) -> Iterator[None]:
    """Call ``callback(pick)`` for every conversion any registry picks while the block runs.

    Each registry reports a key once (its lookups are cached). Observers nest; ``callback`` runs
    in the exporting thread and must be quick and must not raise. This is how the test kit's
    usage check (:mod:`onnxplug.testing.usage`) learns which conversions ran at which opsets.
    """
    global _observers
    with _observers_lock:
        _observers = (*_observers, callback)
    try:
        yield
    finally:
        with _observers_lock:
            rest = list(_observers)
            rest.remove(callback)
            _observers = tuple(rest)


@dataclass
class Conflict:
    key: str
    opset: int
    winner: str
    losers: list[str]

    def __str__(self) -> str:
        return (f"{self.key} at opset {self.opset}: {self.winner} wins over "
                f"{', '.join(self.losers)} (same priority; decided by plugin name)")


@dataclass
class Registry:
    """The symbolic functions of one export, indexed by key. Built per export; not global.

    ``picks`` is the public log of what this registry picked: one :class:`Pick` per key that
    :meth:`lookup` resolved to a conversion, in lookup order.
    """

    opset: int
    custom_opsets: Mapping[str, int] = field(default_factory=dict)
    by_key: dict[str, list[SymbolicFunction]] = field(default_factory=lambda: defaultdict(list))
    picks: list[Pick] = field(default_factory=list)
    _cache: dict[tuple[str, bool], SymbolicFunction | None] = field(default_factory=dict)

    @classmethod
    def build(cls, entries: Iterable[SymbolicFunction], opset: int,
              custom_opsets: Mapping[str, int] | None = None,
              custom_symbolics: Mapping[str, Callable] | None = None) -> "Registry":
        reg = cls(opset, dict(custom_opsets or {}))
        for e in entries:
            reg.by_key[e.key].append(e)
        for e in runtime_symbolics():
            reg.by_key[e.key].append(e)
        for key, fn in (custom_symbolics or {}).items():
            validate_key(key)
            accepts_complex = any(s.complex for s in getattr(fn, "__onnxplug_symbolic__", ()))
            reg.by_key[key].append(SymbolicFunction(key, ANY_OPSET, fn, "<custom_symbolics>",
                                                    source=SOURCE_CALL, complex=accepts_complex))
        return reg

    def _rank(self, e: SymbolicFunction, has_standard: bool):
        active_custom = bool(e.domain) and (e.domain in self.custom_opsets or not has_standard)
        return (e.source, active_custom, e.opset, e.priority)

    def _usable(self, key: str, complex_inputs: bool = False) -> list[SymbolicFunction]:
        cands = [e for e in self.by_key.get(key, ()) if e.opset <= self.opset]
        if complex_inputs:
            cands = [e for e in cands if e.complex]
        else:
            cands = [e for e in cands if not e.complex] or cands
        has_standard = any(not e.domain for e in cands)
        return [e for e in cands if not e.domain or e.domain in self.custom_opsets
                or not has_standard or e.source != SOURCE_PLUGIN]

    def winner(self, key: str, complex_inputs: bool = False) -> SymbolicFunction | None:
        """The registration of exactly ``key`` that wins at this opset (no fallback from an
        overload key to the bare name; not recorded in :attr:`picks`). ``complex_inputs``: for
        a node with a complex input, where only ``complex=True`` registrations are eligible."""
        cands = self._usable(key, complex_inputs)
        if not cands:
            return None
        has_standard = any(not e.domain for e in cands)
        return max(cands, key=lambda e: (self._rank(e, has_standard), _neg(e.plugin)))

    def lookup(self, key: str, input_dtypes: Iterable[torch.dtype] = ()) -> SymbolicFunction | None:
        """The function converting ``key`` (``ns::name.overload``) at this export's opset.

        ``input_dtypes`` are the dtypes of the node's inputs (from its FX metadata): with a
        complex one, only registrations declared ``complex=True`` are eligible (None when the
        key has none). The overload key wins; without a usable registration the bare name is
        tried. A conversion found is recorded in :attr:`picks` and reported to
        :func:`observe_picks`.
        """
        complex_inputs = any(dt.is_complex for dt in input_dtypes)
        try:
            return self._cache[key, complex_inputs]
        except KeyError:
            pass
        found = self.winner(key, complex_inputs)
        if found is None and "." in key.split("::", 1)[1]:
            found = self.winner(key.rsplit(".", 1)[0], complex_inputs)
        self._cache[key, complex_inputs] = found
        if found is not None:
            self._record(Pick(key, self.opset, found))
        return found

    def _record(self, pick: Pick) -> None:
        self.picks.append(pick)
        for callback in _observers:
            callback(pick)

    def available_opsets(self, key: str) -> tuple[int, ...]:
        keys = [key] + ([key.rsplit(".", 1)[0]] if "." in key.split("::", 1)[-1] else [])
        return tuple(sorted({e.opset for k in keys for e in self.by_key.get(k, ())}))

    def conflicts(self) -> list[Conflict]:
        """Plugin registrations of one key and opset that tie on priority."""
        out = []
        for key, entries in sorted(self.by_key.items()):
            groups: dict[tuple, list[SymbolicFunction]] = defaultdict(list)
            for e in entries:
                if e.source == SOURCE_PLUGIN:  # complex-aware ones serve other nodes
                    groups[(e.opset, e.priority, e.domain, e.complex)].append(e)
            for (opset, *_), group in sorted(groups.items(), key=lambda kv: kv[0][0]):
                plugins = sorted({e.plugin for e in group})
                if len(plugins) > 1:
                    out.append(Conflict(key, opset, plugins[0], plugins[1:]))
        return out


def _neg(name: str):
    """Sort key that makes the alphabetically first plugin name the maximum."""
    return (*(-ord(c) for c in name), 1)

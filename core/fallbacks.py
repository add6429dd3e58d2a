"""Fallback conversions: what an ``operator_export_type`` emits for ops the plugins do not convert.

A plugin contributes a fallback with the ``onnxplug_register_fallbacks`` hook (see
:mod:`onnxplug.hookspecs`): a factory ``make(op)`` returning a symbolic function for a
``torch._ops.OpOverload``, or None for an op it does not cover, and the export type that turns
it on. For one export, :class:`FallbackRegistry` is the registry with the fallbacks of the
export's type:

* a ``first`` fallback (``ONNX_ATEN``) answers :meth:`~FallbackRegistry.lookup` for every op it
  covers before the plugins' conversions (a call's ``custom_symbolics`` and
  ``register_symbolic`` still win);
* any other fallback answers only for *forced* keys: ops on which the export failed with
  :class:`~onnxplug.errors.UnsupportedOperatorError` (no conversion, a declining one, and no
  decomposition that helps). :func:`with_fallbacks` runs a stage, forces the keys its error
  names that a fallback covers, and runs the stage again.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch

from .enums import OperatorExportTypes
from .errors import PluginError, UnsupportedOperatorError
from .registry import ANY_OPSET, SOURCE_PLUGIN, Pick, Registry, SymbolicFunction

T = TypeVar("T")


@dataclass(frozen=True)
class Fallback:
    """One registered fallback: ``make(op)`` -> symbolic function or None, from ``plugin``."""

    make: Callable[[torch._ops.OpOverload], Callable | None]
    export_type: OperatorExportTypes
    first: bool
    plugin: str


def collect_fallbacks(pm: Any) -> list[Fallback]:
    """Every fallback the plugins of ``pm`` (a pluggy manager) register, in hook order."""
    out: list[Fallback] = []
    for impl in pm.hook.onnxplug_register_fallbacks.get_hookimpls():
        def register(make: Callable, export_type: Any, first: bool = False,
                     _plugin: str = impl.plugin_name) -> None:
            if not callable(make):
                raise PluginError(f"plugin {_plugin!r} registered fallback {make!r}, which is "
                                  "not callable.")
            if not isinstance(export_type, OperatorExportTypes):
                raise PluginError(f"plugin {_plugin!r} registered a fallback for {export_type!r}; "
                                  "give an onnxplug.OperatorExportTypes member.")
            out.append(Fallback(make, export_type, bool(first), _plugin))
        impl.function(register=register)
    return out


def resolve_op(key: str) -> torch._ops.OpOverload | None:
    """The ``OpOverload`` an op key names (``aten::add.Tensor``), or None (``_operator::mul``)."""
    ns, _, rest = key.partition("::")
    name, _, overload = rest.partition(".")
    try:
        packet = getattr(getattr(torch.ops, ns), name)
        op = getattr(packet, overload or "default")
    except (AttributeError, RuntimeError):
        return None
    return op if isinstance(op, torch._ops.OpOverload) else None


@dataclass
class FallbackRegistry(Registry):
    """A :class:`~onnxplug.registry.Registry` that also answers with the export type's fallbacks.

    ``served`` lists the op keys a fallback converted (in lookup order), ``forced`` the keys
    that only a fallback can serve in this export.
    """

    fallbacks: tuple[Fallback, ...] = ()
    forced: set[str] = field(default_factory=set)
    served: list[str] = field(default_factory=list)
    made: dict[str, SymbolicFunction | None] = field(default_factory=dict)

    @classmethod
    def for_export(cls, fallbacks: Iterable[Fallback], export_type: OperatorExportTypes,
                   *build_args: Any, **build_kwargs: Any) -> Registry:
        """:meth:`Registry.build` with ``build_args``: a plain registry when no fallback serves
        ``export_type``, else a fallback registry with those fallbacks."""
        chosen = tuple(f for f in fallbacks if f.export_type == export_type)
        if not chosen:
            return Registry.build(*build_args, **build_kwargs)
        reg = cls.build(*build_args, **build_kwargs)
        reg.fallbacks = chosen
        return reg

    def fallback_for(self, key: str, *, first: bool) -> SymbolicFunction | None:
        """The entry a fallback (``first`` ones, or the others) makes for ``key``, if any."""
        cache_key = f"{int(first)}|{key}"
        if cache_key not in self.made:
            self.made[cache_key] = self._make(key, first)
        return self.made[cache_key]

    def _make(self, key: str, first: bool) -> SymbolicFunction | None:
        op = resolve_op(key)
        if op is None or op._schema.is_mutable:
            return None
        for fb in self.fallbacks:
            if fb.first == first and (fn := fb.make(op)) is not None:
                return SymbolicFunction(key, ANY_OPSET, fn, fb.plugin, source=SOURCE_PLUGIN)
        return None

    def _overridden_by_user(self, key: str) -> bool:
        keys = (key, key.rsplit(".", 1)[0])
        return any(e.source != SOURCE_PLUGIN for k in keys for e in self.by_key.get(k, ()))

    def lookup(self, key: str, *args: Any, **kwargs: Any) -> SymbolicFunction | None:
        """A fallback's entry for a forced key, or (``first`` fallbacks) for any key it covers;
        otherwise :meth:`Registry.lookup` (other arguments are passed on to it)."""
        entry = None
        if key in self.forced:
            entry = self.fallback_for(key, first=False) or self.fallback_for(key, first=True)
        elif not self._overridden_by_user(key):
            entry = self.fallback_for(key, first=True)
        if entry is None:
            return super().lookup(key, *args, **kwargs)
        if key not in self.served:
            self.served.append(key)
            self._record(Pick(key, self.opset, entry))
        return entry

    def force(self, error: UnsupportedOperatorError) -> bool:
        """Force the keys ``error`` names that a fallback covers; False when there is none new
        (the error stands)."""
        new = {op.key for op in error.ops if op.key not in self.forced
               and self.fallback_for(op.key, first=False) is not None}
        self.forced |= new
        return bool(new)


def with_fallbacks(registry: Registry, stage: Callable[[], T]) -> T:
    """Run ``stage``; while it fails on ops a fallback of ``registry`` covers, force those ops to
    the fallback and run it again. Any other failure is raised as it is."""
    while True:
        try:
            return stage()
        except UnsupportedOperatorError as exc:
            if not isinstance(registry, FallbackRegistry) or not registry.force(exc):
                raise


def available_export_types(fallbacks: Iterable[Fallback]) -> set[OperatorExportTypes]:
    """The export types the loaded plugins provide (``ONNX`` needs no fallback)."""
    return {OperatorExportTypes.ONNX, *(f.export_type for f in fallbacks)}


def emitted(registry: Registry, converted: Iterable[str]) -> list[str]:
    """The op keys a fallback of ``registry`` converted, of the keys lowering ``converted``
    (a folded or dead op was looked up but emitted nothing)."""
    converted = set(converted)
    return [key for key in getattr(registry, "served", ()) if key in converted]


def fallback_notes(registry: Registry, converted: Iterable[str]) -> list[str]:
    """The result's note on what fallbacks emitted (none for a plain registry)."""
    served = emitted(registry, converted)
    if not served:
        return []
    return [f"{len(served)} op(s) emitted unconverted by the export type's fallback "
            f"(onnxruntime cannot run them): {', '.join(served)}"]


def skip_verify(registry: Registry, converted: Iterable[str]) -> bool:
    """``verify=True`` on a model with fallback nodes: warn that it cannot be run, and skip.

    onnxruntime implements neither ``org.pytorch.aten::ATen`` nor the namespaces
    ``ONNX_FALLTHROUGH`` emits, so such a model is checked (``onnx.checker``) but not run.
    """
    served = emitted(registry, converted)
    if not served:
        return False
    warnings.warn(
        f"verify=True skipped: the model has ops emitted unconverted ({', '.join(served[:5])}"
        f"{' ...' if len(served) > 5 else ''}) that onnxruntime cannot run. It was checked "
        "with onnx.checker only; export with OperatorExportTypes.ONNX to verify numerics.",
        RuntimeWarning, stacklevel=5)
    return True

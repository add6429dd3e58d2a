"""Finding and loading plugins, and collecting what each one contributes.

Plugins are the built-ins of this package plus every entry point in the group ``onnxplug``
(read with ``importlib-metadata``). Environment variables:

* ``ONNXPLUG_PLUGINS=a,b``: load only these entry points (empty: built-ins only).
* ``ONNXPLUG_DISABLE=a,b``: skip these.
* ``ONNXPLUG_STRICT=1``: a faulty plugin is an error (:class:`PluginError`); by default it is
  skipped with a warning naming its distribution and the error, and listed as broken by
  ``onnxplug plugins``.

A plugin is faulty when it fails to import, when one of its hooks raises (a ``register`` call
with a bad key, opset or function raises :class:`PluginError` inside the hook), or when
``onnxplug_custom_opsets`` returns something else than ``{domain: version}``. A faulty plugin is
dropped whole (nothing it registered is used) and the other plugins load as usual. A
registration from an opset newer than the installed ``onnx`` defines is skipped with a warning
(strict: an error); the rest of that plugin loads.

The loaded set is cached per distinct environment and refreshed by :func:`reload_plugins`.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import importlib_metadata
import pluggy

from . import hookspecs
from .distributions import distribution_version
from .errors import PluginError
from .passes import PassEntry
from .registry import SymbolicFunction, beyond_newest, frame_site, specs_of, validate_signature

BUILTIN = hookspecs.BUILTIN


@dataclass(frozen=True)
class PluginInfo:
    name: str
    distribution: str
    version: str
    hooks: tuple[str, ...]
    priority: int = 0


@dataclass(frozen=True)
class BrokenPlugin:
    name: str
    distribution: str
    error: str


@dataclass
class LoadedPlugins:
    """The plugin manager and everything the plugins contributed, collected once."""

    pm: pluggy.PluginManager
    plugins: list[PluginInfo]
    broken: list[BrokenPlugin]
    symbolics: list[SymbolicFunction] = field(default_factory=list)
    fx_passes: list[PassEntry] = field(default_factory=list)
    ir_passes: list[PassEntry] = field(default_factory=list)
    opset_versions: dict[str, int] = field(default_factory=dict)

    def names(self) -> list[str]:
        return [f"{p.name} ({p.distribution} {p.version})" for p in self.plugins]

    def label(self, name: str) -> str:
        """``'name' (distribution version)`` of plugin ``name``, for messages."""
        info = next((p for p in self.plugins if p.name == name), None)
        return f"{name!r} ({info.distribution} {info.version})" if info else repr(name)

    def provided_features(self) -> set[str]:
        return {f for p in self.ir_passes + self.fx_passes for f in p.provides}

    def test_cases(self, plugin: str | None = None) -> list[tuple[str, Any]]:
        """``(plugin, case)`` for every declared test case (of one plugin, if named)."""
        out: list[tuple[str, Any]] = []
        for impl in self.pm.hook.onnxplug_register_test_cases.get_hookimpls():
            if plugin is not None and impl.plugin_name != plugin:
                continue
            impl.function(register=lambda case, _p=impl.plugin_name: out.append((_p, case)))
        return out


def _csv(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _priority(obj: Any) -> int:
    value = getattr(obj, "ONNXPLUG_PRIORITY", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _strict() -> bool:
    return os.environ.get("ONNXPLUG_STRICT", "") not in ("", "0", "false", "False")


def _collect(pm: pluggy.PluginManager, hook_name: str, make: Callable[[str, int], Callable],
             faults: dict[str, _HookFault]) -> None:
    """Call each implementation of a register-callback hook with a register bound to its plugin.

    A plugin whose implementation raises goes to ``faults`` (plugin name -> a :class:`_HookFault`
    naming the hook and the exception) and is not called again.
    """
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        if impl.plugin_name in faults:
            continue
        plugin = pm.get_plugin(impl.plugin_name)
        try:
            impl.function(register=make(impl.plugin_name, _priority(plugin)))
        except Exception as exc:  # a third party's bug must not break other plugins
            faults[impl.plugin_name] = _HookFault(hook_name, exc)


class _HookFault(Exception):
    """What went wrong in one plugin's hook: ``hook`` and the exception it raised."""

    def __init__(self, hook: str, exc: BaseException):
        super().__init__(f"{hook} raised {type(exc).__name__}: {exc}")
        self.hook, self.exc = hook, exc


def _load() -> LoadedPlugins:
    """Register the built-ins and the entry points, then collect what each contributes."""
    from . import builtin_plugin

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(builtin_plugin, name=BUILTIN)
    infos = [PluginInfo(BUILTIN, "onnxplug", distribution_version("onnxplug"),
                        _hooks(pm, builtin_plugin))]
    broken: list[BrokenPlugin] = []
    strict = _strict()
    for ep in _selected_entry_points():
        if pm.has_plugin(ep.name):
            continue
        info = _load_entry_point(pm, ep, strict, broken)
        if info is not None:
            infos.append(info)
    loaded = LoadedPlugins(pm, infos, broken)
    _collect_contributions(loaded, strict)
    return loaded


def _selected_entry_points() -> list:
    """The ``onnxplug`` entry points that ``ONNXPLUG_PLUGINS``/``ONNXPLUG_DISABLE`` let through."""
    only, disabled = _csv("ONNXPLUG_PLUGINS"), set(_csv("ONNXPLUG_DISABLE") or [])
    eps = sorted(importlib_metadata.entry_points(group=hookspecs.PROJECT), key=lambda e: e.name)
    return [ep for ep in eps
            if (only is None or ep.name in only) and ep.name not in disabled]


def _load_entry_point(pm: pluggy.PluginManager, ep, strict: bool,
                      broken: list[BrokenPlugin]) -> PluginInfo | None:
    """Import and register one entry point; a failure is an error (strict) or a broken plugin."""
    dist = ep.dist.name if ep.dist else "?"
    version = ep.dist.version if ep.dist else "?"
    try:
        obj = ep.load()
        pm.register(obj, name=ep.name)
        try:
            pm.check_pending()
        except pluggy.PluginValidationError:
            pm.unregister(obj)
            raise
    except Exception as exc:  # a third party's import error must not break export
        msg = (f"onnxplug plugin {ep.name!r} from distribution {dist} {version} failed to "
               f"load: {type(exc).__name__}: {exc}")
        if strict:
            raise PluginError(msg + " (ONNXPLUG_STRICT is set)") from exc
        warnings.warn(msg + "; it is skipped. Set ONNXPLUG_STRICT=1 to make this an error.",
                      RuntimeWarning, stacklevel=4)
        broken.append(BrokenPlugin(ep.name, dist, f"{type(exc).__name__}: {exc}"))
        return None
    return PluginInfo(ep.name, dist, version, _hooks(pm, obj), _priority(obj))


def _collect_contributions(loaded: LoadedPlugins, strict: bool = False) -> None:
    """Symbolic functions, passes (sorted by order, then name) and custom-domain versions.

    A plugin whose hook raises (or returns a wrong value) is dropped with everything it
    contributed: :func:`_drop_faulty` reports it, or raises under ``ONNXPLUG_STRICT``.
    """
    pm = loaded.pm
    faults: dict[str, _HookFault] = {}
    dist = {p.name: f"{p.distribution} {p.version}" for p in loaded.plugins}
    _collect(pm, "onnxplug_register_symbolics",
             _symbolic_register(loaded.symbolics, dist, strict), faults)
    _collect(pm, "onnxplug_register_fx_passes", _pass_register(loaded.fx_passes), faults)
    _collect(pm, "onnxplug_register_ir_passes", _pass_register(loaded.ir_passes), faults)
    versions_of: dict[str, dict[str, int]] = {}
    for impl in pm.hook.onnxplug_custom_opsets.get_hookimpls():
        if impl.plugin_name in faults:
            continue
        try:
            versions_of[impl.plugin_name] = _custom_opsets(impl.function())
        except Exception as exc:
            faults[impl.plugin_name] = _HookFault("onnxplug_custom_opsets", exc)
    _drop_faulty(loaded, faults, strict)
    for p in (loaded.fx_passes, loaded.ir_passes):
        p.sort(key=lambda e: (e.order, e.name))
    for plugin, versions in versions_of.items():
        if plugin in faults:
            continue
        for domain, version in versions.items():
            loaded.opset_versions[domain] = max(version, loaded.opset_versions.get(domain, 0))


def _custom_opsets(returned: Any) -> dict[str, int]:
    """What an ``onnxplug_custom_opsets`` implementation returned, checked: ``{domain: version}``."""
    if returned is None:
        return {}
    if not isinstance(returned, dict) or not all(
            isinstance(d, str) and d and isinstance(v, int) and not isinstance(v, bool) and v >= 1
            for d, v in returned.items()):
        raise PluginError(f"it returned {returned!r:.80}; it must return a dict of domain "
                          "names to versions (ints >= 1), such as {'com.example': 1}.")
    return returned


def _drop_faulty(loaded: LoadedPlugins, faults: dict[str, _HookFault], strict: bool) -> None:
    """Remove every contribution of each faulty plugin; warn (or, strict, raise) naming its
    distribution and the error."""
    if not faults:
        return
    infos = {p.name: p for p in loaded.plugins}
    for name, fault in faults.items():
        info = infos.get(name)
        dist, version = (info.distribution, info.version) if info else ("?", "?")
        msg = (f"onnxplug plugin {name!r} from distribution {dist} {version} is faulty: "
               f"{fault}")
        if strict:
            raise PluginError(msg + " (ONNXPLUG_STRICT is set)") from fault.exc
        warnings.warn(msg + "; it is skipped (nothing it registered is used). Report it to its "
                      "authors; set ONNXPLUG_STRICT=1 to make this an error.",
                      RuntimeWarning, stacklevel=5)
        loaded.broken.append(BrokenPlugin(name, dist, str(fault)))
        plugin = loaded.pm.get_plugin(name)
        if plugin is not None:
            loaded.pm.unregister(plugin, name=name)
    loaded.plugins[:] = [p for p in loaded.plugins if p.name not in faults]
    for entries in (loaded.symbolics, loaded.fx_passes, loaded.ir_passes):
        entries[:] = [e for e in entries if e.plugin not in faults]


def _symbolic_register(target: list[SymbolicFunction], dist: dict[str, str] | None = None,
                       strict: bool = False):
    """``make(plugin, priority)`` -> the ``register`` of ``onnxplug_register_symbolics``.

    ``register`` raises :class:`PluginError` for a bad key, opset or function (the loader then
    drops the plugin). A registration from an opset newer than the installed ``onnx`` defines
    can never serve an export: it is skipped with a warning (under ``strict``, an error).
    """
    def make(plugin: str, priority: int):
        def register(fn: Callable, key: str | None = None, opset: int | None = None,
                     domain: str | None = None, complex: bool = False) -> None:
            if not callable(fn):
                raise PluginError(f"plugin {plugin!r} registered {fn!r}, which is not callable.")
            site = frame_site(sys._getframe(1)) if key is not None else None
            specs = specs_of(fn, key, opset, domain, site, complex)
            if key is not None or not hasattr(fn, "__onnxplug_symbolic__"):
                # @symbolic already checked the signature of what it marked (once per
                # function: ~800 inspect.signature calls are a good part of plugin loading)
                validate_signature(fn, ", ".join(s.key for s in specs))
            for s in specs:
                if beyond_newest(s.opset):
                    _newer_than_onnx(plugin, (dist or {}).get(plugin, "?"), s, strict)
                    continue
                target.append(SymbolicFunction(s.key, s.opset, fn, plugin, priority, s.domain,
                                               site=s.site, complex=s.complex))
        return register
    return make


def _newer_than_onnx(plugin: str, dist: str, spec: Any, strict: bool) -> None:
    from .opsets import NEWEST_OPSET

    msg = (f"onnxplug plugin {plugin!r} from distribution {dist} registered {spec.key} from "
           f"opset {spec.opset}, but the installed onnx defines opsets up to {NEWEST_OPSET}")
    if strict:
        raise PluginError(msg + " (ONNXPLUG_STRICT is set). Upgrade onnx, or fix the opset.")
    warnings.warn(msg + "; that registration is skipped. Upgrade onnx to use it, or fix the "
                  "plugin's opset.", RuntimeWarning, stacklevel=3)


def _pass_register(target: list[PassEntry]):
    """``make(plugin, priority)`` -> the ``register`` of a pass hook, appending to ``target``."""
    def make(plugin: str, _priority: int):
        def register(fn: Callable, order: int = 500, name: str | None = None,
                     provides: tuple[str, ...] | list[str] = ()) -> None:
            if not callable(fn):
                raise PluginError(f"plugin {plugin!r} registered pass {fn!r}, not callable.")
            target.append(PassEntry(fn, int(order), name or getattr(fn, "__name__", repr(fn)),
                                    plugin, tuple(provides)))
        return register
    return make


def _hooks(pm: pluggy.PluginManager, obj: Any) -> tuple[str, ...]:
    return tuple(sorted(h.name for h in pm.get_hookcallers(obj) or ()))


_lock = threading.Lock()
_cache: dict[tuple, LoadedPlugins] = {}


def load_plugins() -> LoadedPlugins:
    """The plugins for the current environment variables (loaded once, then cached)."""
    env = tuple(os.environ.get(k) for k in ("ONNXPLUG_PLUGINS", "ONNXPLUG_DISABLE", "ONNXPLUG_STRICT"))
    with _lock:
        if env not in _cache:
            _cache[env] = _load()
        return _cache[env]


def reload_plugins() -> None:
    """Forget loaded plugins (after installing one in a running process)."""
    with _lock:
        _cache.clear()
    importlib.invalidate_caches()

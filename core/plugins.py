"""Finding and loading plugins, and collecting what each one contributes.

Plugins are the built-ins of this package plus every entry point in the group ``onnxplug``
(read with ``importlib-metadata``). Environment variables:

* ``ONNXPLUG_PLUGINS=a,b``: load only these entry points (empty: built-ins only).
* ``ONNXPLUG_DISABLE=a,b``: skip these.
* ``ONNXPLUG_STRICT=1``: a plugin that fails to load is an error; by default it is skipped
  with a warning naming its distribution, and listed as broken by ``onnxplug plugins``.

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
from .errors import PluginError
from .passes import PassEntry
from .registry import SymbolicFunction, frame_site, specs_of

BUILTIN = "onnxplug.builtin"


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


def _collect(pm: pluggy.PluginManager, hook_name: str, make: Callable[[str, int], Callable]):
    """Call each implementation of a register-callback hook with a register bound to its plugin."""
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        plugin = pm.get_plugin(impl.plugin_name)
        impl.function(register=make(impl.plugin_name, _priority(plugin)))


def _load() -> LoadedPlugins:
    """Register the built-ins and the entry points, then collect what each contributes."""
    from . import builtin_plugin

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(builtin_plugin, name=BUILTIN)
    infos = [PluginInfo(BUILTIN, "onnxplug", distribution_version("onnxplug"),
                        _hooks(pm, builtin_plugin))]
    broken: list[BrokenPlugin] = []
    strict = os.environ.get("ONNXPLUG_STRICT", "") not in ("", "0", "false", "False")
    for ep in _selected_entry_points():
        if pm.has_plugin(ep.name):
            continue
        info = _load_entry_point(pm, ep, strict, broken)
        if info is not None:
            infos.append(info)
    loaded = LoadedPlugins(pm, infos, broken)
    _collect_contributions(loaded)
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


def _collect_contributions(loaded: LoadedPlugins) -> None:
    """Symbolic functions, passes (sorted by order, then name) and custom-domain versions."""
    pm = loaded.pm
    _collect(pm, "onnxplug_register_symbolics", _symbolic_register(loaded.symbolics))
    _collect(pm, "onnxplug_register_fx_passes", _pass_register(loaded.fx_passes))
    _collect(pm, "onnxplug_register_ir_passes", _pass_register(loaded.ir_passes))
    for p in (loaded.fx_passes, loaded.ir_passes):
        p.sort(key=lambda e: (e.order, e.name))
    for versions in pm.hook.onnxplug_custom_opsets():
        for domain, version in (versions or {}).items():
            loaded.opset_versions[domain] = max(version, loaded.opset_versions.get(domain, 0))


def _symbolic_register(target: list[SymbolicFunction]):
    """``make(plugin, priority)`` -> the ``register`` of ``onnxplug_register_symbolics``."""
    def make(plugin: str, priority: int):
        def register(fn: Callable, key: str | None = None, opset: int | None = None,
                     domain: str | None = None) -> None:
            if not callable(fn):
                raise PluginError(f"plugin {plugin!r} registered {fn!r}, which is not callable.")
            site = frame_site(sys._getframe(1)) if key is not None else None
            for s in specs_of(fn, key, opset, domain, site):
                target.append(SymbolicFunction(s.key, s.opset, fn, plugin, priority, s.domain,
                                               site=s.site))
        return register
    return make


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


def distribution_version(dist: str) -> str:
    """The installed version of distribution ``dist``, or ``"?"`` when it is not installed."""
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return "?"


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

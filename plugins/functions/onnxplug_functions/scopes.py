"""Module calls, read from the FX metadata of each ONNX node.

Lowering sets ``node.meta["fx_node"]`` on every ONNX node it builds; the FX node's
``meta["nn_module_stack"]`` lists the module calls it ran in, outermost first, as
``{key: (path, type name)}``. A key names one call (``L__self__shared@1`` is the second call of
``self.shared``), so the chain of keys identifies a module call and its nesting. The root
module (path ``""``) is the graph itself and never becomes a function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import onnx_ir as ir
import torch


@dataclass(frozen=True, eq=False)
class ModuleCall:
    """One call of an ``nn.Module`` during the captured forward.

    ``key`` is the chain of ``nn_module_stack`` keys from the outermost call (the root module
    excluded), so ``key[:-1]`` is the enclosing call. ``module`` is the module object when the
    exported object was an ``nn.Module`` (None for an ExportedProgram or TorchScript input).
    """

    key: tuple[str, ...]
    path: str
    type_name: str
    module: torch.nn.Module | None

    @property
    def depth(self) -> int:
        return len(self.key)

    @property
    def cls(self) -> type | None:
        return type(self.module) if self.module is not None else None


def type_name(cls: type) -> str:
    """How ``nn_module_stack`` names a class: ``module.qualname``."""
    return f"{cls.__module__}.{cls.__qualname__}"


class CallIndex:
    """Maps ONNX nodes to the chain of module calls they were built in."""

    def __init__(self, fx_nodes: Mapping[str, torch.fx.Node], model_object: Any):
        self._fx_nodes = fx_nodes
        self._root = model_object if isinstance(model_object, torch.nn.Module) else None
        self._calls: dict[tuple[str, ...], ModuleCall] = {}
        self._chains: dict[str, tuple[ModuleCall, ...]] = {}

    def chain(self, node: ir.Node) -> tuple[ModuleCall, ...]:
        """The module calls ``node`` ran in, outermost first (empty: the root module's body)."""
        name = node.meta.get("fx_node")
        if name is None:
            return ()
        chain = self._chains.get(name)
        if chain is None:
            fx = self._fx_nodes.get(name)
            stack = fx.meta.get("nn_module_stack") if fx is not None else None
            chain = self._chain_of(stack or {})
            self._chains[name] = chain
        return chain

    def _chain_of(self, stack: Mapping[str, Any]) -> tuple[ModuleCall, ...]:
        keys: list[str] = []
        out: list[ModuleCall] = []
        for key, entry in stack.items():
            path, tname = _path_and_type(entry)
            if not path:
                continue  # the root module: the graph itself
            keys.append(key)
            k = tuple(keys)
            call = self._calls.get(k)
            if call is None:
                call = ModuleCall(k, path, tname, self._submodule(path))
                self._calls[k] = call
            out.append(call)
        return tuple(out)

    def _submodule(self, path: str) -> torch.nn.Module | None:
        if self._root is None:
            return None
        try:
            return self._root.get_submodule(path)
        except (AttributeError, TypeError):
            return None


def _path_and_type(entry: Any) -> tuple[str, str]:
    path, tname = entry if isinstance(entry, tuple) and len(entry) == 2 else ("", "")
    if isinstance(tname, type):
        tname = type_name(tname)
    return str(path), str(tname)


def wanted(call: ModuleCall, option: bool | frozenset[type]) -> bool:
    """Does ``export_modules_as_functions=option`` ask for this call to become a function?

    ``True`` selects every call; a set selects calls whose module's type is in it (the exact
    type, as the reference exporter does; a subclass must be named itself).
    """
    if option is True:
        return True
    if not option:
        return False
    if call.cls is not None:
        return call.cls in option
    return any(type_name(t) == call.type_name for t in option)

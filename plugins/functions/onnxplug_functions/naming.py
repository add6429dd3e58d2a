"""Function domains and names from module classes: qualified, stable, valid identifiers.

A class ``Block`` defined in module ``models.encoder`` gives domain ``models.encoder`` and name
``Block``; a nested class ``Outer.Inner`` gives domain ``models.encoder.Outer`` and name
``Inner``; ``<locals>`` scopes (classes defined in a function) are dropped. Nothing depends on
object ids, so the names are the same in every run. Two variants of one class (different
structure) get ``Block``, ``Block_1``, ...; two distinct classes with the same qualified name
(made by a factory) are told apart the same way.
"""

from __future__ import annotations

import re

from .scopes import ModuleCall

_BAD = re.compile(r"[^A-Za-z0-9_]")


def identifier(text: str) -> str:
    """``text`` as an ONNX identifier: letters, digits and ``_``, not starting with a digit."""
    out = _BAD.sub("_", text) or "_"
    return "_" + out if out[0].isdigit() else out


def class_identity(call: ModuleCall) -> tuple[str, str]:
    """``(domain, name)`` for the class of ``call``'s module, before disambiguation."""
    if call.cls is not None:
        module, qualname = call.cls.__module__, call.cls.__qualname__
        parts = [p for p in qualname.split(".") if p != "<locals>"]
    else:  # only the recorded "module.qualname" string: the last part is the class
        module, _, cls_name = call.type_name.rpartition(".")
        parts = [cls_name or "Module"]
    scope = [p for p in module.split(".") if p] + parts[:-1]
    domain = ".".join(identifier(p) for p in scope) or "local"
    return domain, identifier(parts[-1])


class FunctionNames:
    """Hands out unique ``(domain, name)`` pairs, first come first served."""

    def __init__(self, taken: set[tuple[str, str]] | None = None):
        self._taken = set(taken or ())

    def allocate(self, domain: str, name: str) -> tuple[str, str]:
        candidate, k = name, 0
        while (domain, candidate) in self._taken:
            k += 1
            candidate = f"{name}_{k}"
        self._taken.add((domain, candidate))
        return domain, candidate

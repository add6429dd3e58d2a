"""One collector for what did not convert directly in one export.

Lowering (:mod:`onnxplug.lowering`), decomposition (:mod:`onnxplug.decompose`) and the export's
lowering loop record every failure in one :class:`Failures`, and :meth:`Failures.error` turns
what is left into the error the user sees:

* **unsupported**: an op with no conversion at the target opset that PyTorch's decompositions
  cannot replace either (op key -> the source locations of its nodes);
* **declined**: a conversion raised ``NotImplementedError`` for this case (FX target -> the
  reason); the export decomposes that op with PyTorch and lowers again;
* **decomposed**: op keys that PyTorch's decomposition replaced (the export's notes list them).

A reason (why a conversion declined, or why PyTorch's decomposition of an op failed) is kept
per op key and shown in the error next to the op.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import UnsupportedOp, UnsupportedOperatorError

if TYPE_CHECKING:
    from .registry import Registry


@dataclass
class Failures:
    """Unsupported, declined and decomposed ops of one export, with where they are."""

    unsupported: dict[str, list[str]] = field(default_factory=dict)
    declined: dict[Any, str] = field(default_factory=dict)
    decomposed: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    _pending: dict[Any, str] = field(default_factory=dict)

    # -- recording ----------------------------------------------------------------------------
    def add_unsupported(self, key: str, location: str) -> None:
        """A node of op ``key`` (at ``location``: ``file:line`` or the FX node name) has no
        conversion."""
        self.unsupported.setdefault(key, []).append(location)

    def add_declined(self, target: Any, key: str, reason: str) -> None:
        """The conversion of FX ``target`` (op ``key``) declined in the current lowering."""
        self._pending.setdefault(target, reason)
        self.reasons.setdefault(key, reason)

    def add_reason(self, key: str, reason: str) -> None:
        """Why op ``key`` could not be handled (kept for the error message)."""
        self.reasons.setdefault(key, reason)

    def add_decomposed(self, keys: Iterable[str]) -> None:
        """PyTorch's decompositions replaced these op keys."""
        self.decomposed.extend(keys)

    # -- reading ------------------------------------------------------------------------------
    @property
    def lowering_failed(self) -> bool:
        """Did the current lowering hit an unsupported op or a declining conversion? (Then the
        rest of it only collects what else is missing.)"""
        return bool(self.unsupported or self._pending)

    @property
    def declined_now(self) -> dict[Any, str]:
        """The declines of the current lowering (FX target -> reason)."""
        return dict(self._pending)

    def accept_declines(self) -> set[Any]:
        """End a lowering that declined: move its declines into :attr:`declined` and return
        the targets that had not declined before (empty: decomposing again cannot help)."""
        new = set(self._pending) - set(self.declined)
        for target, reason in self._pending.items():
            self.declined.setdefault(target, reason)
        self._pending.clear()
        return new

    def error(self, registry: "Registry", opset: int, plugins: list[str]) -> UnsupportedOperatorError:
        """The error for every unsupported op recorded, each with its locations, the opsets it
        has a conversion at and the reason, if one was recorded."""
        return UnsupportedOperatorError(
            [UnsupportedOp(key, tuple(where), registry.available_opsets(key),
                           self.reasons.get(key, ""))
             for key, where in self.unsupported.items()],
            opset, plugins)

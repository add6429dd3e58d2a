"""Which conversions a test run exercised, and at which opsets: the "lowest and newest" check.

A plugin's tests should run every symbolic function it registers at the lowest opset the
function claims and at the highest opset it still serves (the newest opset, or the one before a
later registration of the same key takes over). :class:`ConversionUsage` records, while it is
active, every ``(function, target opset)`` the exporter picked; :meth:`ConversionUsage.missing`
lists what a plugin's registrations needed and the run did not exercise::

    usage = ConversionUsage()
    with usage.recording():
        ...  # exports
    for gap in usage.missing("opset"):
        print(gap)

``pytest --onnxplug-usage PLUGIN`` (see :mod:`onnxplug.testing.pytest_plugin`) records over the
whole test session and fails it when something is missing, listing each gap.

A conversion that declines (raises ``NotImplementedError``) still counts as exercised: the test
that reached it compared the decomposed result with eager PyTorch.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..opsets import NEWEST_OPSET
from ..registry import Pick, SymbolicFunction, observe_picks


@dataclass(frozen=True, order=True)
class Gap:
    """``function`` (registered from ``first`` for ``keys``) never ran at target ``opset``."""

    function: str
    opset: int
    first: int
    keys: tuple[str, ...]

    def __str__(self) -> str:
        where = "its lowest opset" if self.opset == self.first else "the newest opset it serves"
        return (f"{self.function} (from opset {self.first}; {', '.join(self.keys)}) "
                f"was not exercised at opset {self.opset} ({where})")


def bounds(entries: list[SymbolicFunction], newest: int) -> dict[tuple[int, int], tuple[int, int, set[str]]]:
    """``{(id(fn), first): (first, last, keys)}``: the opset range each registration serves.

    A registration of key K from opset N serves N up to one below the next registration of K
    (by the same plugin), or up to ``newest``. A function registered for several keys serves
    the widest of their ranges. Complex-aware registrations (``complex=True``) and the others
    serve different nodes, so neither ends the other's range.
    """
    by_key: dict[tuple[str, bool], list[int]] = defaultdict(list)
    for e in entries:
        by_key[e.key, e.complex].append(e.opset)
    out: dict[tuple[int, int], tuple[int, int, set[str]]] = {}
    for e in entries:
        later = [o for o in by_key[e.key, e.complex] if o > e.opset]
        last = min(later) - 1 if later else newest
        first, prev_last, keys = out.get((id(e.fn), e.opset), (e.opset, e.opset, set()))
        out[(id(e.fn), e.opset)] = (first, max(prev_last, last), keys | {e.key})
    return out


class ConversionUsage:
    """Records the ``(function, target opset)`` pairs the exporter picks while recording.

    It reads the registries' public picks (:func:`onnxplug.registry.observe_picks`): every
    lookup that found a conversion counts, including the checks that decide what to decompose.
    """

    def __init__(self) -> None:
        self.seen: set[tuple[int, int]] = set()  # (id(fn), target opset)

    def add(self, pick: Pick) -> None:
        """Record one pick of a registry (the callback given to :func:`observe_picks`)."""
        self.seen.add((id(pick.entry.fn), pick.opset))

    @contextlib.contextmanager
    def recording(self) -> Iterator["ConversionUsage"]:
        """Record every conversion the exports in the block pick; nests."""
        with observe_picks(self.add):
            yield self

    def missing(self, plugin: str, newest: int | None = None) -> list[Gap]:
        """The lowest/newest opsets of ``plugin``'s registrations that were never exercised."""
        from ..plugins import load_plugins

        newest = newest or NEWEST_OPSET
        entries = [e for e in load_plugins().symbolics if e.plugin == plugin]
        fns = {id(e.fn): e for e in entries}
        gaps = []
        for (fn_id, _), (first, last, keys) in bounds(entries, newest).items():
            for opset in sorted({first, last}):
                if (fn_id, opset) not in self.seen:
                    gaps.append(Gap(fns[fn_id].qualname, opset, first, tuple(sorted(keys))))
        return sorted(gaps)


class UsageCheck:
    """A pytest plugin object: record conversions during tests, fail the session on gaps.

    ``plugin`` is the onnxplug plugin whose registrations are checked. With ``folder``, only
    tests under that folder are recorded, and the check runs only when every ``test_*.py`` of
    the folder ran with no ``-k`` or node-id selection (a partial run cannot cover everything).
    Register it from a ``conftest.py``::

        def pytest_configure(config):
            config.pluginmanager.register(UsageCheck("myops", folder=Path(__file__).parent))

    or run ``pytest --onnxplug-usage myops`` to check a whole session.
    """

    def __init__(self, plugin: str, folder=None) -> None:
        self.plugin = plugin
        self.folder = Path(folder).resolve() if folder is not None else None
        self.usage = ConversionUsage()
        self.gaps: list[Gap] = []
        self._wanted: set[Path] = set()
        self._ran: set[Path] = set()

    def pytest_collection_finish(self, session) -> None:
        # The folder's test files as collection saw them (files added later do not count).
        if self.folder is not None:
            self._wanted = set(self.folder.glob("test_*.py"))

    def _mine(self, item) -> bool:
        return self.folder is None or self.folder in Path(item.path).resolve().parents

    def _complete(self, session) -> bool:
        if self.folder is None:
            return True
        opt = session.config.option
        if getattr(opt, "keyword", "") or any("::" in str(a) for a in session.config.args):
            return False
        return bool(self._wanted) and self._wanted <= self._ran

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        if not self._mine(item):
            return (yield)
        self._ran.add(Path(item.path).resolve())
        with self.usage.recording():
            return (yield)

    def pytest_sessionfinish(self, session) -> None:
        if not self._complete(session):
            return
        self.gaps = self.usage.missing(self.plugin)
        if self.gaps and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.gaps:
            return
        terminalreporter.section(f"onnxplug plugin {self.plugin!r}: conversions not exercised", red=True)
        terminalreporter.write_line(
            f"{len(self.gaps)} conversion(s) did not run at the lowest opset they claim or the newest "
            "they serve; add a test for each:")
        for gap in self.gaps:
            terminalreporter.write_line(f"  {gap}")

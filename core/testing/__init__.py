"""The plugin test kit: check that exports of declared cases match eager PyTorch.

``export_and_compare`` is the one check every test uses: export, run the ONNX checker, run
onnxruntime, compare with eager PyTorch. :class:`OpCase` declares a conformance case of a plugin
(hook ``onnxplug_register_test_cases``); ``pytest --onnxplug-plugin NAME`` runs them all.

Names are imported on first use, so loading the pytest plugin (``pytest11`` entry point) in
every pytest run stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "CaseFailure": "cases", "Nodes": "cases", "OpCase": "cases", "run_case": "cases",
    "assert_matches": "harness", "export_and_compare": "harness", "export_and_run": "harness",
    "DEFAULT_OPSET": "harness", "NEWEST_OPSET": "harness", "input_tensors": "harness",
    "load_checked": "harness",
}

__all__ = sorted(_WHERE)

if TYPE_CHECKING:
    from .cases import CaseFailure, Nodes, OpCase, run_case
    from .harness import (DEFAULT_OPSET, NEWEST_OPSET, assert_matches, export_and_compare,
                          export_and_run, input_tensors, load_checked)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

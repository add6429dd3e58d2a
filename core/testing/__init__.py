"""The plugin test kit: check that exports of declared cases match eager PyTorch.

``export_and_compare`` is the one check every test uses: export, run the ONNX checker, run
onnxruntime, compare with eager PyTorch. :class:`OpCase` declares a conformance case of a plugin
(hook ``onnxplug_register_test_cases``); ``pytest --onnxplug-plugin NAME`` runs them all.
"""

from __future__ import annotations

from .cases import CaseFailure, Nodes, OpCase, run_case
from .harness import assert_matches, export_and_compare, export_and_run

__all__ = ["CaseFailure", "Nodes", "OpCase", "assert_matches", "export_and_compare",
           "export_and_run", "run_case"]

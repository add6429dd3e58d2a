"""The plugin test kit: check that exports of declared cases match eager PyTorch.

``export_and_compare`` is the one check every test uses: export, run the ONNX checker, run
onnxruntime, compare with eager PyTorch.
"""

from __future__ import annotations

from .harness import assert_matches, export_and_compare, export_and_run

__all__ = ["assert_matches", "export_and_compare", "export_and_run"]

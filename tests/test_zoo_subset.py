"""A fast subset of the model zoo (benchmarks/zoo_models.py FAST) in the default suite: each
model is built from its config with random weights, exported by onnxplug at opset 17 with the
dynamic axes a tutorial marks, checked with onnx.checker, and run in onnxruntime against eager
PyTorch at the export shape and at a second shape (benchmarks/zoo.py's worker)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import zoo  # noqa: E402
import zoo_models  # noqa: E402


@pytest.mark.parametrize("name", zoo_models.FAST)
def test_zoo_model_exports_and_matches_eager_at_two_shapes(name):
    record = zoo.worker(name, "onnxplug", 17)
    assert record["status"] == "ok", record
    assert record["max_diff"] <= zoo.ATOL and record["second-max_diff"] <= zoo.ATOL

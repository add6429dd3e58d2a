"""Shared fixtures for the opset plugin's tests."""

from __future__ import annotations

import onnx
import pytest

from onnxplug.testing import export_and_compare

NEWEST = onnx.defs.onnx_opset_version()


@pytest.fixture
def check():
    """``check(model, args, opset=17, **export_kwargs)``: export, check, run, compare."""
    return export_and_compare

"""Shared fixtures for the opset plugin's tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from onnxplug.opsets import NEWEST_OPSET
from onnxplug.testing import export_and_compare
from onnxplug.testing.usage import UsageCheck

os.environ.setdefault("ONNXPLUG_CHECK_TYPES", "1")  # a conversion's wrong output dtype fails

NEWEST = NEWEST_OPSET


@pytest.fixture
def check():
    """``check(model, args, opset=17, **export_kwargs)``: export, check, run, compare."""
    return export_and_compare


def pytest_configure(config: pytest.Config) -> None:
    """Every conversion of this plugin must run in these tests at the lowest opset it claims and
    at the newest it serves (onnxplug.testing.usage); checked when the whole folder runs."""
    config.pluginmanager.register(UsageCheck("opset", folder=Path(__file__).parent),
                                  "onnxplug-opset-usage")

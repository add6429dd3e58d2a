"""The contrib plugin's tests: every conversion it registers must run in them at the lowest
opset it claims and at the newest it serves (``onnxplug.testing.usage``), checked when the
whole folder runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from onnxplug.testing.usage import UsageCheck


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(UsageCheck("contrib", folder=Path(__file__).parent),
                                  "onnxplug-contrib-usage")

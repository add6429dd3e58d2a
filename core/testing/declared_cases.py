"""The test module ``pytest --onnxplug-plugin NAME`` collects.

``pytest_generate_tests`` in :mod:`onnxplug.testing.pytest_plugin` turns the single test below
into one test per declared case, opset and dtype of the named plugin(s).
"""

from __future__ import annotations


def test_declared_case(onnxplug_case):
    """Export the case at its opset, check, run in onnxruntime, compare, check the structure."""
    onnxplug_case.run()

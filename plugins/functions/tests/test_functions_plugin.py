"""The functions distribution is installed, discovered, and provides its feature."""

from __future__ import annotations

import onnxplug


def test_discovered_through_its_entry_point():
    names = [p.name for p in onnxplug.load_plugins().plugins]
    assert "functions" in names


def test_provides_export_modules_as_functions():
    loaded = onnxplug.load_plugins()
    assert "export_modules_as_functions" in loaded.provided_features()
    entry = next(p for p in loaded.ir_passes if p.name == "export_modules_as_functions")
    assert entry.plugin == "functions"

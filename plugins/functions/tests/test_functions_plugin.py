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


def test_without_the_plugin_the_option_is_refused_before_any_work(tmp_path, monkeypatch):
    import pytest
    import torch

    monkeypatch.setenv("ONNXPLUG_DISABLE", "functions")
    model = torch.nn.Sequential(torch.nn.Linear(3, 3)).eval()
    with pytest.raises(onnxplug.OptionError, match="needs a plugin that provides it.*"
                                                   "onnxplug-functions"):
        onnxplug.export(model, (torch.randn(2, 3),), tmp_path / "m.onnx",
                        export_modules_as_functions=True)
    assert not (tmp_path / "m.onnx").exists()

"""The functions distribution is installed and discovered; until it registers its pass the
option fails clearly, before anything is written."""

from __future__ import annotations

import pytest
import torch

import onnxplug


def test_discovered_through_its_entry_point():
    names = [p.name for p in onnxplug.load_plugins().plugins]
    assert "functions" in names


def test_option_refused_until_a_pass_provides_it(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(3, 3)).eval()
    assert "export_modules_as_functions" not in onnxplug.load_plugins().provided_features()
    with pytest.raises(onnxplug.OptionError, match="not available yet"):
        onnxplug.export(model, (torch.randn(2, 3),), tmp_path / "m.onnx", export_modules_as_functions=True)
    assert not (tmp_path / "m.onnx").exists()

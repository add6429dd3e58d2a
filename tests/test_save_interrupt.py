"""Ctrl-C while the weights are being written: the previous files stay as they were.

``KeyboardInterrupt`` is raised from the function that hands each tensor's bytes to the file
(``serialize.tensor_buffer``) once the first tensor has been written, in a single-file save and
in an external-data save, from ``export(f=...)`` and from ``ExportResult.save``. The interrupt
propagates, the old model file and its old external-data file are byte-identical, and no staging
file or folder is left beside them. The same export afterwards succeeds and matches eager.
"""

from __future__ import annotations

import os

import pytest
import torch
from onnxplug.testing import load_checked

import onnxplug
from onnxplug import serialize
from onnxplug.testing import assert_matches
from onnxplug.verify import run_onnxruntime

OLD_MODEL = b"the previous model, not to be touched"
OLD_DATA = b"\x00\x01the previous external data\xff"


def _interrupt_on_second_tensor(monkeypatch) -> list:
    calls: list = []
    real = serialize.tensor_buffer

    def interrupted(tensor):
        calls.append(tensor)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(tensor)

    monkeypatch.setattr(serialize, "tensor_buffer", interrupted)
    return calls


@pytest.mark.parametrize("how", ["export", "result.save"])
@pytest.mark.parametrize("external", [False, True], ids=["single-file", "external-data"])
def test_interrupt_while_writing_keeps_the_old_files(tmp_path, mixed, monkeypatch, external, how):
    target = tmp_path / "m.onnx"
    target.write_bytes(OLD_MODEL)
    (tmp_path / "m.onnx.data").write_bytes(OLD_DATA)
    x = torch.randn(3, 64)
    result = None
    if how == "result.save":
        result = onnxplug.export(mixed, (x,), None, external_data=external)
    calls = _interrupt_on_second_tensor(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        if result is None:
            onnxplug.export(mixed, (x,), target, external_data=external)
        else:
            result.save(target)
    assert len(calls) == 2  # the interrupt came in the middle of the weights
    assert target.read_bytes() == OLD_MODEL
    assert (tmp_path / "m.onnx.data").read_bytes() == OLD_DATA
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "m.onnx.data"]  # no staging leftovers

    monkeypatch.undo()
    onnxplug.export(mixed, (x,), target, external_data=external)
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "m.onnx.data"]
    assert (tmp_path / "m.onnx.data").read_bytes() != OLD_DATA or not external
    assert_matches(mixed, (x,), run_onnxruntime(load_checked(target), [x]))


@pytest.mark.parametrize("external", [False, True], ids=["single-file", "external-data"])
def test_interrupt_with_no_previous_file_leaves_nothing(tmp_path, mixed, monkeypatch, external):
    _interrupt_on_second_tensor(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        onnxplug.export(mixed, (torch.randn(3, 64),), tmp_path / "m.onnx", external_data=external)
    assert os.listdir(tmp_path) == []

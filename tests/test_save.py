"""Saving: paths, file objects, f=None, atomic writes, external data."""

from __future__ import annotations

import io
import os
import pathlib

import onnx
import pytest
import torch
from onnxplug.testing import load_checked

import onnxplug
from onnxplug.testing import assert_matches
from onnxplug.verify import run_onnxruntime


def test_str_and_pathlike(tmp_path, mlp):
    x = torch.randn(2, 4)
    onnxplug.export(mlp, (x,), str(tmp_path / "a.onnx"))
    onnxplug.export(mlp, x, pathlib.Path(tmp_path / "b.onnx"))  # a single tensor means (tensor,)
    for name in ("a.onnx", "b.onnx"):
        assert_matches(mlp, (x,), run_onnxruntime(load_checked(tmp_path / name), [x]))
    assert sorted(os.listdir(tmp_path)) == ["a.onnx", "b.onnx"]  # no temporary files left


def test_binary_file_object(tmp_path, mlp):
    x = torch.randn(2, 4)
    with open(tmp_path / "m.onnx", "wb") as fh:
        onnxplug.export(mlp, (x,), fh)
    assert_matches(mlp, (x,), run_onnxruntime(load_checked(tmp_path / "m.onnx"), [x]))
    buffer = io.BytesIO()
    result = onnxplug.export(mlp, (x,), buffer)
    assert buffer.getvalue() == result.to_bytes()


def test_none_writes_nothing_and_result_can_save_later(tmp_path, mlp):
    x = torch.randn(2, 4)
    result = onnxplug.export(mlp, (x,), None)
    assert os.listdir(tmp_path) == []
    result.save(tmp_path / "later.onnx")
    assert_matches(mlp, (x,), run_onnxruntime(load_checked(tmp_path / "later.onnx"), [x]))
    assert "aten::linear" in " ".join(result.served)
    assert set(result.timings) >= {"capture", "lower", "check"}


def test_failed_export_keeps_existing_file(tmp_path, mlp):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous")

    def broken(g, x):
        raise RuntimeError("boom")

    with pytest.raises(onnxplug.OnnxExporterError, match="boom"):
        onnxplug.export(mlp, (torch.randn(2, 4),), target, custom_symbolics={"aten::relu": broken})
    assert target.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["m.onnx"]


@pytest.mark.parametrize("f, words", [
    (123, "path, a writable binary file object"),
    ("/no/such/folder/m.onnx", "does not exist"),
])
def test_bad_destination(mlp, f, words):
    with pytest.raises(onnxplug.OptionError, match=words):
        onnxplug.export(mlp, (torch.randn(2, 4),), f)


def test_text_mode_file_rejected(tmp_path, mlp):
    with open(tmp_path / "m.onnx", "w") as fh, pytest.raises(onnxplug.OptionError, match="binary"):
        onnxplug.export(mlp, (torch.randn(2, 4),), fh)


def test_external_data_when_asked(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Tanh()).eval()
    x = torch.randn(2, 64)
    onnxplug.export(model, (x,), tmp_path / "m.onnx", external_data=True)
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "m.onnx.data"]
    onnx.checker.check_model(str(tmp_path / "m.onnx"), full_check=True)
    proto = onnx.load(str(tmp_path / "m.onnx"), load_external_data=False)
    weight = next(t for t in proto.graph.initializer if t.name == "0.weight")
    assert weight.data_location == onnx.TensorProto.EXTERNAL  # small tensors may stay inline
    assert_matches(model, (x,), run_onnxruntime(str(tmp_path / "m.onnx"), [x]))


def test_external_data_needs_a_path(mlp):
    with pytest.raises(onnxplug.OnnxExporterError, match="pass f as a path"):
        onnxplug.export(mlp, (torch.randn(2, 4),), io.BytesIO(), external_data=True)


def test_automatic_external_data_past_the_limit(tmp_path, mlp, monkeypatch):
    """The 2 GB rule, with the limit lowered so the test stays small."""
    from onnxplug import serialize

    monkeypatch.setattr(serialize, "PROTOBUF_LIMIT", 100)
    monkeypatch.setattr(serialize, "EXTERNAL_MARGIN", 0)
    x = torch.randn(2, 4)
    onnxplug.export(mlp, (x,), tmp_path / "m.onnx")
    assert (tmp_path / "m.onnx.data").exists()
    assert_matches(mlp, (x,), run_onnxruntime(str(tmp_path / "m.onnx"), [x]))


@pytest.mark.parametrize("f", ["path", None])
def test_verify_with_external_data(tmp_path, f):
    """verify=True runs the staged files in onnxruntime before they are moved into place."""
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Tanh()).eval()
    x = torch.randn(2, 64)
    dest = tmp_path / "m.onnx" if f == "path" else None
    result = onnxplug.export(model, (x,), dest, external_data=True, verify=True)
    assert "verify" in result.timings
    if dest is None:
        assert os.listdir(tmp_path) == []
        result.save(tmp_path / "later.onnx")
        dest = tmp_path / "later.onnx"
    assert sorted(os.listdir(tmp_path)) == sorted([dest.name, dest.name + ".data"])
    load_checked(dest)
    assert_matches(model, (x,), run_onnxruntime(str(dest), [x]))


def test_failed_verification_with_external_data_leaves_nothing(tmp_path):
    wrong = {"aten::tanh": lambda g, x: g.op("Sigmoid", x)}
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Tanh()).eval()
    with pytest.raises(onnxplug.VerificationError, match="differs"):
        onnxplug.export(model, (torch.randn(2, 64),), tmp_path / "m.onnx", external_data=True,
                        verify=True, custom_symbolics=wrong)
    assert os.listdir(tmp_path) == []

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


# --------------------------------------------------------------------------- streamed saving

def _initializers(proto):
    return {t.name: (t.data_type, list(t.dims), onnx.numpy_helper.to_array(t).tobytes())
            for t in proto.graph.initializer}


def test_streamed_file_is_the_same_model(tmp_path, mixed):
    """The streamed file loads with onnx.load, passes the checker, runs, matches eager, and
    holds the same graph and initializer bytes as the ModelProto built in memory."""
    x = torch.randn(3, 64)
    result = onnxplug.export(mixed, (x,), tmp_path / "m.onnx")
    assert result._proto is None  # nothing built the full proto
    loaded = load_checked(tmp_path / "m.onnx")
    assert_matches(mixed, (x,), run_onnxruntime(loaded, [x]))
    built = result.model
    assert _initializers(loaded) == _initializers(built)
    assert len(_initializers(built)) >= 4
    assert list(loaded.graph.node) == list(built.graph.node)
    assert loaded.graph.input == built.graph.input and loaded.graph.output == built.graph.output
    assert loaded.opset_import == built.opset_import and loaded.ir_version == built.ir_version
    assert onnx.load_from_string(result.to_bytes()) == loaded


def test_result_model_is_built_once_on_demand(mixed):
    result = onnxplug.export(mixed, (torch.randn(3, 64),), None)
    assert result._proto is None
    assert result.model is result.proto is result.model  # cached after the first build
    onnx.checker.check_model(result.model, full_check=True)


def test_file_object_with_verify(tmp_path, mixed):
    """verify=True with a file object runs a staged copy, then copies it into the object."""
    x = torch.randn(3, 64)
    buffer = io.BytesIO()
    result = onnxplug.export(mixed, (x,), buffer, verify=True)
    assert {"verify", "save"} <= set(result.timings)
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    assert_matches(mixed, (x,), run_onnxruntime(proto, [x]))
    assert buffer.getvalue() == result.to_bytes()


def test_verify_without_destination_leaves_no_temporary_file(tmp_path, mixed, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = onnxplug.export(mixed, (torch.randn(3, 64),), None, verify=True)
    assert "verify" in result.timings
    assert os.listdir(tmp_path) == []


def test_saved_file_has_the_usual_permissions(tmp_path, mlp):
    umask = os.umask(0o022)
    try:
        onnxplug.export(mlp, (torch.randn(2, 4),), tmp_path / "m.onnx")
        onnxplug.export(mlp, (torch.randn(2, 4),), tmp_path / "e.onnx", external_data=True)
    finally:
        os.umask(umask)
    for name in ("m.onnx", "e.onnx", "e.onnx.data"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name


@pytest.mark.parametrize("external", [False, True])
def test_failure_while_writing_keeps_existing_files(tmp_path, mixed, monkeypatch, external):
    """A write that fails half-way (disk full, say) leaves the previous files untouched."""
    from onnxplug import serialize

    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous")
    (tmp_path / "m.onnx.data").write_bytes(b"previous data")
    calls = []
    real = serialize.tensor_buffer

    def failing(tensor):
        calls.append(tensor)
        if len(calls) == 2:
            raise OSError("No space left on device")
        return real(tensor)

    monkeypatch.setattr(serialize, "tensor_buffer", failing)
    with pytest.raises(OSError, match="No space"):
        onnxplug.export(mixed, (torch.randn(3, 64),), target, external_data=external)
    assert target.read_bytes() == b"previous"
    assert (tmp_path / "m.onnx.data").read_bytes() == b"previous data"
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "m.onnx.data"]


def test_result_save_streams_to_file_objects_and_external_data(tmp_path, mixed):
    x = torch.randn(3, 64)
    result = onnxplug.export(mixed, (x,), None)
    with open(tmp_path / "obj.onnx", "wb") as fh:
        result.save(fh)
    result.save(str(tmp_path / "path.onnx"))
    for name in ("obj.onnx", "path.onnx"):
        assert_matches(mixed, (x,), run_onnxruntime(load_checked(tmp_path / name), [x]))
    assert result._proto is None
    ext = onnxplug.export(mixed, (x,), tmp_path / "ext.onnx", external_data=True)
    assert ext.model is None  # its weights live in the file
    skeleton = onnx.load(str(tmp_path / "ext.onnx"), load_external_data=False)
    external = {t.name for t in skeleton.graph.initializer
                if t.data_location == onnx.TensorProto.EXTERNAL}
    big = {n: v.const_value.nbytes for n, v in ext.ir_model.graph.initializers.items()
           if v.const_value.nbytes >= 1024}
    assert external == set(big) and "fc.weight" in big  # 1 KiB and more; small ones inline
    assert_matches(mixed, (x,), run_onnxruntime(load_checked(tmp_path / "ext.onnx"), [x]))
    assert os.path.getsize(tmp_path / "ext.onnx.data") == sum(big.values())


@pytest.mark.parametrize("fallocate_works", [True, False])
def test_preallocated_files_end_where_the_model_does(tmp_path, mixed, monkeypatch, fallocate_works):
    """Saving to a path reserves the file's blocks first (fallocate); the files are exactly the
    model, whether the reservation was granted, or refused as on a file system without it."""
    from onnxplug import serialize

    reserved = []
    real = serialize._fallocate

    def recording(fd, mode, offset, size):
        reserved.append(size)
        return real(fd, mode, offset, size + 4096) if fallocate_works and real else -1  # too much: truncated after

    monkeypatch.setattr(serialize, "_fallocate", recording)
    x = torch.randn(3, 64)
    result = onnxplug.export(mixed, (x,), tmp_path / "m.onnx")
    assert (tmp_path / "m.onnx").stat().st_size == len(result.to_bytes()) == reserved[0]
    ext = onnxplug.export(mixed, (x,), tmp_path / "e.onnx", external_data=True)
    data = (tmp_path / "e.onnx.data").stat().st_size
    assert data == reserved[1] == sum(v.const_value.nbytes for v in ext.ir_model.graph.initializers.values()
                                      if v.const_value.nbytes >= 1024)
    for name in ("m.onnx", "e.onnx"):
        assert_matches(mixed, (x,), run_onnxruntime(load_checked(tmp_path / name), [x]))
    buffer = io.BytesIO()
    onnxplug.export(mixed, (x,), buffer)  # not a file of ours: nothing reserved
    assert len(reserved) == 2

"""Safety: `onnxplug check` on broken or hostile files, no unpickling, no network.

A malformed or hostile file gives one clear ``onnxplug: error:`` line and exit status 1, never
a traceback; external data is never read from outside the model's folder. The command line
never unpickles anything (it has no option that loads a pickle; if one is added it must use
``torch.load(..., weights_only=True)``), and neither an export nor a check opens a socket.
"""

from __future__ import annotations

import ast
import os
import pickle
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import onnxplug
from onnxplug import cli
from onnxplug.testing import assert_matches, load_checked
from onnxplug.verify import run_onnxruntime

CORE = Path(onnxplug.__file__).parent


def _graph(initializers=(), nodes=None):
    nodes = nodes or [helper.make_node("Add", ["x", "w"], ["y"])]
    return helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], list(initializers))


def _model(graph) -> onnx.ModelProto:
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _external(name: str, location: str) -> onnx.TensorProto:
    t = numpy_helper.from_array(np.ones(4, np.float32), name)
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    return t


@pytest.fixture
def folder(tmp_path):
    """``tmp_path/model/``, beside a ``secret.bin`` that no model may read."""
    (tmp_path / "secret.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    (tmp_path / "model").mkdir()
    return tmp_path / "model"


def _write(folder: Path, name: str, data: bytes | onnx.ModelProto) -> Path:
    path = folder / name
    path.write_bytes(data.SerializeToString() if isinstance(data, onnx.ModelProto) else data)
    return path


def _good_bytes() -> bytes:
    w = numpy_helper.from_array(np.ones(4, np.float32), "w")
    return _model(_graph([w])).SerializeToString()


def _with_constant(location: str) -> onnx.ModelProto:
    node = helper.make_node("Constant", [], ["w"], value=_external("c", location))
    return _model(_graph(nodes=[node, helper.make_node("Add", ["x", "w"], ["y"])]))


def _in_subgraph(location: str) -> onnx.ModelProto:
    branch = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])], "branch", [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [_external("w", location)])
    node = helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=branch)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4]),
                      helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
    return _model(graph)


def _symlinked(folder: Path) -> Path:
    (folder / "link.bin").symlink_to(folder.parent / "secret.bin")
    return _write(folder, "m.onnx", _model(_graph([_external("w", "link.bin")])))


def _bad_size(folder: Path) -> Path:
    """Claims 2**40 elements but holds 16 bytes."""
    w = numpy_helper.from_array(np.ones(4, np.float32), "w")
    w.dims[:] = [2**40]
    return _write(folder, "m.onnx", _model(_graph([w])))


HOSTILE = {
    # name: (make the file in the folder, what the error must say)
    "truncated": (lambda d: _write(d, "m.onnx", _good_bytes()[:40]), "is not an ONNX model"),
    "not-protobuf": (lambda d: _write(d, "m.onnx", bytes(range(256)) * 16),
                     "does not parse as a ModelProto"),
    "text": (lambda d: _write(d, "m.onnx", b"this is not a model\n"), "is not an ONNX model"),
    "empty": (lambda d: _write(d, "m.onnx", b""), "no ir_version or no graph"),
    "no-graph": (lambda d: _write(d, "m.onnx", onnx.ModelProto(ir_version=8)),
                 "no ir_version or no graph"),
    "external-dotdot": (lambda d: _write(d, "m.onnx", _model(_graph([_external("w", "../secret.bin")]))),
                        "'../secret.bin', outside the model's folder"),
    "external-absolute": (lambda d: _write(d, "m.onnx", _model(_graph([_external(
        "w", str(d.parent / "secret.bin"))]))), "outside the model's folder"),
    "external-symlink-out": (_symlinked, "'link.bin', outside the model's folder"),
    "external-in-constant": (lambda d: _write(d, "m.onnx", _with_constant("../secret.bin")),
                             "tensor 'c' keeps its data in '../secret.bin'"),
    "external-in-subgraph": (lambda d: _write(d, "m.onnx", _in_subgraph("../../secret.bin")),
                             "outside the model's folder"),
    "external-missing": (lambda d: _write(d, "m.onnx", _model(_graph([_external("w", "gone.bin")]))),
                         "checker rejects the model.*gone.bin"),
    "size-mismatch": (_bad_size, "checker rejects the model|onnxruntime cannot load"),
    "unknown-op": (lambda d: _write(d, "m.onnx", _model(_graph(nodes=[
        helper.make_node("NoSuchOp", ["x"], ["y"])]))), "checker rejects the model.*NoSuchOp"),
    "directory": (lambda d: d, "no such file"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_check_refuses_a_hostile_file_with_one_clear_error(name, folder, capsys):
    make, words = HOSTILE[name]
    path = make(folder)
    secret = (folder.parent / "secret.bin").read_bytes()
    assert cli.main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("onnxplug: error: ") and "Traceback" not in err
    assert re.search(words, err), err
    assert (folder.parent / "secret.bin").read_bytes() == secret


def test_check_accepts_external_data_inside_the_folder(folder, capsys):
    (folder / "w.bin").write_bytes(np.full(4, 2.0, np.float32).tobytes())
    path = _write(folder, "m.onnx", _model(_graph([_external("w", "w.bin")])))
    assert cli.main(["check", str(path)]) == 0
    assert "onnxruntime" in capsys.readouterr().out
    x = np.arange(4, dtype=np.float32)
    (y,) = run_onnxruntime(str(path), [x])
    np.testing.assert_array_equal(y, x + 2)


def test_a_hostile_file_does_not_crash_the_process(folder):
    """The real command line in its own process: exit status 1, one line, no traceback."""
    path = _write(folder, "m.onnx", _model(_graph([_external("w", "../secret.bin")])))
    proc = subprocess.run([sys.executable, "-m", "onnxplug.cli", "check", str(path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "refusing to read it" in proc.stderr


# -- no unpickling, no network ---------------------------------------------------------------

def _calls(tree: ast.AST, dotted: str):
    mod, _, name = dotted.rpartition(".")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == name and isinstance(node.func.value, ast.Name)
                and node.func.value.id == mod):
            yield node


@pytest.mark.parametrize("source", sorted(p.name for p in CORE.glob("*.py")))
def test_the_core_never_unpickles_unsafely(source):
    """No pickle imports; every torch.load passes weights_only=True (the CLI has none today)."""
    tree = ast.parse((CORE / source).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                for a in n.names} | {n.module for n in ast.walk(tree)
                                     if isinstance(n, ast.ImportFrom) and n.module}
    assert not imported & {"pickle", "cPickle", "dill", "cloudpickle", "joblib"}, source
    for call in _calls(tree, "torch.load"):
        kw = {k.arg: k.value for k in call.keywords}
        assert isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True, (
            f"{source}:{call.lineno}: torch.load without weights_only=True")


@pytest.fixture
def no_unpickling_no_network(monkeypatch):
    """Any unpickling or socket use during the test raises."""
    def refuse(what):
        def fail(*a, **k):
            raise AssertionError(f"{what} was called")
        return fail

    monkeypatch.setattr(pickle, "load", refuse("pickle.load"))
    monkeypatch.setattr(pickle, "loads", refuse("pickle.loads"))
    monkeypatch.setattr(torch, "load", refuse("torch.load"))
    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("socket.getaddrinfo"))


def test_cli_export_and_check_neither_unpickle_nor_touch_the_network(
        tmp_path, capsys, no_unpickling_no_network):
    out = tmp_path / "example.onnx"
    assert cli.main(["export", "onnxplug.example:build", "-o", str(out), "--verify"]) == 0
    assert cli.main(["check", str(out)]) == 0
    assert "onnx.checker ok" in capsys.readouterr().out
    from onnxplug.example import build

    model, inputs = build()
    inputs = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
    assert_matches(model, inputs, run_onnxruntime(load_checked(out), list(inputs)))


def test_an_export_does_not_touch_the_network(tmp_path, no_unpickling_no_network):
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh()).eval()
    x = torch.randn(2, 3)
    onnxplug.export(model, (x,), tmp_path / "m.onnx", verify=True)
    assert_matches(model, (x,), run_onnxruntime(load_checked(tmp_path / "m.onnx"), [x]))
    assert os.path.getsize(tmp_path / "m.onnx") > 0

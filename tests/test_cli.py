"""The ``onnxplug`` command line, run as a user runs it (a subprocess of the installed script)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from onnxplug.opsets import NEWEST_OPSET

NEWEST = NEWEST_OPSET
SCRIPT = Path(sys.executable).parent / "onnxplug"
CLI = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "onnxplug.cli"]

FACTORY = """
import torch

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return torch.relu(self.fc(x)).softmax(dim=-1)

def build():
    torch.manual_seed(0)
    return Net().eval(), (torch.randn(2, 4),)
"""


def cli(*args: str, cwd=None, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=300)
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def run_and_compare(path: Path, model, x: torch.Tensor) -> None:
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x).numpy(), rtol=1e-4, atol=1e-5)


def test_export_bundled_example_with_verify(tmp_path):
    out = tmp_path / "example.onnx"
    proc = cli("export", "onnxplug.example:build", "-o", str(out), "--verify")
    assert "verified: onnxruntime matches eager PyTorch" in proc.stdout
    for stage in ("capture", "lower", "check", "verify", "save"):
        assert f"onnxplug: {stage}: " in proc.stderr  # stages with timings, as they finish
    from onnxplug.example import build

    model, (ids,) = build()
    run_and_compare(out, model, ids)


def test_export_file_factory_with_dynamic_axis_and_opset(tmp_path):
    (tmp_path / "net.py").write_text(FACTORY)
    out = tmp_path / "net.onnx"
    proc = cli("export", "net.py:build", "-o", str(out), "--opset", "13", "--dynamic",
               "x:0:batch", cwd=tmp_path)
    assert "opset 13" in proc.stdout
    model = onnx.load(str(out))
    assert model.graph.input[0].name == "x"  # named after forward()'s parameter
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    sys.path.insert(0, str(tmp_path))
    try:
        import net
    finally:
        sys.path.remove(str(tmp_path))
    model_, _ = net.build()
    run_and_compare(out, model_, torch.randn(5, 4))  # another batch size


@pytest.mark.parametrize("args, message", [
    (["export", "no_such_module:build", "-o", "x.onnx"], "cannot import 'no_such_module'"),
    (["export", "onnxplug.example", "-o", "x.onnx"], "is not MODULE:FACTORY"),
    (["export", "onnxplug.example:build", "-o", "x.onnx", "--dynamic", "ids:zero:b"],
     "use NAME:AXIS:DIM"),
    (["export", "onnxplug.example:build", "-o", "x.onnx", "--opset", "3"], "opset_version must"),
])
def test_export_errors_say_what_to_do(tmp_path, args, message):
    proc = cli(*args, cwd=tmp_path, ok=False)
    assert proc.returncode == 1
    assert "onnxplug: error: " in proc.stderr and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "x.onnx").exists()


EXPORT_FLAGS_FACTORY = """
import torch


class Scale(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 3

    @staticmethod
    def symbolic(g, x):  # a Sum node: only this symbolic emits one
        return g.op("Sum", x, x, x)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)

    def forward(self, x):
        return Scale.apply(torch.relu(self.bn(self.conv(x))))


def build():
    torch.manual_seed(0)
    net = Net().eval()
    net.bn.running_mean.uniform_(-1, 1)
    net.bn.running_var.uniform_(0.5, 2)
    return net, (torch.randn(4, 3, 6, 6),)
"""


def flags_model(tmp_path):
    """The model and inputs ``flags.py:build`` returns, built here as the CLI builds them."""
    (tmp_path / "flags.py").write_text(EXPORT_FLAGS_FACTORY)
    sys.path.insert(0, str(tmp_path))
    try:
        import importlib

        import flags

        importlib.reload(flags)
    finally:
        sys.path.remove(str(tmp_path))
    return flags.build()


def ort_run(path: Path, feeds: list) -> list:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {i.name: f for i, f in zip(sess.get_inputs(), feeds)})


def test_export_training_flag_gives_batch_statistics_and_state_outputs(tmp_path):
    model, (x,) = flags_model(tmp_path)
    out = tmp_path / "train.onnx"
    proc = cli("export", "flags.py:build", "-o", str(out), "--training", "TRAINING", "--verify",
               cwd=tmp_path)
    assert "state outputs (updated buffers, after the model's own): bn.running_mean.updated, " \
           "bn.running_var.updated" in proc.stdout and "verified" in proc.stdout
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
    node = next(n for n in onnx.load(str(out)).graph.node if n.op_type == "BatchNormalization")
    assert {a.name: a.i for a in node.attribute}["training_mode"] == 1
    y, new_mean, _ = ort_run(out, [x.numpy()])
    with torch.no_grad():
        np.testing.assert_allclose(y, model.train()(x).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new_mean, model.bn.running_mean.numpy(), rtol=1e-5, atol=1e-6)
    assert "Sum" not in {n.op_type for n in onnx.load(str(out)).graph.node}  # inlined by default


def test_export_no_autograd_inlining_and_no_export_params(tmp_path):
    model, (x,) = flags_model(tmp_path)
    out = tmp_path / "kept.onnx"
    cli("export", "flags.py:build", "-o", str(out), "--no-autograd-inlining",
        "--no-export-params", "--verify", cwd=tmp_path)
    m = onnx.load(str(out))
    onnx.checker.check_model(m, full_check=True)
    assert not m.graph.initializer or all(i.name not in model.state_dict() for i in m.graph.initializer)
    names = [i.name for i in m.graph.input]
    assert names[1:] == list(model.state_dict())  # the weights are inputs, in state-dict order
    assert [n.op_type for n in m.graph.node].count("Sum") == 1  # the Function's symbolic
    feeds = [x.numpy()] + [t.numpy() for t in model.state_dict().values()]
    (y,) = ort_run(out, feeds)
    with torch.no_grad():
        np.testing.assert_allclose(y, model(x).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("export_type", ["ONNX_ATEN_FALLBACK", "ONNX_FALLTHROUGH", "ONNX_ATEN"])
def test_export_operator_export_type_flag(tmp_path, export_type):
    (tmp_path / "net.py").write_text(FACTORY)
    out = tmp_path / "net.onnx"
    cli("export", "net.py:build", "-o", str(out), "--operator-export-type", export_type,
        "--keep-initializers-as-inputs", "no", cwd=tmp_path)
    m = onnx.load(str(out))
    onnx.checker.check_model(m, full_check=True)
    assert len(m.graph.input) == 1  # --keep-initializers-as-inputs no (these types default to yes)
    sys.path.insert(0, str(tmp_path))
    try:
        import importlib

        import net

        importlib.reload(net)
    finally:
        sys.path.remove(str(tmp_path))
    model, (x,) = net.build()
    if export_type == "ONNX_ATEN":  # every op an ATen node; onnxruntime has no ATen kernel
        ops = {(n.domain, n.op_type) for n in m.graph.node if n.op_type != "Constant"}
        assert ops == {("org.pytorch.aten", "ATen")}
        operators = {onnx.helper.get_attribute_value(a).decode() for n in m.graph.node
                     for a in n.attribute if a.name == "operator"}
        assert {"relu", "_softmax"} <= operators or {"relu", "softmax"} <= operators, operators
        return
    # everything converts: standard ONNX, run and compared
    assert {n.domain for n in m.graph.node} <= {""}
    run_and_compare(out, model, x)


def test_export_flag_choices_are_checked(tmp_path):
    proc = cli("export", "onnxplug.example:build", "-o", "x.onnx", "--training", "train",
               cwd=tmp_path, ok=False)
    assert proc.returncode == 2 and "invalid choice: 'train'" in proc.stderr
    assert "EVAL" in proc.stderr and not (tmp_path / "x.onnx").exists()


def test_plugins_listing():
    text = cli("plugins").stdout
    assert "opset  (onnxplug-opset " in text and "onnxplug.builtin  (onnxplug " in text
    assert "hooks: onnxplug_register_symbolics, onnxplug_register_test_cases" in text
    assert "broken: " in text and "conflicts: " in text
    report = json.loads(cli("plugins", "--json").stdout)
    opset = next(p for p in report["plugins"] if p["name"] == "opset")
    assert opset["symbolics"] > 50 and opset["test_cases"] >= 30
    contrib = next(p for p in report["plugins"] if p["name"] == "contrib")
    assert contrib["domains"] == {"com.microsoft": 1}


def test_ops_listing():
    report = json.loads(cli("ops", "--opset", "17", "--json").stdout)
    ops = {o["key"]: o for o in report["ops"]}
    assert ops["aten::gelu"]["served"][0]["plugin"] == "opset"
    assert ops["aten::gelu"]["custom_domain"][0]["domain"] == "com.microsoft"
    assert ops["aten::layer_norm"]["served"][0]["function"].endswith("opset17.norm.layer_norm")
    assert report["decomposition_only"] and "aten::gelu" not in report["decomposition_only"]
    text = cli("ops", "--plugin", "opset").stdout
    gelu = next(line for line in text.splitlines() if line.strip().startswith("aten::gelu "))
    assert f"7-19: opset" in gelu and f"20-{NEWEST}: opset" in gelu
    assert "conflicts: " in text


def test_check(tmp_path):
    from onnxplug import export

    good = tmp_path / "good.onnx"
    model = torch.nn.Linear(3, 2).eval()
    export(model, (torch.randn(1, 3),), good, opset_version=17)
    proc = cli("check", str(good))
    assert "onnx.checker ok" in proc.stdout and "onnxruntime" in proc.stdout
    run_and_compare(good, model, torch.randn(1, 3))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    proc = cli("check", str(bad), ok=False)
    assert proc.returncode == 1 and "is not an ONNX model" in proc.stderr


def test_usage_error_exit_code():
    proc = cli("nonsense", ok=False)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
    assert shutil.which("onnxplug") or SCRIPT.exists() or CLI[0] == sys.executable


CLASH_FILES = {
    "pyproject.toml": """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "onnxplug-clash-demo"
version = "0.0.1"

[project.entry-points.onnxplug]
clash = "clash_demo.plugin"
broken = "clash_demo.broken"

[tool.setuptools]
packages = ["clash_demo"]
""",
    "clash_demo/__init__.py": "",
    "clash_demo/plugin.py": """
import onnxplug

@onnxplug.symbolic("aten::relu", opset=7)
def relu(g, x):
    return g.op("Relu", x, dtype=g.dtype(x))

@onnxplug.hookimpl
def onnxplug_register_symbolics(register):
    register(relu)
""",
    "clash_demo/broken.py": "import no_such_dependency_of_the_demo\n",
}


def test_plugins_and_ops_report_broken_plugins_and_conflicts(tmp_path):
    """A real distribution with a plugin that clashes with the opset plugin and one that fails."""
    from onnxplug.testing.venv import LayeredVenv

    for rel, text in CLASH_FILES.items():
        (tmp_path / "pkg" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkg" / rel).write_text(text)
    env = LayeredVenv.create(tmp_path / "venv")
    env.install(tmp_path / "pkg")
    text = env.run("-m", "onnxplug.cli", "plugins").stdout
    assert "broken: 1\n    broken (onnxplug-clash-demo): ModuleNotFoundError: No module named " \
           "'no_such_dependency_of_the_demo'" in text
    assert "conflicts: 1\n    aten::relu at opset 7: clash wins over opset" in text
    ops = json.loads(env.run("-m", "onnxplug.cli", "ops", "--opset", "7", "--json").stdout)
    assert [r["plugin"] for r in {o["key"]: o for o in ops["ops"]}["aten::relu"]["served"]] == \
        ["clash"]
    assert any(c.startswith("aten::relu at opset 7") for c in ops["conflicts"])
    strict = env.run("-m", "onnxplug.cli", "plugins", check=False, env={"ONNXPLUG_STRICT": "1"})
    assert strict.returncode == 1 and "ONNXPLUG_STRICT is set" in strict.stderr


def _enclosing_statement(path: Path, line: int) -> str:
    """The source of the module-level statement of ``path`` that contains ``line``."""
    import ast

    text = path.read_text()
    for node in ast.parse(text).body:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        if first <= line <= node.end_lineno:
            return "\n".join(text.splitlines()[first - 1:node.end_lineno])
    raise AssertionError(f"{path}:{line} is not inside a module-level statement")


@pytest.mark.parametrize("key", ["aten::unsqueeze", "aten::upsample_nearest2d.vec", "aten::sin"])
def test_ops_where_gives_the_function_and_its_file_line_at_every_opset(key):
    """upsample (opsets 7-10) and sin are made by factories: their line is the registration."""
    root = Path(__file__).resolve().parents[1]
    report = json.loads(cli("ops", "--where", key, "--json", cwd=root).stdout)
    rows = {r["opset"]: r for r in report["opsets"]}
    assert sorted(rows) == list(range(7, NEWEST + 1))
    for opset, r in rows.items():
        assert r["plugin"] == "opset", r
        path, _, line = r["location"].rpartition(":")
        path = root / path
        name = r["function"].rsplit(".", 1)[1]
        op_name = r["registered"].split("::", 1)[1].split(".", 1)[0].split(" ", 1)[0]
        # The line is in the statement that defines or registers the function, by its name or
        # its key (for a factory-made conversion: the module-level call, not the factory body).
        statement = _enclosing_statement(path, int(line))
        assert name in statement or op_name in statement, (opset, r, statement)
        assert "helpers" not in path.name, r  # never the body of a shared factory
        assert f"opset{r['registered'].rsplit(' ', 1)[1]}" in path.parts, (opset, r)
    text = cli("ops", "--where", key, cwd=root).stdout
    line11 = next(x for x in text.splitlines() if x.split()[:1] == ["11"])
    assert rows[11]["function"] in line11 and rows[11]["location"] in line11


@pytest.mark.parametrize("args, message", [
    (["ops", "--where", "unsqueeze"], "aten::unsqueeze"),
    (["ops", "--where", "aten::no_such_op"], "no plugin registers 'aten::no_such_op'"),
    (["ops", "--where", "aten::relu", "--opset", "11"], "drop --opset"),
])
def test_ops_where_errors_say_what_to_do(args, message):
    proc = cli(*args, ok=False)
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr

"""The "Done when" of the plugin author's guide: follow docs/plugin-guide.md to the letter.

The files the guide shows (``<!-- file: PATH -->`` before a code block) are written into a new
folder, the commands it shows (``<!-- run -->`` blocks) are run there in a throwaway
environment layered over this one: ``pip install -e .``, ``onnxplug plugins``, ``pytest
--onnxplug-plugin myops``, ``python export_model.py``, ``onnxplug check``. Also checks that the
hook reference page is current.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugin-guide.md"
BLOCK = re.compile(r"<!-- (file: (?P<path>\S+)|run) -->\n```[a-z]*\n(?P<body>.*?)```", re.S)


def guide_steps() -> tuple[dict[str, str], list[str]]:
    files, commands = {}, []
    for m in BLOCK.finditer(GUIDE.read_text()):
        if m.group("path"):
            files[m.group("path")] = m.group("body")
        else:
            commands += [c for c in m.group("body").splitlines() if c.strip()]
    return files, commands


def as_python_args(command: str) -> list[str]:
    """A shell command of the guide as arguments of the environment's ``python``."""
    words = command.split()
    tool, rest = words[0], words[1:]
    if tool == "pip":  # offline here: no index, build with this environment's setuptools
        return ["-m", "pip", *rest[:1], "--no-deps", "--no-build-isolation", "--no-index", "-q",
                *rest[1:]]
    if tool == "onnxplug":
        return ["-m", "onnxplug.cli", *rest]
    if tool == "pytest":
        return ["-m", "pytest", "-p", "no:cacheprovider", *rest]
    if tool == "python":
        return rest
    raise AssertionError(f"the guide runs {tool!r}, which this test does not know how to run")


def test_guide_has_the_steps():
    files, commands = guide_steps()
    assert {"pyproject.toml", "my_onnxplug_ops/__init__.py", "my_onnxplug_ops/symbolics.py",
            "my_onnxplug_ops/cases.py", "my_onnxplug_ops/plugin.py", "export_model.py"} <= set(files)
    assert [c.split()[0] for c in commands] == ["pip", "onnxplug", "pytest", "python", "onnxplug"]


def test_follow_the_guide(tmp_path, onnxplug_layered_venv):
    files, commands = guide_steps()
    folder = tmp_path / "my-onnxplug-ops"
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    outputs = {}
    for command in commands:
        proc = onnxplug_layered_venv.run(*as_python_args(command), cwd=folder)
        outputs[command] = proc.stdout
    listing = outputs["onnxplug plugins"]
    assert "myops  (my-onnxplug-ops 0.1.0)" in listing
    block = listing.split("myops  (my-onnxplug-ops 0.1.0)")[1]
    assert "symbolic functions: 3" in block and "com.myops v1" in block
    assert "declared test cases: 3" in block
    assert "broken: 0" in listing
    tests = outputs["pytest --onnxplug-plugin myops"]
    n_expected = len(range(7, onnx.defs.onnx_opset_version() + 1)) + 6 + 2
    assert f"{n_expected} passed" in tests, tests
    assert "myops: my_onnxplug_ops.symbolics.rms_norm_18" in outputs["python export_model.py"]
    assert "onnx.checker ok" in outputs["onnxplug check rmsnorm.onnx"]
    model = onnx.load(str(folder / "rmsnorm.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert "ReduceMean" in {n.op_type for n in model.graph.node}


def test_hook_reference_is_current():
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "gen_hooks.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(not (Path(sys.executable).parent / "mkdocs").exists(),
                    reason="mkdocs is not installed (pip install -e '.[docs]')")
def test_mkdocs_build_strict(tmp_path):
    # no -q: with -q, mkdocs hides the warnings from --strict and exits 0
    proc = subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--strict",
                           "-d", str(tmp_path / "site")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "plugin-guide" / "index.html").exists()

"""Entry-point discovery for real: third-party distributions pip-installed into a folder.

The plugins under tests/plugins/ are installed with pip into a temporary target directory;
subprocesses with that directory on PYTHONPATH find them through importlib-metadata, exactly
as a user's environment would, with no mocking.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    for name in ("good_plugin", "broken_plugin"):
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--target", str(target), str(HERE / "plugins" / name)],
                       check=True, capture_output=True)
    return target


def run(site, code, **env):
    full_env = {**os.environ, "PYTHONPATH": str(site), **env}
    for key in ("ONNXPLUG_PLUGINS", "ONNXPLUG_DISABLE", "ONNXPLUG_STRICT"):
        if key not in env:
            full_env.pop(key, None)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=full_env, timeout=300)


EXPORT = """
import json, warnings, torch, onnxplug
from onnxplug.verify import run_onnxruntime
import onnxplug_good  # defines the custom op the model uses
class M(torch.nn.Module):
    def forward(self, x):
        return torch.ops.good_test.triple(x).relu()
x = torch.randn(4)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    r = onnxplug.export(M(), (x,))
out = run_onnxruntime(r.model, [x])[0]
print(json.dumps({
    "plugins": [p.name for p in onnxplug.load_plugins().plugins],
    "broken": [b.distribution for b in onnxplug.load_plugins().broken],
    "warnings": [str(w.message) for w in caught],
    "served": r.served,
    "metadata": dict((p.key, p.value) for p in r.model.metadata_props),
    "max_diff": float(abs(torch.from_numpy(out) - (x * 3).relu()).max()),
}))
"""


def test_third_party_plugin_found_and_broken_one_skipped(site):
    proc = run(site, EXPORT)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"good", "opset"} <= set(data["plugins"]) and "broken" not in data["plugins"]
    assert data["broken"] == ["onnxplug-broken-test-plugin"]
    assert any("onnxplug-broken-test-plugin" in w and "broken on purpose" in w for w in data["warnings"])
    assert data["served"]["good_test::triple.default"].startswith("good:")
    assert data["metadata"] == {"good_plugin": "was here"}  # its IR pass ran
    assert data["max_diff"] < 1e-6


def test_strict_mode_turns_a_broken_plugin_into_an_error(site):
    proc = run(site, EXPORT, ONNXPLUG_STRICT="1")
    assert proc.returncode != 0
    assert "PluginError" in proc.stderr and "onnxplug-broken-test-plugin" in proc.stderr


def test_plugins_and_disable_variables(site):
    code = "import onnxplug; print(','.join(p.name for p in onnxplug.load_plugins().plugins))"
    only = run(site, code, ONNXPLUG_PLUGINS="good").stdout.strip()
    assert only == "onnxplug.builtin,good"
    none = run(site, code, ONNXPLUG_PLUGINS="").stdout.strip()
    assert none == "onnxplug.builtin"
    disabled = run(site, code, ONNXPLUG_DISABLE="good,broken").stdout.strip().split(",")
    assert "good" not in disabled and "opset" in disabled


def test_misspelled_hook_is_caught(tmp_path):
    pkg = tmp_path / "typo_plugin"
    (pkg / "onnxplug_typo").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "onnxplug-typo-plugin"
        version = "0.1"
        [project.entry-points.onnxplug]
        typo = "onnxplug_typo"
        [tool.setuptools]
        packages = ["onnxplug_typo"]
    """))
    (pkg / "onnxplug_typo" / "__init__.py").write_text(textwrap.dedent("""
        import onnxplug
        @onnxplug.hookimpl
        def onnxplug_register_symbolic(register):  # missing 's'
            pass
    """))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(pkg)], check=True, capture_output=True)
    proc = run(target, "import onnxplug; print([b.error for b in onnxplug.load_plugins().broken])")
    assert "onnxplug_register_symbolic" in proc.stdout

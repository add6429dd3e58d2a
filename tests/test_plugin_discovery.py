"""Entry-point discovery for real: third-party distributions pip-installed into a folder.

The plugins under tests/plugins/ are installed with pip into a temporary target directory;
subprocesses with that directory on PYTHONPATH find them through importlib-metadata, exactly
as a user's environment would, with no mocking.
"""

from __future__ import annotations

import json

import pytest
from plugin_install import TEST_PLUGINS, install, write_plugin
from plugin_install import run_python as run


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return install(tmp_path_factory.mktemp("site"), TEST_PLUGINS / "good_plugin",
                   TEST_PLUGINS / "broken_plugin")


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
    pkg = write_plugin(tmp_path, "onnxplug-typo-plugin", "onnxplug_typo", """
        import onnxplug
        @onnxplug.hookimpl
        def onnxplug_register_symbolic(register):  # missing 's'
            pass
    """, entry_point="typo")
    target = install(tmp_path / "site", pkg)
    proc = run(target, "import onnxplug; print([b.error for b in onnxplug.load_plugins().broken])")
    assert "onnxplug_register_symbolic" in proc.stdout

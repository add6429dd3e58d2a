"""What loading the plugins and running an export import, in a fresh interpreter.

Every ``onnxplug.export`` loads every installed plugin, so a plugin's import cost is paid by
every export. The transformers integration's backend (``onnxplug_transformers``) imports
``transformers.exporters``, which pulls onnxscript's torchlib and costs seconds: its plugin entry
point lives in a separate package (``onnxplug_transformers_ops``) so that an export never
imports it. Only module presence is asserted here, never a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import importlib_metadata
import pytest

HEAVY = ("transformers.exporters", "onnxscript", "onnxscript.function_libs.torch_lib")

SCRIPT = """
import json, sys
import numpy as np, onnx, onnxruntime as ort, torch
import onnxplug
from onnxplug import plugins

loaded = plugins.load_plugins()
after_load = sorted(m for m in HEAVY if m in sys.modules)

class M(torch.nn.Module):
    def forward(self, x):
        return torch.nn.functional.gelu(x @ x.T).softmax(-1)

x = torch.randn(3, 5)
result = onnxplug.export(M(), (x,))
onnx.checker.check_model(result.model, full_check=True)
session = ort.InferenceSession(result.model.SerializeToString(), providers=["CPUExecutionProvider"])
got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
with torch.no_grad():
    want = M()(x).numpy()
print(json.dumps({
    "after_load": after_load,
    "after_export": sorted(m for m in HEAVY if m in sys.modules),
    "plugins": [p.name for p in loaded.plugins],
    "broken": [b.name for b in loaded.broken],
    "keys": sorted({s.key for s in loaded.symbolics if s.key.startswith("transformers::")}),
    "max_diff": float(np.abs(got - want).max()),
}))
"""


def _run() -> dict:
    code = f"HEAVY = {HEAVY!r}\n" + SCRIPT
    env = {k: v for k, v in os.environ.items()
           if k not in ("ONNXPLUG_PLUGINS", "ONNXPLUG_DISABLE")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _installed(dist: str) -> bool:
    try:
        importlib_metadata.distribution(dist)
    except importlib_metadata.PackageNotFoundError:
        return False
    return True


@pytest.fixture(scope="module")
def fresh():
    return _run()


def test_loading_plugins_imports_no_exporter_api(fresh):
    assert fresh["broken"] == []
    assert fresh["after_load"] == [], (
        f"loading the plugins imported {fresh['after_load']}: a plugin's entry point must not "
        "import transformers' exporter API or onnxscript")


def test_an_export_imports_no_exporter_api(fresh):
    assert fresh["max_diff"] < 1e-5
    assert fresh["after_export"] == []


@pytest.mark.skipif(not _installed("onnxplug-transformers"),
                    reason="onnxplug-transformers is not installed")
def test_the_transformers_plugin_still_loads_its_conversions(fresh):
    assert "transformers" in fresh["plugins"]
    assert fresh["keys"] == ["transformers::grouped_mm_fallback"]

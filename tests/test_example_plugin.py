"""The example third-party plugin (examples/onnxplug-example-plugin), installed for real.

It is ``pip install -e``'d into a throwaway environment layered over this one (the kit's
``onnxplug_layered_venv`` fixture), found through its entry point, its declared cases run
through the kit (``onnxplug test-plugin example``), its own tests run, and a model using its
op is exported with the CLI and checked against eager PyTorch at another batch size.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "onnxplug-example-plugin"


@pytest.fixture(scope="module")
def env(onnxplug_layered_venv):
    onnxplug_layered_venv.install(EXAMPLE)
    return onnxplug_layered_venv


def test_found_through_its_entry_point(env):
    report = json.loads(env.run("-m", "onnxplug.cli", "plugins", "--json").stdout)
    example = next(p for p in report["plugins"] if p["name"] == "example")
    assert example["distribution"] == "onnxplug-example-plugin"
    assert example["symbolics"] == 4 and example["test_cases"] == 4
    assert example["domains"] == {"com.example": 1}
    assert set(example["hooks"]) == {"onnxplug_register_symbolics", "onnxplug_custom_opsets",
                                     "onnxplug_register_test_cases"}
    assert report["broken"] == [] and report["conflicts"] == []
    ops = json.loads(env.run("-m", "onnxplug.cli", "ops", "--plugin", "example", "--json").stdout)
    served = {o["key"]: o for o in ops["ops"]}["example::rms_norm"]["served"]
    assert [(r["from"], r["function"].rsplit(".", 1)[1]) for r in served] == \
        [(7, "rms_norm_7"), (18, "rms_norm_18"), (23, "rms_norm_23")]


def test_declared_cases_through_the_kit(env, tmp_path):
    proc = env.run("-m", "onnxplug.cli", "test-plugin", "example", "-q", cwd=tmp_path)
    newest = onnx.defs.onnx_opset_version()
    # rms_norm 7..newest, float16 and dynamic module 13..newest, custom domain 13..18
    expected = (newest - 6) + 2 * (newest - 12) + 6
    assert f"{expected} passed" in proc.stdout, proc.stdout


def test_its_own_tests(env):
    proc = env.run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=EXAMPLE)
    assert " passed" in proc.stdout and "failed" not in proc.stdout, proc.stdout


CHECK = """
import sys, numpy as np, onnx, onnxruntime as ort, torch
from onnxplug_example.ops import build
model, (x,) = build()
m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True)
sess = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
x = torch.randn(7, 3, 8)  # another batch and sequence length than the example input
got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
np.testing.assert_allclose(got, model(x).detach().numpy(), rtol=1e-4, atol=1e-5)
print("ops:", sorted({n.op_type for n in m.graph.node}))
"""


def test_export_a_model_using_its_op(env, tmp_path):
    out = tmp_path / "rms.onnx"
    proc = env.run("-m", "onnxplug.cli", "export", "onnxplug_example.ops:build", "-o", str(out),
                   "--opset", "18", "--verify", "--dynamic", "input:0:batch",
                   "--dynamic", "input:1:seq")
    assert "verified" in proc.stdout and "onnxplug: capture" in proc.stderr
    (tmp_path / "check.py").write_text(CHECK)
    checked = env.run(str(tmp_path / "check.py"), str(out))
    assert "ReduceMean" in checked.stdout

"""The plugin without torchvision: it loads, registers its conversions, declares no cases, and
an export of an unrelated model works. Runs in every environment (a subprocess hides
torchvision where it is installed)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import sys
    sys.modules["torchvision"] = None  # import torchvision now fails, as where it is missing
    import numpy as np, onnxruntime as ort, torch
    import onnxplug
    from onnxplug.plugins import load_plugins

    loaded = load_plugins()
    assert any(n.startswith("vision ") for n in loaded.names()), loaded.names()
    assert not loaded.broken, loaded.broken
    assert loaded.test_cases("vision") == []
    assert any(s.key == "torchvision::nms" for s in loaded.symbolics)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU()).eval()
    x = torch.randn(4, 3)
    r = onnxplug.export(model, (x,))
    import onnx
    onnx.checker.check_model(r.model)
    sess = ort.InferenceSession(r.model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    np.testing.assert_allclose(got, model(x).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert "torchvision" not in {m.split(".")[0] for m in sys.modules if sys.modules[m]}
    print("ok")
""")


def test_plugin_without_torchvision():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")

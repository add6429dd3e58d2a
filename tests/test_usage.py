"""The "lowest and newest opset" check of the test kit (onnxplug.testing.usage)."""

from __future__ import annotations

import subprocess
import sys

import torch

from onnxplug.plugins import load_plugins
from onnxplug.registry import SymbolicFunction
from onnxplug.testing import NEWEST_OPSET, export_and_compare
from onnxplug.testing.usage import ConversionUsage, bounds


def _f(g, x):
    return x


def _h(g, x):
    return x


def test_a_registration_serves_until_the_next_one_of_its_key():
    entries = [SymbolicFunction("aten::a", 7, _f, "p"), SymbolicFunction("aten::a", 13, _h, "p"),
               SymbolicFunction("aten::b", 7, _f, "p")]
    got = {(fn_id, first): (lo, hi, sorted(keys)) for (fn_id, first), (lo, hi, keys)
           in bounds(entries, newest=28).items()}
    # _f serves aten::a up to 12, aten::b up to 28: the widest range counts.
    assert got[(id(_f), 7)] == (7, 28, ["aten::a", "aten::b"])
    assert got[(id(_h), 13)] == (13, 28, ["aten::a"])
    assert bounds(entries[:2], newest=28)[(id(_f), 7)][:2] == (7, 12)


def _relu_gaps(usage: ConversionUsage) -> list:
    return [g for g in usage.missing("opset") if "aten::relu" in g.keys and g.first == 7]


def test_recording_sees_each_function_at_the_opset_it_ran():
    relu = torch.nn.ReLU()
    x = torch.randn(3, 4)
    usage = ConversionUsage()
    first_gaps = _relu_gaps(usage)
    assert {g.opset for g in first_gaps} >= {7}, first_gaps
    last = max(g.opset for g in first_gaps)
    with usage.recording():
        export_and_compare(relu, (x,), opset=7)
    assert [g.opset for g in _relu_gaps(usage)] == ([last] if last != 7 else [])
    with usage.recording():
        export_and_compare(relu, (x,), opset=last)
    assert _relu_gaps(usage) == []


GELU_TEST = """
import torch
from onnxplug.testing import export_and_compare

def test_gelu_lowest():
    export_and_compare(torch.nn.GELU(), (torch.randn(3, 4),), opset={lo},
                       custom_opsets={{"com.microsoft": 1}})
{more}
"""

NEWEST_TEST = """
def test_gelu_newest():
    export_and_compare(torch.nn.GELU(), (torch.randn(3, 4),), opset={hi},
                       custom_opsets={{"com.microsoft": 1}})
"""


def test_pytest_option_fails_the_session_listing_what_did_not_run(tmp_path):
    """``--onnxplug-usage contrib``: the contrib plugin's Gelu must run at 7 and the newest."""
    (entry,) = [e for e in load_plugins().symbolics
                if e.plugin == "contrib" and e.key == "aten::gelu"]
    lo, hi = entry.opset, NEWEST_OPSET
    # Gaps of contrib's other conversions (if it has more), which these tests do not run.
    others = [g for g in ConversionUsage().missing("contrib") if g.function != entry.qualname]

    def gelu_gaps(stdout: str) -> list[str]:
        return [line for line in stdout.splitlines() if line.strip().startswith(entry.qualname)]

    def run(source: str) -> subprocess.CompletedProcess:
        (tmp_path / "test_gelu.py").write_text(source)
        return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                               "--onnxplug-usage", "contrib", "test_gelu.py"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)

    proc = run(GELU_TEST.format(lo=lo, more=""))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
    assert "onnxplug plugin 'contrib': conversions not exercised" in proc.stdout
    gaps = gelu_gaps(proc.stdout)
    assert len(gaps) == 1, proc.stdout
    assert f"was not exercised at opset {hi} (the newest opset it serves)" in gaps[0]

    proc = run(GELU_TEST.format(lo=lo, more=NEWEST_TEST.format(hi=hi)))
    assert gelu_gaps(proc.stdout) == [], proc.stdout
    if others:
        assert proc.returncode == 1 and f"{len(others)} conversion(s) did not run" in proc.stdout
    else:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "conversions not exercised" not in proc.stdout

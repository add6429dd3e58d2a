"""The plugin test kit: OpCase, run_case, the failure messages, the pytest plugin's pieces."""

from __future__ import annotations

import subprocess
import sys

import onnx
import pytest
import torch

from onnxplug.testing import CaseFailure, Nodes, OpCase, run_case
from onnxplug.testing.pytest_plugin import DeclaredCase, case_params, declared_cases

from onnxplug.opsets import NEWEST_OPSET

NEWEST = NEWEST_OPSET


def test_hand_written_test_with_the_fixtures(export_and_run, assert_matches):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh()).eval()
    x = torch.randn(2, 3)
    result, outputs = export_and_run(model, (x,), opset=13)
    assert result.model.opset_import[0].version == 13
    assert_matches(model, (x,), outputs)


@pytest.mark.parametrize("opset", [7, 13, NEWEST])
def test_run_case_passes_and_checks_structure(opset):
    case = OpCase("gelu", torch.nn.functional.gelu, [(torch.randn(2, 4),), (torch.randn(3),)],
                  op="aten::gelu", expect=[Nodes("Gelu", opsets=(20, None)),
                                           Nodes("Gelu", count=0, opsets=(7, 19))])
    run_case(case, opset)


def test_dynamic_case_runs_every_sample_through_one_model():
    case = OpCase("linear", torch.nn.Linear(4, 2), lambda: ((torch.randn(b, 4),) for b in (2, 5)),
                  input_names=("x",), dynamic_axes={"x": {0: "batch"}})
    run_case(case, 17)


def test_failure_names_op_opset_sample_and_difference():
    wrong = {"aten::relu": lambda g, x: g.op("Sigmoid", x, dtype=g.dtype(x))}
    case = OpCase("relu", torch.relu, [(torch.randn(2, 3),), (torch.randn(4, 5),)],
                  op="aten::relu", export_options={"custom_symbolics": wrong})
    with pytest.raises(CaseFailure) as info:
        run_case(case, 13)
    msg = str(info.value)
    assert msg.startswith("aten::relu (relu) at opset 13, sample 0 (float32[2, 3]): ")
    assert "comparison with eager PyTorch failed" in msg and "max abs difference" in msg
    with pytest.raises(pytest.fail.Exception) as failed:  # as pytest reports it: no traceback
        DeclaredCase("demo", case, 13).run()
    assert "max abs difference" in str(failed.value) and not failed.value.pytrace


def test_structure_failure_says_what_the_graph_has():
    case = OpCase("relu", torch.relu, [(torch.randn(2, 3),)], expect=Nodes("Gelu", domain="x.y"))
    with pytest.raises(CaseFailure, match=r"structure failed.*exactly 1 x\.y::Gelu node\(s\), "
                                          r"found 0; the graph has: Relu x1"):
        run_case(case, 17)


def test_custom_domain_case_is_checked_not_run():
    def custom(g, x):
        return g.op("com.acme::Thing", x, dtype=g.dtype(x))

    case = OpCase("acme", torch.relu, [(torch.randn(2),)], run=False,
                  custom_opsets={"com.acme": 2}, export_options={"custom_symbolics":
                                                                 {"aten::relu": custom}},
                  expect=Nodes("Thing", domain="com.acme"))
    run_case(case, 17)


def test_opcase_fields_and_validation():
    case = OpCase("c", torch.neg, [(torch.randn(2),)], opsets=(13, 99),
                  xfail={14: "a", (16, 17): "b"})
    assert case.opset_range() == list(range(13, NEWEST + 1))  # capped to what onnx defines
    assert [case.xfail_reason(o) for o in (13, 14, 15, 16, 17)] == [None, "a", None, "b", "b"]
    with pytest.raises(TypeError, match="wrap the inputs"):
        OpCase("c", torch.neg, (torch.randn(2),))
    with pytest.raises(ValueError, match="opsets"):
        OpCase("c", torch.neg, [(torch.randn(2),)], opsets=(13, 9))
    with pytest.raises(ValueError, match="no samples"):
        OpCase("c", torch.neg, list).make_samples()
    cast = OpCase("c", torch.add, [(torch.randn(2), torch.tensor([1]))]).make_samples(torch.float16)
    assert [t.dtype for t in cast[0]] == [torch.float16, torch.int64]


def test_declared_cases_of_an_installed_plugin():
    params = declared_cases(["onnxplug-opset"], opsets="13")  # distribution name works too
    ids = [p.id for p in params]
    assert "gelu-opset7" in ids and "gelu-opset13" in ids and f"gelu-opset{NEWEST}" in ids
    assert "gelu-opset12" not in ids
    with pytest.raises(pytest.UsageError, match="no installed onnxplug plugin is named 'nope'"):
        declared_cases(["nope"])


def test_case_params_ids_dtypes_and_reasoned_xfails():
    case = OpCase("neg", torch.neg, [(torch.randn(2),)], opsets=(15, 18),
                  dtypes=(torch.float32, torch.float16), xfail={(17, 18): "known: float16 bug"})
    params = case_params("p", case, keep={16})
    assert [p.id for p in params] == ["neg-opset15-float32", "neg-opset15-float16",
                                      "neg-opset16-float32", "neg-opset16-float16",
                                      "neg-opset18-float32", "neg-opset18-float16"]
    marks = [m for p in params for m in p.marks]
    assert len(marks) == 2 and all(m.kwargs == {"reason": "known: float16 bug", "strict": True}
                                   for m in marks)


SUMMARY_TEST = """
import pytest, torch
from onnxplug.testing import OpCase
from onnxplug.testing.pytest_plugin import case_params

wrong = {"aten::relu": lambda g, x: g.op("Sigmoid", x, dtype=g.dtype(x))}
bad = OpCase("relu", torch.relu, [(torch.randn(2, 3),)], opsets=(12, 14), op="aten::relu",
             export_options={"custom_symbolics": wrong})
good = OpCase("neg", torch.neg, [(torch.randn(2, 3),)], opsets=(13, 13), op="aten::neg")

@pytest.mark.parametrize("onnxplug_case", case_params("demo", bad) + case_params("demo", good))
def test_case(onnxplug_case):
    onnxplug_case.run()
"""


def test_pytest_reports_failures_per_op_and_opset(tmp_path):
    (tmp_path / "test_summary.py").write_text(SUMMARY_TEST)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           "test_summary.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "aten::relu (relu) at opset 12, sample 0 (float32[2, 3]): comparison with eager " \
           "PyTorch failed: VerificationError: output 0 differs: max abs difference" in out
    assert "onnxplug declared cases" in out and "3 failed, 1 passed" in out
    assert "FAILED aten::relu (relu) at opset(s) 12-14" in out
    assert "Traceback" not in out and "run_case(" not in out  # the message, not the kit's code


def test_pytest_option_reports_an_unknown_plugin(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "--onnxplug-plugin", "nope"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode != 0
    assert "no installed onnxplug plugin is named 'nope'" in proc.stdout + proc.stderr


def test_pytest_plugin_is_cheap_to_import():
    code = ("import sys, onnxplug.testing.pytest_plugin as p; "
            "print(all(m not in sys.modules for m in ('onnxplug.testing.cases', 'onnxruntime')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "True", out.stderr

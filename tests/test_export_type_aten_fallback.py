"""SPEC row operator_export_type=ONNX_ATEN_FALLBACK: standard ONNX where possible, ATen otherwise.

An op gets an ``ATen`` node only when neither a conversion nor PyTorch's decomposition handles
it (``aten::linalg_svd`` has neither). onnxruntime cannot run ATen nodes: a model whose every
op converts must equal the ONNX export and run; for a model with a fallback op, the standard
parts before and after the ATen node are cut out of the saved file and run.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnx.utils
import pytest
import torch
from onnx import helper

import onnxplug
from onnxplug import OperatorExportTypes
from onnxplug.testing import export_and_compare
from onnxplug.verify import run_onnxruntime

FALLBACK = OperatorExportTypes.ONNX_ATEN_FALLBACK


class SvdBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)

    def forward(self, x):
        u, s, _ = torch.linalg.svd(self.fc(x))
        return torch.relu(u) * 2 + 1, s


def test_convertible_model_equals_the_onnx_export(mlp):
    x = torch.randn(2, 4)
    fallback = export_and_compare(mlp, (x,), operator_export_type=FALLBACK,
                                  keep_initializers_as_inputs=False)
    plain = onnxplug.export(mlp, (x,))
    assert fallback.model.graph.node == plain.model.graph.node
    assert fallback.model.opset_import == plain.model.opset_import
    assert fallback.warnings == plain.warnings  # no fallback note


def declines(g, *args, **kwargs):
    raise NotImplementedError("this case is not handled")


def test_decomposition_comes_before_the_aten_node():
    """An op whose conversion declines but that PyTorch decomposes stays standard ONNX."""
    r = export_and_compare(lambda x: torch.nn.functional.hardswish(x) * 2, (torch.randn(3, 4),),
                           operator_export_type=FALLBACK,
                           custom_symbolics={"aten::hardswish": declines})
    assert r.decomposed == ["aten::hardswish.default"]
    assert {n.domain for n in r.model.graph.node} == {""}


def test_unconvertible_op_becomes_an_aten_node(tmp_path):
    torch.manual_seed(0)
    model, x = SvdBlock().eval(), torch.randn(4, 4)
    path = tmp_path / "m.onnx"
    onnxplug.export(model, (x,), path, operator_export_type=FALLBACK)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert {o.domain: o.version for o in proto.opset_import} == {"": 17, "org.pytorch.aten": 1}
    aten = [n for n in proto.graph.node if n.domain]
    assert len(aten) == 1 and aten[0].domain == "org.pytorch.aten" and aten[0].op_type == "ATen"
    attrs = {a.name: helper.get_attribute_value(a) for a in aten[0].attribute}
    assert attrs == {"operator": b"linalg_svd", "overload_name": b"", "full_matrices": 1}
    assert {n.op_type for n in proto.graph.node if not n.domain} >= {"Gemm", "Relu"}
    assert [i.name for i in proto.graph.input] == ["x", "fc.weight", "fc.bias"]  # None -> True
    _run_standard_parts(path, aten[0], model, x)


def _run_standard_parts(path, aten, model, x):
    """Cut the graph at the ATen node and run what comes before and after it in onnxruntime."""
    proto = onnx.load(path)
    before = onnx.utils.Extractor(proto).extract_model(["x"], [aten.input[0]])
    with torch.no_grad():
        h = model.fc(x)
        u, s, _ = torch.linalg.svd(h)
    np.testing.assert_allclose(run_onnxruntime(before, [x])[0], h.numpy(), rtol=1e-5, atol=1e-5)
    out = proto.graph.output[0].name
    after = onnx.utils.Extractor(proto).extract_model([aten.output[0]], [out])
    got = run_onnxruntime(after, [u])[0]
    np.testing.assert_allclose(got, (torch.relu(u) * 2 + 1).numpy(), rtol=1e-5, atol=1e-5)


def test_declining_conversion_without_decomposition_falls_back():
    r = onnxplug.export(lambda x: torch.linalg.svd(x)[1] + 1, (torch.randn(3, 3),),
                        operator_export_type=FALLBACK,
                        custom_symbolics={"aten::linalg_svd": declines})
    assert [n.op_type for n in r.model.graph.node if n.domain == "org.pytorch.aten"] == ["ATen"]


def test_custom_ops_are_not_aten_and_still_fail():
    @torch.library.custom_op("fallback_test::scale", mutates_args=())
    def scale(x: torch.Tensor, k: float) -> torch.Tensor:
        return x * k

    scale.register_fake(lambda x, k: torch.empty_like(x))
    with pytest.raises(onnxplug.UnsupportedOperatorError, match="fallback_test::scale"):
        onnxplug.export(lambda x: scale(x, 2.0), (torch.randn(3),), operator_export_type=FALLBACK)


def test_verify_skips_only_when_there_is_a_fallback_node(mlp):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no skip: verified normally
        onnxplug.export(mlp, (torch.randn(2, 4),), operator_export_type=FALLBACK, verify=True)
    with pytest.warns(RuntimeWarning, match="verify=True skipped.*aten::linalg_svd"):
        onnxplug.export(lambda x: torch.linalg.svd(x)[1], (torch.randn(3, 3),),
                        operator_export_type=FALLBACK, verify=True)


class FoldedSvd(torch.nn.Module):
    """svd of a buffer: constant folding computes it, so no ATen node is left."""

    def __init__(self):
        super().__init__()
        self.register_buffer("w", torch.randn(3, 3))

    def forward(self, x):
        return x + torch.linalg.svd(self.w)[1]


def test_a_folded_fallback_op_leaves_a_runnable_model():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        r = export_and_compare(FoldedSvd().eval(), (torch.randn(3),), operator_export_type=FALLBACK,
                               verify=True)
    assert {n.domain for n in r.model.graph.node} == {""}
    assert not any("unconverted" in w for w in r.warnings)

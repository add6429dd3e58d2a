"""SPEC row operator_export_type=ONNX_FALLTHROUGH: unconvertible ops stay unconverted.

ATen ops and ``torch.library`` custom ops alike become a node in a domain named after the op's
namespace (``aten``, ``fallthrough_test``), op type = the op's name, ``overload_name`` an
attribute, and that domain is imported. Convertible ops are exported as with ``ONNX``.
"""

from __future__ import annotations

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

FALLTHROUGH = OperatorExportTypes.ONNX_FALLTHROUGH


@torch.library.custom_op("fallthrough_test::scale", mutates_args=())
def scale(x: torch.Tensor, k: float) -> torch.Tensor:
    return x * k


scale.register_fake(lambda x, k: torch.empty_like(x))


def saved(tmp_path, model, args, **kw):
    path = tmp_path / "m.onnx"
    onnxplug.export(model, args, path, operator_export_type=FALLTHROUGH, **kw)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def custom_nodes(proto):
    return [(n.domain, n.op_type, {a.name: helper.get_attribute_value(a) for a in n.attribute})
            for n in proto.graph.node if n.domain]


def test_custom_op_without_conversion_stays_in_its_namespace(tmp_path):
    x = torch.randn(2, 3)
    proto = saved(tmp_path, lambda x: scale(x.relu(), 2.5) - 1, (x,))
    assert custom_nodes(proto) == [
        ("fallthrough_test", "scale", {"overload_name": b"", "k": pytest.approx(2.5)})]
    assert {o.domain: o.version for o in proto.opset_import} == {"": 17, "fallthrough_test": 1}
    node = next(n for n in proto.graph.node if n.domain)
    # the standard parts run: Relu before the custom node, Sub after it
    cut = onnx.utils.Extractor(proto)
    before = cut.extract_model([proto.graph.input[0].name], [node.input[0]])
    np.testing.assert_allclose(run_onnxruntime(before, [x])[0], x.relu().numpy())
    after = cut.extract_model([node.output[0]], [proto.graph.output[0].name])
    y = scale(x.relu(), 2.5)
    np.testing.assert_allclose(run_onnxruntime(after, [y])[0], (y - 1).numpy(), rtol=1e-6)


def test_unconvertible_aten_op_goes_to_the_aten_domain(tmp_path):
    proto = saved(tmp_path, lambda x: torch.linalg.svd(x * 2)[1], (torch.randn(3, 3),))
    assert custom_nodes(proto) == [("aten", "linalg_svd", {"overload_name": b"", "full_matrices": 1})]
    assert {o.domain: o.version for o in proto.opset_import} == {"": 17, "aten": 1}
    out = proto.graph.output[0].type.tensor_type
    assert out.elem_type == onnx.TensorProto.FLOAT and [d.dim_value for d in out.shape.dim] == [3]


def test_custom_opsets_sets_the_namespace_version(tmp_path):
    proto = saved(tmp_path, lambda x: scale(x, 2.0), (torch.randn(3),),
                  custom_opsets={"fallthrough_test": 4})
    assert {o.domain: o.version for o in proto.opset_import}["fallthrough_test"] == 4


def test_convertible_model_is_the_onnx_export(mlp):
    x = torch.randn(2, 4)
    r = export_and_compare(mlp, (x,), operator_export_type=FALLTHROUGH)
    plain = onnxplug.export(mlp, (x,))
    assert r.model.graph.node == plain.model.graph.node
    assert [i.name for i in r.model.graph.input] == ["x", "fc1.weight", "fc1.bias", "fc2.weight",
                                                     "fc2.bias"]  # None -> initializers as inputs


def test_registered_conversion_of_a_custom_op_wins(tmp_path):
    def mul(g, x, k):
        return g.op("Mul", x, g.constant(k))

    r = export_and_compare(lambda x: scale(x, 3.0), (torch.randn(3),),
                           operator_export_type=FALLTHROUGH,
                           custom_symbolics={"fallthrough_test::scale": mul})
    assert [n.op_type for n in r.model.graph.node if n.op_type != "Constant"] == ["Mul"]


def test_verify_is_skipped_with_a_warning():
    with pytest.warns(RuntimeWarning, match="verify=True skipped.*fallthrough_test::scale"):
        onnxplug.export(lambda x: scale(x, 2.0), (torch.randn(3),),
                        operator_export_type=FALLTHROUGH, verify=True)

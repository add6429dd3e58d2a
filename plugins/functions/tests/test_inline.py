"""inline_functions: the inverse of export_modules_as_functions, a flat model again."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import onnx_ir as ir
import pytest
import torch
from function_models import Scales, encoder

import onnxplug
import onnxplug_functions
from onnxplug.testing import assert_matches
from onnxplug.verify import run_onnxruntime

x8 = torch.randn(2, 5, 8)


def _ops(model: onnx.ModelProto) -> Counter:
    """Op counts, with ``Sum`` counted as ``Add``: the flat export writes a residual sum before a
    layer norm as ``Sum`` (the core's ``residual_sums`` pass), which leaves module functions alone."""
    return Counter("Add" if n.op_type == "Sum" else n.op_type
                   for n in model.graph.node if n.op_type != "Constant")


def _flat_and_functions(model, args, **kw):
    fn = onnxplug.export(model, args, export_modules_as_functions=True, **kw).model
    flat = onnxplug.export(model, args, **kw).model
    return fn, flat


@pytest.mark.parametrize("inline", [onnxplug.inline_functions, onnxplug_functions.inline_functions])
def test_restores_the_flat_model(inline):
    model = encoder(3)
    fn, flat = _flat_and_functions(model, (x8,))
    restored = inline(fn)
    assert fn.functions, "the argument is left as it was"
    onnx.checker.check_model(restored, full_check=True)
    assert not restored.functions
    assert {o.domain for o in restored.opset_import} == {""}
    assert _ops(restored) == _ops(flat)
    out = run_onnxruntime(restored, [x8])
    assert_matches(model, (x8,), out, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(out[0], run_onnxruntime(flat, [x8])[0], rtol=1e-3, atol=1e-4)


def test_attribute_references_take_each_calls_value():
    model = Scales().eval()
    x = torch.randn(2, 3)
    fn, flat = _flat_and_functions(model, (x,))
    restored = onnxplug.inline_functions(fn)
    onnx.checker.check_model(restored, full_check=True)
    assert not any(a.ref_attr_name for n in restored.graph.node for a in n.attribute)
    assert_matches(model, (x,), run_onnxruntime(restored, [x]), rtol=1e-3, atol=1e-5)


def test_ir_model_in_place_and_path(tmp_path):
    model = encoder(2)
    result = onnxplug.export(model, (x8,), tmp_path / "m.onnx", export_modules_as_functions=True)
    ir_model = result.ir_model
    assert onnxplug.inline_functions(ir_model) is ir_model and not ir_model.functions
    restored = onnxplug.inline_functions(tmp_path / "m.onnx")
    onnx.checker.check_model(restored, full_check=True)
    assert not restored.functions
    assert_matches(model, (x8,), run_onnxruntime(restored, [x8]), rtol=1e-3, atol=1e-5)
    proto = ir.serde.serialize_model(ir_model)
    onnx.checker.check_model(proto, full_check=True)
    assert_matches(model, (x8,), run_onnxruntime(proto, [x8]), rtol=1e-3, atol=1e-5)


def test_bad_argument():
    with pytest.raises(TypeError, match="expects an onnx.ModelProto"):
        onnxplug.inline_functions(42)

"""Complex inputs choose their conversion in the registry: only ``complex=True`` ones take them.

A node with a complex input (a complex tensor in its FX metadata, or a Python complex number)
is converted by a registration declared ``complex=True`` (``opset7/complex_ops.py``,
``opset9/complex_ops.py``, the spectral ops); a node without one by the real conversion. An op
with no complex-aware conversion is refused with ``UnsupportedOperatorError`` naming the op and
the user's line, before anything is written, instead of a graph that computes something else.

Complex graph inputs and outputs are their ``torch.view_as_real`` pair tensors; every model is
checked, run in onnxruntime and compared with eager PyTorch.
"""

from __future__ import annotations

import onnx
import pytest
import torch

import onnxplug
from onnxplug.capture import FunctionModule as Fn
from onnxplug.registry import Registry, SymbolicFunction
from onnxplug.testing import NEWEST_OPSET as NEWEST
from onnxplug.verify import compare, run_onnxruntime


def _pairs(outputs):
    return [torch.view_as_real(o.resolve_conj()) if o.is_complex() else o for o in outputs]


def _export_pairs(model, args, opset, **kwargs):
    """Export (checked), run with complex inputs fed as pairs, compare with eager (as pairs)."""
    result = onnxplug.export(model, args, None, opset_version=opset, **kwargs)
    onnx.checker.check_model(result.model, full_check=True)
    outputs = run_onnxruntime(result.model, _pairs(args))
    with torch.no_grad():
        expected = model(*args)
    compare(_pairs(expected if isinstance(expected, tuple) else (expected,)), outputs,
            rtol=1e-4, atol=1e-5)
    return result


def _complex(*shape):
    return torch.randn(*shape, dtype=torch.complex64)


class Arithmetic(torch.nn.Module):
    """Element-wise complex arithmetic and casts, with complex, real and Python operands."""

    def forward(self, z, w, r):
        return (*ComplexOnly()(z, w), z + r, r - z, z * r, r / z, r * (1 + 2j),
                r.to(torch.complex64), torch.cat([z, r], dim=1), torch.cat([r, z], dim=-1))


class ComplexOnly(torch.nn.Module):
    """Arithmetic, casts and layout ops with complex operands only, negative dims counted
    without the pairs' trailing 2 (a real tensor operand needs opset 11)."""

    def forward(self, z, w, *_):
        return (z + w, torch.sub(z, w, alpha=2), z * w, z / w, -z, z.abs(), z * 1j, z / 2.0,
                z + (0.5 - 1j), z.to(torch.complex128), z.clone(), z.contiguous(),
                z.permute(2, 0, 1), z.transpose(-1, -2), z.reshape(6, 4), z.view(2, -1),
                torch.narrow(z, -1, 1, 2), z.select(-1, 0), z[:, -1], z.unsqueeze(-1),
                torch.cat([z, w], dim=-1), z.permute(0, -1, 1))


@pytest.mark.parametrize("opset, model", [(7, ComplexOnly()), (NEWEST, ComplexOnly()),
                                          (11, Arithmetic()), (17, Arithmetic()),
                                          (NEWEST, Arithmetic())],
                         ids=["complex-only-7", "complex-only-newest", "mixed-11", "mixed-17",
                              "mixed-newest"])
def test_complex_inputs_use_complex_conversions(model, opset):
    args = (_complex(2, 3, 4), _complex(2, 3, 4) + 0.5, torch.randn(2, 3, 4))
    result = _export_pairs(model, args, opset)
    assert result.served["aten::add.Tensor"].endswith("complex_ops.complex_add")
    assert result.model.graph.input[0].type.tensor_type.shape.dim[-1].dim_value == 2


def times_real(z, r):
    return z * r


def test_real_operand_below_opset_11_is_refused():
    """The complex form declines (PyTorch has no decomposition of mul to try instead)."""
    with pytest.raises(onnxplug.UnsupportedOperatorError, match=r"(?s)aten::mul.Tensor at .*"
                       r"real tensor operand of a complex aten.mul.Tensor needs opset 11"):
        onnxplug.export(Fn(times_real), (_complex(3), torch.randn(3)), None, opset_version=10)


@pytest.mark.parametrize("opset", [9, NEWEST])
def test_complex_angle(opset):
    model = Fn(lambda z, w: (z.angle(), w.real.angle() if opset >= 17 else z.abs().angle(),
                             (z * w).angle()))
    z = torch.tensor([1 + 1j, -1 + 0j, -1 - 0j, 0j, -2 + 3j, 3 - 4j], dtype=torch.complex64)
    result = _export_pairs(model, (z, z.flip(0) * 2), opset)
    assert result.served["aten::angle.default"].startswith("opset:")


def test_real_nodes_keep_the_real_conversion_and_overrides():
    """A custom_symbolics override that is not declared complex converts the real nodes only;
    the complex node of the same op keeps the complex-aware conversion."""
    def add_as_sub(g, x, y, alpha=1):
        return g.op("Sub", x, y)

    model = Fn(lambda z, w, r: (z + w, r + r))
    args = (_complex(3, 2), _complex(3, 2), torch.randn(3, 2))
    result = onnxplug.export(model, args, None, custom_symbolics={"aten::add.Tensor": add_as_sub})
    onnx.checker.check_model(result.model, full_check=True)
    complex_sum, real_sum = run_onnxruntime(result.model, _pairs(args))
    compare([torch.view_as_real(args[0] + args[1]), torch.zeros(3, 2)], [complex_sum, real_sum])


def test_a_complex_custom_symbolic_takes_complex_nodes():
    @onnxplug.symbolic("aten::sigmoid", complex=True)
    def sigmoid_of_pairs(g, x):  # not the complex sigmoid: a marker the test can see
        return g.op("Neg", x)

    z = _complex(4)
    result = onnxplug.export(Fn(lambda z: torch.sigmoid(z)), (z,), None,
                             custom_symbolics={"aten::sigmoid": sigmoid_of_pairs})
    (out,) = run_onnxruntime(result.model, [torch.view_as_real(z)])
    compare([-torch.view_as_real(z)], [out])


# -- refusals ----------------------------------------------------------------------------------
class Cumsum(torch.nn.Module):
    def forward(self, z):
        return torch.cumsum(z, 0)


class Sigmoid(torch.nn.Module):
    def forward(self, z):
        return torch.sigmoid(z)


class Matmul(torch.nn.Module):
    def forward(self, z):
        return z @ z.transpose(0, 1)


class SumLast(torch.nn.Module):
    def forward(self, z):
        return z.sum(-1)


@pytest.mark.parametrize("model, key", [(Cumsum, "aten::cumsum.default"),
                                        (Sigmoid, "aten::sigmoid.default"),
                                        (Matmul, "aten::matmul.default"),
                                        (SumLast, "aten::sum.dim_IntList")],
                         ids=["cumsum", "sigmoid", "matmul", "sum"])
def test_op_without_complex_conversion_is_refused(tmp_path, model, key):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous")
    with pytest.raises(onnxplug.UnsupportedOperatorError) as info:
        onnxplug.export(model(), (_complex(3, 3),), target)
    msg = str(info.value)
    line = f"{__file__}:{model.forward.__code__.co_firstlineno + 1}"
    assert f"{key} at {line}" in msg, msg
    assert "no conversion for complex inputs (complex64)" in msg
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    # the same op on a real tensor converts
    x = torch.randn(3, 3)
    result = onnxplug.export(model(), (x,), None)
    onnx.checker.check_model(result.model, full_check=True)
    compare([model()(x)], run_onnxruntime(result.model, [x]))


# -- the registry rule -------------------------------------------------------------------------
def _entry(key, name, complex_=False, opset=7):
    def fn(g, x):
        return name
    return SymbolicFunction(key, opset, fn, "p", complex=complex_)


def test_registry_picks_by_input_dtypes():
    entries = [_entry("t::both", "real"), _entry("t::both", "complex", True),
               _entry("t::only_complex", "oc", True), _entry("t::only_real", "or"),
               _entry("t::both", "real later", opset=13)]
    reg = Registry.build(entries, opset=17)
    c64, f32 = (torch.complex64,), (torch.float32,)
    assert reg.lookup("t::both", f32).fn(None, None) == "real later"
    assert reg.lookup("t::both", c64).fn(None, None) == "complex"  # the later real one: not for it
    assert reg.lookup("t::both.overload", (torch.float32, torch.complex128)).complex
    assert reg.lookup("t::only_complex", f32).fn(None, None) == "oc"  # serves real inputs too
    assert reg.lookup("t::only_complex", c64).fn(None, None) == "oc"
    assert reg.lookup("t::only_real", f32) is not None and reg.lookup("t::only_real", c64) is None
    assert [p.entry.complex for p in reg.picks if p.key == "t::both"] == [False, True]


def test_a_real_and_a_complex_registration_are_no_conflict():
    entries = [SymbolicFunction("t::op", 7, lambda g, x: x, "a"),
               SymbolicFunction("t::op", 7, lambda g, x: x, "b", complex=True)]
    assert Registry.build(entries, opset=17).conflicts() == []
    entries.append(SymbolicFunction("t::op", 7, lambda g, x: x, "c", complex=True))
    assert [str(c) for c in Registry.build(entries, opset=17).conflicts()] == [
        "t::op at opset 7: b wins over c (same priority; decided by plugin name)"]

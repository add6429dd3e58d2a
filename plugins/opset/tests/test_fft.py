"""torch.fft as ONNX ``DFT`` (opset 17: axis attribute; 20 on: axis input) and complex values as
(real, imaginary) pairs: each model is exported, checked, run in onnxruntime and compared with
eager PyTorch at the lowest opset the conversions claim (17) and the newest.

A complex graph output comes back as its ``torch.view_as_real`` pair tensor; a complex input is
fed the same way.
"""

from __future__ import annotations

import onnx
import pytest
import torch

from onnxplug.capture import FunctionModule as Fn
from onnxplug.testing import NEWEST_OPSET as NEWEST
from onnxplug.testing import export_and_run
from onnxplug.verify import compare

OPSETS = [17, NEWEST]
F = torch.fft


def _real(*zs):
    return tuple(torch.view_as_real(z.resolve_conj()) for z in zs)


class Transforms(torch.nn.Module):
    """Every torch.fft entry point that reaches _fft_r2c / _fft_c2c / _fft_c2r, with norm modes,
    padding and trimming (``n``, ``s``) and chosen dims."""

    def forward(self, x):  # x: [3, 10, 12]
        c = F.fft(x, norm="ortho")
        return (
            F.rfft(x).abs(), F.rfft(x, n=16, dim=1, norm="forward").abs(),
            F.irfft(F.rfft(x), n=12), F.irfft(F.rfft(x, dim=1), n=7, dim=1, norm="ortho"),
            F.hfft(F.rfft(x), n=9), F.ihfft(x, norm="forward").imag,
            *_real(c, F.ifft(c, n=8, norm="ortho"), F.fft2(x), F.ifftn(c, s=(5, 6), norm="forward"),
                   F.rfftn(x, dim=(0, 2)), F.rfft2(x, norm="ortho")),
            F.irfftn(F.rfftn(x), s=x.shape), F.irfft2(F.rfft2(x, norm="backward"), norm="forward") / 120,
        )


@pytest.mark.parametrize("opset", OPSETS)
def test_transforms(check, opset):
    result = check(Transforms(), (torch.randn(3, 10, 12),), opset=opset, rtol=1e-4, atol=1e-4)
    ops = {n.op_type for n in result.model.graph.node}
    assert "DFT" in ops
    dft = next(n for n in result.model.graph.node if n.op_type == "DFT")
    assert any(a.name == "axis" for a in dft.attribute) == (opset < 20)


class TwoSided(torch.nn.Module):
    """The two-sided FFTs without ``n``/``s``, which convert directly: real and complex
    signals, every ``norm``, default and chosen dims."""

    def forward(self, x):  # x: [batch, seq, 6]
        c = F.fftn(x, dim=(1, 2))
        return _real(c, F.fftn(x), F.ifftn(c, norm="ortho"), F.ifft(c, dim=1, norm="forward"),
                     F.fft(c, dim=0), F.fft2(x, norm="forward"), F.ifft2(c), F.fft(x, norm="backward"))


@pytest.mark.parametrize("opset", OPSETS)
def test_two_sided_transforms_keep_dynamic_sizes(opset):
    """FNet's fftn over batch and sequence axes: converted directly, the axes stay dynamic
    (PyTorch's decomposition would fix them), checked at another size of both."""
    from onnxplug.testing import export_and_compare

    result = export_and_compare(TwoSided(), (torch.randn(2, 5, 6),), opset=opset, rtol=1e-4,
                                atol=1e-4, input_names=["x"], dynamic_axes={"x": {0: "b", 1: "s"}},
                                run_inputs=(torch.randn(3, 7, 6),))
    assert not result.decomposed
    assert [str(d) for d in result.ir_model.graph.inputs[0].shape][:2] == ["b", "s"]


@pytest.mark.parametrize("opset", OPSETS)
def test_float64(check, opset):
    fn = Fn(lambda x: (F.irfft(F.rfft(x) * 2.0, n=x.shape[-1]), F.fft(x).abs()))
    check(fn, (torch.randn(2, 16, dtype=torch.float64),), opset=opset, rtol=1e-9, atol=1e-9)


def _run_pairs(model, args, opset, feeds=None):
    """Export, check, run with complex inputs fed as pairs; the outputs as numpy arrays."""
    result, outputs = export_and_run(model, args, opset=opset) if feeds is None else (None, None)
    if feeds is not None:
        from onnxplug import export
        from onnxplug.verify import run_onnxruntime

        result = export(model, args, None, opset_version=opset)
        onnx.checker.check_model(result.model, full_check=True)
        outputs = run_onnxruntime(result.model, feeds)
    return result, outputs


@pytest.mark.parametrize("opset", OPSETS)
def test_complex_output_is_view_as_real(opset):
    """A complex graph output is a float pair tensor with a trailing 2."""
    model = Fn(lambda x: F.rfft(x, norm="ortho"))
    x = torch.randn(4, 9)
    result, outputs = _run_pairs(model, (x,), opset)
    out = result.model.graph.output[0].type.tensor_type
    assert out.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_value for d in out.shape.dim] == [4, 5, 2]
    compare([torch.view_as_real(F.rfft(x, norm="ortho"))], outputs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opset", OPSETS)
def test_complex_input_is_pairs(opset):
    """A complex graph input is fed as its view_as_real pair tensor."""
    model = Fn(lambda z: (F.ifft(z).real, z.abs(), z.imag * 2, F.irfft(z, n=6)))
    z = torch.randn(3, 4, dtype=torch.complex64)
    result, outputs = _run_pairs(model, (z,), opset, feeds=[torch.view_as_real(z)])
    inp = result.model.graph.input[0].type.tensor_type
    assert [d.dim_value for d in inp.shape.dim] == [3, 4, 2]
    with torch.no_grad():
        compare(list(model(z)), outputs, rtol=1e-4, atol=1e-5)


class Arithmetic(torch.nn.Module):
    """Complex-aware element-wise ops on spectra: with complex, real and Python operands."""

    def forward(self, x, h):
        a, b = F.rfft(x), F.rfft(h)
        conv = F.irfft(a * b, n=x.shape[-1])  # circular convolution through the spectrum
        return (conv, *_real(a * b, a + b, a - 2 * b, a + h[..., :5], a * h[..., :5], a * 1j,
                             a + (2 - 1j), a / b, a / 2.0, h[..., :5] / b, -a, a.conj(),
                             torch.view_as_complex(torch.stack([x, h], -1)),
                             torch.complex(x, h[0]), torch.polar(x.abs(), h),
                             x.to(torch.complex64), a.to(torch.complex128)),
                torch.add(a, b, alpha=3).real, a.imag.abs(), a.to(torch.float32), a.real * a.imag,
                torch.view_as_real(a)[..., 1], torch.view_as_complex(torch.stack([x, h], -1)).angle())


@pytest.mark.parametrize("opset", OPSETS)
def test_complex_arithmetic(check, opset):
    args = (torch.randn(2, 8), torch.randn(2, 8))
    check(Arithmetic(), args, opset=opset, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("opset", OPSETS)
def test_conj_and_resolve(check, opset):
    def fn(x):
        a = F.fft(x)
        return _real(a.conj().resolve_conj(), torch.conj_physical(a), a.resolve_neg(),
                     F.fft(x.conj()), -a.conj())
    check(Fn(fn), (torch.randn(6),), opset=opset, rtol=1e-4, atol=1e-4)


def test_dynamic_length(check):
    """A dynamic signal length: DFT sizes and the norm factor come from the runtime shape."""
    def fn(x):
        return F.rfft(x, norm="ortho").abs(), torch.view_as_real(F.fft(x, norm="forward"))
    x = torch.randn(2, 16)
    check(Fn(fn), (x,), opset=NEWEST, rtol=1e-4, atol=1e-4, input_names=["x"],
          dynamic_axes={"x": {1: "n"}})
    y = torch.randn(2, 24)
    result, outputs = export_and_run(Fn(fn), (x,), opset=NEWEST, run_inputs=(y,),
                                     input_names=["x"], dynamic_axes={"x": {1: "n"}})
    with torch.no_grad():
        compare(list(fn(y)), outputs, rtol=1e-4, atol=1e-4)


def test_fft_below_17_is_a_clear_error():
    """Below opset 17 there is no DFT: the error names the op the user wrote."""
    from onnxplug import export
    from onnxplug.errors import UnsupportedOperatorError

    with pytest.raises(UnsupportedOperatorError, match="fft_rfft"):
        export(Fn(lambda x: F.rfft(x).abs()), (torch.randn(8),), None, opset_version=16)


@pytest.mark.parametrize("opset", OPSETS)
def test_neg_view(check, opset):
    """``aten::_neg_view``, the lazy negation PyTorch's own decompositions produce on complex
    values (its negative bit is resolved in the graph: the pair is negated)."""
    def fn(x):
        a = F.fft(x)
        return _real(torch.ops.aten._neg_view(a).resolve_neg(), torch.ops.aten._neg_view(a) * 2)
    check(Fn(fn), (torch.randn(6),), opset=opset, rtol=1e-4, atol=1e-4)

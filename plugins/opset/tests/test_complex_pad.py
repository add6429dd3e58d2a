"""Zero padding of complex tensors (``constant_pad_nd`` with ``complex=True``): what
``torch.fft.fft2``/``fftn`` with ``s=`` larger than the input do, and a complex input padded
directly. Complex inputs and outputs travel as ``view_as_real`` pairs; checked, run in
onnxruntime and compared with eager, also through ``verify=True`` (which compares complex
outputs as pairs)."""

from __future__ import annotations

import onnx
import pytest
import torch

import onnxplug
from onnxplug.testing import NEWEST_OPSET
from onnxplug.verify import compare, run_onnxruntime


class PadComplex(torch.nn.Module):
    def forward(self, z):
        return torch.nn.functional.pad(z, (1, 2, 0, 3))


class Fft2Padded(torch.nn.Module):
    def forward(self, x):
        return torch.fft.fft2(x, s=(6, 9)), torch.fft.fftn(x, s=(5, 8), norm="ortho")


@pytest.mark.parametrize("opset", [7, 11, 17, NEWEST_OPSET])
def test_pad_a_complex_input(opset):
    z = torch.randn(2, 3, 4, dtype=torch.complex64)
    result = onnxplug.export(PadComplex(), (z,), None, opset_version=opset)
    onnx.checker.check_model(result.model, full_check=True)
    out = run_onnxruntime(result.model, [torch.view_as_real(z)])
    compare([PadComplex()(z)], out)


@pytest.mark.parametrize("opset", [17, 20, NEWEST_OPSET])
def test_fft2_with_sizes_larger_than_the_input(opset):
    x = torch.randn(2, 4, 7)
    result = onnxplug.export(Fft2Padded(), (x,), None, opset_version=opset, verify=True)
    onnx.checker.check_model(result.model, full_check=True)
    compare(list(Fft2Padded()(x)), run_onnxruntime(result.model, [x]), atol=1e-4)


def test_a_non_zero_complex_fill_is_refused():
    class Fill(torch.nn.Module):
        def forward(self, z):
            return torch.constant_pad_nd(z, (1, 1), 2.0)

    with pytest.raises(onnxplug.UnsupportedOperatorError, match="constant_pad_nd"):
        onnxplug.export(Fill(), (torch.randn(3, 4, dtype=torch.complex64),), None, opset_version=17)

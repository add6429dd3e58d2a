"""``aten::linalg_matrix_norm.str_ord`` (``'fro'`` and ``'nuc'``), converted from opset 11 where
the Jacobi singular values live: PyTorch's decomposition of it is not taken node by node, so
without this conversion ``torch.norm(x, p='nuc')`` does not export. Each model is checked, run
in onnxruntime and compared with eager PyTorch."""

from __future__ import annotations

import pytest
import torch

from onnxplug.testing import NEWEST_OPSET as NEWEST


class Norms(torch.nn.Module):
    def forward(self, a, b, e):
        return (torch.norm(a, p="nuc"), torch.linalg.matrix_norm(b, "nuc", dim=(0, 2), keepdim=True),
                torch.linalg.matrix_norm(b, "fro", dim=(2, 1)), torch.linalg.matrix_norm(e, "nuc"),
                torch.linalg.matrix_norm(b.double(), "nuc"))


@pytest.mark.parametrize("opset", [11, 17, NEWEST])
def test_fro_and_nuclear_norms(check, opset):
    result = check(Norms(), (torch.randn(4, 5), torch.randn(3, 4, 5), torch.randn(2, 0, 3)), opset=opset,
                   rtol=1e-4, atol=1e-5)
    assert result.served["aten::linalg_matrix_norm.str_ord"].startswith("opset:")

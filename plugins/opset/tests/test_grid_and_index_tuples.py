"""torch.meshgrid and the tuple forms of nonzero (torch.where(condition), aten::nonzero_numpy)
convert directly, with no decomposition (torchvision's detection models carry them), at the
lowest opset each claims and the newest."""

from __future__ import annotations

import pytest
import torch

from onnxplug.testing import NEWEST_OPSET as NEWEST


class Grids(torch.nn.Module):
    def forward(self, x, y, z):
        a, b = torch.meshgrid(x, y, indexing="ij")
        c, d, e = torch.meshgrid(x, y, z, indexing="xy")
        f, = torch.meshgrid(x.sum(), indexing="ij")
        return a * 2, b, c, d + e, f


def _grid_args():
    return torch.randn(3), torch.randn(4), torch.randn(2)


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_meshgrid(check, opset):
    r = check(Grids(), _grid_args(), opset=opset)
    assert not r.decomposed


def test_meshgrid_dynamic(check):
    r = check(Grids(), _grid_args(), opset=NEWEST, input_names=["x", "y", "z"],
              dynamic_axes={"x": {0: "n"}, "y": {0: "m"}},
              run_inputs=(torch.randn(5), torch.randn(6), torch.randn(2)))
    assert not r.decomposed


class Where(torch.nn.Module):
    def forward(self, x):
        rows, cols = torch.where(x > 0)
        (flat,) = torch.ops.aten.nonzero_numpy(x.flatten() > 0)
        (one,) = torch.where(x.sum() > -100)
        return rows, cols * 2, flat, one


@pytest.mark.parametrize("opset", [9, NEWEST])
def test_where_condition_and_nonzero_numpy(check, opset):
    x = torch.tensor([[1.0, -1.0, 2.0], [-3.0, 4.0, 0.5]])
    r = check(Where(), (x,), opset=opset)
    assert not r.decomposed

"""``grid_sample`` below GridSample: the Gather composition of ``opset11/sampling.py``.

The 4-D conversion serves opsets 11-15 (GridSample takes over at 16) and the 5-D one 11-19
(GridSample takes 5-D inputs from 20), so every case runs at the lowest and the newest opset its
conversion serves, for every interpolation mode, padding mode and ``align_corners``. ``F.grid_sample``
reaches ``aten::grid_sampler``; for 5-D inputs that conversion declines and the core's
decomposition reaches ``aten::grid_sampler_3d``. The ``aten::grid_sampler_2d`` key is called
directly. Grids reach well outside ``[-1, 1]`` so that every padding mode matters (reflection
folds them more than once).
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from onnxplug.capture import FunctionModule as Fn  # a function as a module, for export

aten = torch.ops.aten

MODES = {"bilinear": 0, "nearest": 1, "bicubic": 2}
PADDINGS = {"zeros": 0, "border": 1, "reflection": 2}
OPSETS_2D = (11, 15)  # GridSample (4-D) from 16
OPSETS_3D = (11, 19)  # GridSample (5-D) from 20

torch.manual_seed(0)
IMG = torch.randn(2, 3, 5, 7)
GRID = torch.rand(2, 4, 6, 2) * 3.2 - 1.6
VOL = torch.randn(2, 3, 4, 5, 3)
GRID_3D = torch.rand(2, 2, 3, 4, 3) * 3.2 - 1.6


def _sampler(mode, padding, align_corners):
    return Fn(lambda x, g: F.grid_sample(x, g, mode=mode, padding_mode=padding, align_corners=align_corners))


def _ops(result):
    return {n.op_type for n in result.model.graph.node}


def _served_by(result, name):
    return any(name in v for v in result.served.values())


@pytest.mark.parametrize("opset", OPSETS_2D)
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding", list(PADDINGS))
@pytest.mark.parametrize("mode", list(MODES))
def test_grid_sample_2d(check, mode, padding, align_corners, opset):
    result = check(_sampler(mode, padding, align_corners), (IMG, GRID), opset=opset, atol=1e-4)
    assert "GridSample" not in _ops(result) and "Gather" in _ops(result)
    assert _served_by(result, "opset11.sampling.grid_sampler_2d")


@pytest.mark.parametrize("opset", OPSETS_2D)
@pytest.mark.parametrize("mode,padding,align_corners", [
    (0, 0, False), (1, 2, True), (2, 1, False), (2, 2, True)])
def test_grid_sampler_2d_key(check, mode, padding, align_corners, opset):
    """``aten::grid_sampler_2d`` itself (what decompositions and OpInfo produce)."""
    fn = Fn(lambda x, g: aten.grid_sampler_2d(x, g, mode, padding, align_corners))
    check(fn, (IMG, GRID), opset=opset, atol=1e-4)


@pytest.mark.parametrize("opset", OPSETS_3D)
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding", list(PADDINGS))
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_3d(check, mode, padding, align_corners, opset):
    result = check(_sampler(mode, padding, align_corners), (VOL, GRID_3D), opset=opset, atol=1e-4)
    assert "GridSample" not in _ops(result)
    assert _served_by(result, "opset11.sampling.grid_sampler_3d")


@pytest.mark.parametrize("opset", OPSETS_3D)
def test_grid_sampler_3d_key(check, opset):
    fn = Fn(lambda x, g: aten.grid_sampler_3d(x, g, 0, 2, False))
    check(fn, (VOL, GRID_3D), opset=opset, atol=1e-4)


@pytest.mark.parametrize("align_corners", [False, True])
def test_nearest_rounds_half_to_even(check, align_corners):
    """Grid points on exact half pixels (multiples of 1/4 land there on both axes, with either
    ``align_corners``): PyTorch rounds them half to even (``nearbyint``), as ONNX Round does."""
    x = torch.arange(2 * 4 * 5, dtype=torch.float32).reshape(1, 2, 4, 5)
    steps = torch.arange(-8, 9, dtype=torch.float32) / 4 - 1 / 4  # -2.25 .. 1.75
    gx, gy = torch.meshgrid(steps, steps, indexing="ij")
    grid = torch.stack([gx, gy], -1)[None]
    for padding in PADDINGS:
        check(_sampler("nearest", padding, align_corners), (x, grid), opset=11, atol=0)


@pytest.mark.parametrize("mode", list(MODES))
def test_single_pixel_axes(check, mode):
    """Size-1 axes: with ``align_corners`` reflection has nothing to fold (PyTorch gives 0)."""
    x = torch.randn(1, 2, 1, 4)
    grid = torch.rand(1, 3, 5, 2) * 4 - 2
    for padding, align_corners in itertools.product(PADDINGS, (False, True)):
        check(_sampler(mode, padding, align_corners), (x, grid), opset=11, atol=1e-4)


def test_outside_ignores_nonfinite_border(check):
    """With zero padding a tap outside the input is 0, even where the clamped stand-in position
    holds inf or NaN (the gathered value is dropped, not multiplied by 0)."""
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 0, :] = float("inf")
    x[0, 0, :, 0] = float("nan")
    grid = torch.tensor([[[[0.0, -3.0], [-3.0, 0.0], [-5.0, -5.0], [0.0, 0.0]]]])
    for mode in ("bilinear", "nearest", "bicubic"):
        check(_sampler(mode, "zeros", False), (x, grid), opset=11)


@pytest.mark.parametrize("dt", [torch.float64, torch.float16])
def test_other_float_dtypes(check, dt):
    """float64 is exact; half positions and weights are computed in float32, while eager PyTorch
    computes them in half (it is itself up to ~2e-2 off its float32 result for linear weights):
    nearest agrees exactly, linear to half's precision."""
    tol = {"atol": 1e-4} if dt == torch.float64 else {"atol": 3e-2, "rtol": 1e-2}
    for mode in ("bilinear", "nearest"):
        check(_sampler(mode, "reflection", False), (IMG.to(dt), GRID.to(dt)), opset=11, **tol)
        check(_sampler(mode, "border", True), (VOL.to(dt), GRID_3D.to(dt)), opset=11, **tol)


def test_dynamic_shapes_decline(check):
    """Dynamic shapes are declined: PyTorch's decomposition of ``grid_sampler_2d`` serves them."""
    x, grid = torch.randn(3, 3, 5, 7), torch.rand(3, 4, 6, 2) * 2.4 - 1.2
    result = check(_sampler("bilinear", "zeros", False), (IMG, GRID), opset=11, atol=1e-4,
                   input_names=["x", "g"], dynamic_axes={"x": {0: "n"}, "g": {0: "n"}}, run_inputs=(x, grid))
    assert "aten::grid_sampler_2d.default" in result.decomposed

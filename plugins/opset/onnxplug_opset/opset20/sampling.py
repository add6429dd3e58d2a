"""Opset 20: GridSample for N-D inputs, with its modes renamed (linear, cubic)."""

from __future__ import annotations

from ..registration import op
from ..opset16.sampling import grid_sample

INTERP = {0: "linear", 1: "nearest", 2: "cubic"}


@op("aten::grid_sampler", "aten::grid_sampler_2d", "aten::grid_sampler_3d")
def grid_sampler(g, x, grid, interpolation_mode, padding_mode, align_corners):
    return grid_sample(g, x, grid, INTERP[interpolation_mode], padding_mode, align_corners)

"""Opset 16: GridSample (4-D inputs; modes bilinear, nearest, bicubic)."""

from __future__ import annotations

from ..registration import op

INTERP = {0: "bilinear", 1: "nearest", 2: "bicubic"}
PADDING = {0: "zeros", 1: "border", 2: "reflection"}


def grid_sample(g, x, grid, mode, padding_mode, align_corners):
    return g.op("GridSample", x, grid, mode_s=mode, padding_mode_s=PADDING[padding_mode],
                align_corners_i=int(align_corners))


@op("aten::grid_sampler", "aten::grid_sampler_2d")
def grid_sampler(g, x, grid, interpolation_mode, padding_mode, align_corners):
    if g.rank(x) != 4:
        raise NotImplementedError("GridSample before opset 20 takes 4-D inputs only")
    return grid_sample(g, x, grid, INTERP[interpolation_mode], padding_mode, align_corners)

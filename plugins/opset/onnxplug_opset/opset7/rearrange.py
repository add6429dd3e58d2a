"""Channel and pixel rearrangements by Reshape/Transpose (DepthToSpace: opset 11)."""

from __future__ import annotations

from ..helpers import reshape, transpose
from ..registration import op


def _static(g, x, what):
    shape = g.static_shape(x)
    if shape is None:
        raise NotImplementedError(f"{what} of a tensor with dynamic shape")
    return list(shape)


@op("aten::pixel_shuffle")
def pixel_shuffle(g, x, upscale_factor):
    """``[*, C*r*r, H, W] -> [*, C, H*r, W*r]`` by Reshape/Transpose (static shapes)."""
    shape = _static(g, x, "pixel_shuffle")
    r = upscale_factor
    *batch, c, h, w = shape
    b = len(batch)
    y = reshape(g, x, batch + [c // (r * r), r, r, h, w], allowzero=True)
    perm = list(range(b)) + [b, b + 3, b + 1, b + 4, b + 2]
    y = transpose(g, y, perm)
    return reshape(g, y, batch + [c // (r * r), h * r, w * r], allowzero=True)


@op("aten::pixel_unshuffle")
def pixel_unshuffle(g, x, downscale_factor):
    """``[*, C, H*r, W*r] -> [*, C*r*r, H, W]`` (SpaceToDepth orders channels differently)."""
    shape = _static(g, x, "pixel_unshuffle")
    r = downscale_factor
    *batch, c, h, w = shape
    b = len(batch)
    y = reshape(g, x, batch + [c, h // r, r, w // r, r], allowzero=True)
    perm = list(range(b)) + [b, b + 2, b + 4, b + 1, b + 3]
    y = transpose(g, y, perm)
    return reshape(g, y, batch + [c * r * r, h // r, w // r], allowzero=True)


@op("aten::channel_shuffle", "aten::native_channel_shuffle")
def channel_shuffle(g, x, groups):
    shape = _static(g, x, "channel_shuffle")
    n, c, *rest = shape
    y = reshape(g, x, [n, groups, c // groups] + rest, allowzero=True)
    perm = [0, 2, 1] + list(range(3, len(rest) + 3))
    y = transpose(g, y, perm)
    return reshape(g, y, shape, allowzero=True)

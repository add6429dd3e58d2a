"""Resampling at opsets 7-10: nearest-mode ``Upsample`` (scales an attribute, an input from 9)
or ``Resize`` (10, which also shrinks), wherever it reads the same pixels as PyTorch
(``forms.nearest_rescale``); opset 11's Resize with coordinate modes is ``opset11/resample.py``."""

from __future__ import annotations

from .. import forms
from ..nn_helpers import upsample_scales, upsample_scales_of
from ..registration import op


def upsample(g, x, scale_factors, mode, align_corners=False, exact=False):
    """Nearest-mode rescaling where it gives PyTorch's result exactly (see
    ``nn_helpers.upsample_scales``; linear qualifies only where it copies), else declined."""
    scales = upsample_scales(g, x, scale_factors, mode, align_corners, exact,
                             min_scale=forms.nearest_min_scale(g))
    return forms.nearest_rescale(g, x, scales)


@op("aten::upsample_nearest1d.vec", "aten::upsample_nearest2d.vec", "aten::upsample_nearest3d.vec")
def upsample_nearest_vec(g, x, output_size, scale_factors):
    return upsample(g, x, scale_factors, "nearest")


@op("aten::upsample_nearest1d", "aten::upsample_nearest2d", "aten::upsample_nearest3d")
def upsample_nearest(g, x, output_size, *scales):
    return upsample(g, x, upsample_scales_of(scales), "nearest")


@op("aten::_upsample_nearest_exact1d.vec", "aten::_upsample_nearest_exact2d.vec",
    "aten::_upsample_nearest_exact3d.vec")
def upsample_nearest_exact_vec(g, x, output_size, scale_factors):
    return upsample(g, x, scale_factors, "nearest", exact=True)


@op("aten::_upsample_nearest_exact1d", "aten::_upsample_nearest_exact2d", "aten::_upsample_nearest_exact3d")
def upsample_nearest_exact(g, x, output_size, *scales):
    return upsample(g, x, upsample_scales_of(scales), "nearest", exact=True)


@op("aten::upsample_linear1d.vec", "aten::upsample_bilinear2d.vec", "aten::upsample_trilinear3d.vec")
def upsample_linear_vec(g, x, output_size, align_corners, scale_factors):
    return upsample(g, x, scale_factors, "linear", align_corners)


@op("aten::upsample_linear1d", "aten::upsample_bilinear2d", "aten::upsample_trilinear3d")
def upsample_linear(g, x, output_size, align_corners, *scales):
    return upsample(g, x, upsample_scales_of(scales), "linear", align_corners)

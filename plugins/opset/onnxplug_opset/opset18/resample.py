"""Opset 18: Resize's antialias filter (PyTorch's ``interpolate(..., antialias=True)``)."""

from __future__ import annotations

from ..nn_helpers import upsample_scales_of
from ..opset11.resample import resize
from ..registration import op


@op("aten::_upsample_bilinear2d_aa.vec")
def upsample_bilinear_aa_vec(g, x, output_size, align_corners, scale_factors):
    return resize(g, x, output_size, scale_factors, "linear", align_corners, antialias=True)


@op("aten::_upsample_bilinear2d_aa")
def upsample_bilinear_aa(g, x, output_size, align_corners, *scales):
    return resize(g, x, output_size, upsample_scales_of(scales), "linear", align_corners, antialias=True)


@op("aten::_upsample_bicubic2d_aa.vec")
def upsample_bicubic_aa_vec(g, x, output_size, align_corners, scale_factors):
    return resize(g, x, output_size, scale_factors, "cubic", align_corners, antialias=True)


@op("aten::_upsample_bicubic2d_aa")
def upsample_bicubic_aa(g, x, output_size, align_corners, *scales):
    return resize(g, x, output_size, upsample_scales_of(scales), "cubic", align_corners, antialias=True)

"""Resampling: Upsample with a scales attribute (an input from opset 9; Resize from 10 and 11)."""

from __future__ import annotations

from ..nn_helpers import upsample_conversions, upsample_scales


def upsample(g, x, scale_factors, mode, align_corners=False, exact=False):
    """``Upsample`` in nearest mode where it gives PyTorch's result exactly (see
    ``nn_helpers.upsample_scales``; linear qualifies only where it copies), else declined."""
    scales = upsample_scales(g, x, scale_factors, mode, align_corners, exact)
    return g.op("Upsample", x, mode_s="nearest", scales_fs=scales)


(upsample_nearest_vec, upsample_nearest, upsample_nearest_exact_vec, upsample_nearest_exact,
 upsample_linear_vec, upsample_linear) = upsample_conversions(upsample, __name__)

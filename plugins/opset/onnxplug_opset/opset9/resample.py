"""Opset 9: Upsample with its scales as an input."""

from __future__ import annotations

import torch

from ..nn_helpers import upsample_conversions, upsample_scales


def upsample(g, x, scale_factors, mode, align_corners=False, exact=False):
    """``Upsample`` in nearest mode where it gives PyTorch's result exactly (see
    ``nn_helpers.upsample_scales``), else declined."""
    scales = upsample_scales(g, x, scale_factors, mode, align_corners, exact)
    return g.op("Upsample", x, g.constant(torch.tensor(scales, dtype=torch.float32)), mode_s="nearest")


(upsample_nearest_vec, upsample_nearest, upsample_nearest_exact_vec, upsample_nearest_exact,
 upsample_linear_vec, upsample_linear) = upsample_conversions(upsample, __name__)

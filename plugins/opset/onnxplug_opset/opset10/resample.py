"""Opset 10: Resize (asymmetric coordinates, nearest or linear), which also shrinks."""

from __future__ import annotations

import torch

from ..nn_helpers import upsample_conversions, upsample_scales


def resize(g, x, scale_factors, mode, align_corners=False, exact=False):
    """``Resize`` in nearest mode where it gives PyTorch's result exactly, else declined.

    Resize-10 maps output index ``i`` to input ``i / scale`` like Upsample, and takes scales
    below 1 too (see ``nn_helpers.upsample_scales``); PyTorch's coordinates arrive at 11.
    """
    scales = upsample_scales(g, x, scale_factors, mode, align_corners, exact, shrink=True)
    return g.op("Resize", x, g.constant(torch.tensor(scales, dtype=torch.float32)), mode_s="nearest")


(upsample_nearest_vec, upsample_nearest, upsample_nearest_exact_vec, upsample_nearest_exact,
 upsample_linear_vec, upsample_linear) = upsample_conversions(resize, __name__)

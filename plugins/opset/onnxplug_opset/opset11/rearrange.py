"""Opset 11: DepthToSpace in CRD mode (PyTorch's ``pixel_shuffle`` order)."""

from __future__ import annotations

import torch

from ..registration import op


@op("aten::pixel_shuffle")
def pixel_shuffle(g, x, upscale_factor):
    """DepthToSpace in CRD mode is PyTorch's channel order (4-D float inputs: onnxruntime's
    kernels are float and double only); other inputs are rearranged by Reshape/Transpose."""
    if g.rank(x) != 4 or g.dtype(x) not in (torch.float32, torch.float64):
        from ..opset7.rearrange import pixel_shuffle as composed

        return composed(g, x, upscale_factor)
    return g.op("DepthToSpace", x, blocksize_i=upscale_factor, mode_s="CRD")

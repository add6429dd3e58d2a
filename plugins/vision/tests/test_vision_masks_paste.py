"""The vision plugin's mask pasting (``onnxplug_vision.masks``, used while Mask R-CNN is
captured) gives torchvision's pixels."""

from __future__ import annotations

import pytest
import torch
from vision_testing import require_torchvision

from onnxplug_vision.masks import paste_masks_in_image

require_torchvision()


@pytest.mark.parametrize("n, height, width", [(7, 60, 50), (30, 320, 320), (0, 20, 20)])
def test_mask_pasting_is_torchvisions(n, height, width):
    from torchvision.models.detection.roi_heads import paste_masks_in_image as torchvision_paste

    g = torch.Generator().manual_seed(n)
    probs = torch.rand(n, 1, 28, 28, generator=g)
    size = torch.tensor([width, height])
    xy = torch.rand(n, 2, generator=g) * size * 0.7
    boxes = torch.cat([xy, torch.minimum(xy + torch.rand(n, 2, generator=g) * size * 0.6,
                                         size - 1.0)], dim=1)
    if n:
        boxes[0, 2:] = boxes[0, :2] + 0.3  # under a pixel
    got = paste_masks_in_image(probs, boxes, (height, width))
    want = torchvision_paste(probs, boxes, (height, width))
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)

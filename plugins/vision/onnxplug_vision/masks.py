"""Mask R-CNN's mask pasting without a loop per detection: what the capture settings
(``capture.py``) put in place of torchvision's ``paste_masks_in_image`` while a model is
captured.

torchvision pastes each detection's ``M x M`` mask into the image one at a time: the mask is
padded by one pixel, its box widened to match, the box rounded to integers, the mask resized
(bilinear, ``align_corners=False``) to the box's size with Python ints taken from the box, and
copied into a zero image. A capture can only unroll that loop for the example's number of
detections, with a resize per detection.

:func:`paste_masks_in_image` computes the same pixels for all detections at once: for each
image row and column, the source coordinate in each detection's mask (the formula bilinear
resizing uses, with the scale ``mask size / box size`` in float32), its two neighbours and
weights, two gathers along each axis, and zero outside the box. Pure tensor code: the number
of detections stays a run-time size and no box size becomes a Python int.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def paste_masks_in_image(masks: torch.Tensor, boxes: torch.Tensor, img_shape,
                         padding: int = 1) -> torch.Tensor:
    """``masks [N, 1, M, M]`` (probabilities) and ``boxes [N, 4]`` (x1, y1, x2, y2, image
    coordinates) -> ``[N, 1, H, W]`` for ``img_shape = (H, W)``, as torchvision's function."""
    im_h, im_w = int(img_shape[0]), int(img_shape[1])
    size = masks.shape[-1]
    padded = F.pad(masks, (padding,) * 4)[:, 0]
    full = size + 2 * padding
    boxes = _expand_boxes(boxes, full / size).to(torch.int64)
    rows = _axis(boxes[:, 1], boxes[:, 3], im_h, full)
    cols = _axis(boxes[:, 0], boxes[:, 2], im_w, full)
    (r0, r1, rw, rin), (c0, c1, cw, cin) = rows, cols
    n = padded.shape[0]
    # along the columns: [N, full, W]
    g0 = padded.gather(2, c0[:, None, :].expand(n, full, im_w))
    g1 = padded.gather(2, c1[:, None, :].expand(n, full, im_w))
    across = g0 * (1 - cw)[:, None, :] + g1 * cw[:, None, :]
    # along the rows: [N, H, W]
    h0 = across.gather(1, r0[:, :, None].expand(n, im_h, im_w))
    h1 = across.gather(1, r1[:, :, None].expand(n, im_h, im_w))
    pasted = h0 * (1 - rw)[:, :, None] + h1 * rw[:, :, None]
    inside = rin[:, :, None] & cin[:, None, :]
    return torch.where(inside, pasted, torch.zeros_like(pasted))[:, None]


def _expand_boxes(boxes: torch.Tensor, scale: float) -> torch.Tensor:
    """Boxes widened by ``scale`` about their centres (torchvision's ``expand_boxes``)."""
    w_half = (boxes[:, 2] - boxes[:, 0]) * 0.5 * scale
    h_half = (boxes[:, 3] - boxes[:, 1]) * 0.5 * scale
    x_c = (boxes[:, 2] + boxes[:, 0]) * 0.5
    y_c = (boxes[:, 3] + boxes[:, 1]) * 0.5
    return torch.stack([x_c - w_half, y_c - h_half, x_c + w_half, y_c + h_half], dim=1)


def _axis(start: torch.Tensor, end: torch.Tensor, length: int, full: int):
    """For one image axis of ``length`` pixels and boxes from ``start`` to ``end`` (int64,
    inclusive): each pixel's two source indices in the resized mask, the weight of the second,
    and whether the pixel is inside the box; each ``[N, length]``."""
    out = torch.clamp(end - start + 1, min=1)  # the box's size: the resize's output size
    pixel = torch.arange(length, dtype=torch.int64, device=start.device)
    offset = pixel[None, :] - start[:, None]  # position inside the resized mask
    scale = full / out.to(torch.float32)  # float32 like the resize kernel's
    src = (offset.to(torch.float32) + 0.5) * scale[:, None] - 0.5
    src = torch.clamp(src, min=0.0)
    first = src.to(torch.int64)  # src >= 0: truncation is floor
    weight = src - first.to(torch.float32)
    first = torch.clamp(first, max=full - 1)
    second = torch.clamp(first + 1, max=full - 1)
    inside = (offset >= 0) & (pixel[None, :] <= end[:, None])
    return first, second, weight, inside

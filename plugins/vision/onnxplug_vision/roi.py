"""Region-of-interest pooling: ``roi_align``, ``roi_pool``, ``ps_roi_align``, ``ps_roi_pool``.

torchvision's rois are ``[K, 5]``: batch index, then x1, y1, x2, y2 in input coordinates.

* ``roi_align`` -> ``RoiAlign`` (mode ``avg``). ``aligned=True`` shifts the box by half a pixel
  and does not stretch boxes under one pixel: from opset 16 that is
  ``coordinate_transformation_mode="half_pixel"`` (and ``"output_half_pixel"`` for
  ``aligned=False``). Opsets 10 to 15 have only ``aligned=False``'s form; ``aligned=True`` there
  is refused with the reason (shifting the boxes would still stretch small ones). RoiAlign-22
  only adds types, but onnxruntime (1.32) has no RoiAlign-22 or MaxRoiPool-22 kernel, so
  models with them at opset 22+ do not run there. ``sampling_ratio <= 0`` (adaptive) is
  RoiAlign's 0.
* ``roi_pool`` -> ``MaxRoiPool`` (the same rois layout; its ``argmax`` output is not converted).
* ``ps_roi_align`` (opset 16+): position-sensitive, bin ``(i, j)`` of output channel ``c`` reads input channel
  ``(c * ph + i) * pw + j``: one ``RoiAlign`` (half-pixel boxes, as ps_roi_align always uses)
  over all channels, then each bin's own channel is gathered.
* ``ps_roi_pool`` averages integer bins; ONNX has no average ROI pooling: a clear error.
"""

from __future__ import annotations

import torch

from onnxplug import symbolic

from .forms import reshape, roi_parts, static_dim


def _sampling(ratio: int) -> int:
    return max(int(ratio), 0)


def _roi_align_legacy(g, x, rois, spatial_scale, ph, pw, sampling_ratio, aligned):
    """RoiAlign-10: no coordinate mode, and boxes under one pixel are stretched to one, which is
    ``aligned=False``'s behaviour only."""
    if aligned:
        raise NotImplementedError(
            "roi_align(aligned=True) is converted from opset 16 (RoiAlign's "
            "coordinate_transformation_mode='half_pixel'); RoiAlign-10 stretches boxes smaller "
            "than one pixel, which aligned=True does not. Export with opset_version >= 16")
    boxes, batch = roi_parts(g, rois)
    return g.op("RoiAlign", x, boxes, batch, mode_s="avg", output_height_i=ph,
                output_width_i=pw, sampling_ratio_i=_sampling(sampling_ratio),
                spatial_scale_f=float(spatial_scale))


def _roi_align_16(g, x, rois, spatial_scale, ph, pw, sampling_ratio, aligned):
    boxes, batch = roi_parts(g, rois)
    return g.op("RoiAlign", x, boxes, batch, mode_s="avg", output_height_i=ph,
                output_width_i=pw, sampling_ratio_i=_sampling(sampling_ratio),
                spatial_scale_f=float(spatial_scale),
                coordinate_transformation_mode_s="half_pixel" if aligned else "output_half_pixel")


@symbolic("torchvision::roi_align", opset=10)
def roi_align(g, x, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned):
    return _roi_align_legacy(g, x, rois, spatial_scale, pooled_height, pooled_width,
                             sampling_ratio, aligned)


@symbolic("torchvision::roi_align", opset=16)
def roi_align_16(g, x, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned):
    return _roi_align_16(g, x, rois, spatial_scale, pooled_height, pooled_width,
                         sampling_ratio, aligned)


@symbolic("torchvision::roi_pool", opset=7)
def roi_pool(g, x, rois, spatial_scale, pooled_height, pooled_width):
    if g.out_used(1):
        raise NotImplementedError("roi_pool's argmax output (only used for its gradient) has "
                                  "no ONNX form; use the pooled values only")
    rois = rois if g.dtype(rois) == g.dtype(x) else g.op("Cast", rois, to_i=_onnx_type(g, x))
    out = g.op("MaxRoiPool", x, rois, pooled_shape_is=[pooled_height, pooled_width],
               spatial_scale_f=float(spatial_scale))
    return out, None


def _ps_roi_align(g, x, rois, spatial_scale, ph, pw, sampling_ratio, align):
    if g.out_used(1):
        raise NotImplementedError("ps_roi_align's channel_mapping output (only used for its "
                                  "gradient) has no ONNX form; use the pooled values only")
    bins = ph * pw
    channels = static_dim(g, x, 1, "ps_roi_align") // bins
    full = align(g, x, rois, spatial_scale, ph, pw, sampling_ratio, True)  # [K, C*bins, ph, pw]
    flat = reshape(g, full, [0, channels, bins * bins])
    own = g.constant(torch.tensor([b * bins + b for b in range(bins)], dtype=torch.int64))
    picked = g.op("Gather", flat, own, axis_i=2)  # [K, C, bins]: bin b from its channel group b
    return reshape(g, picked, [0, channels, ph, pw]), None


@symbolic("torchvision::ps_roi_align", opset=16)
def ps_roi_align_16(g, x, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio):
    return _ps_roi_align(g, x, rois, spatial_scale, pooled_height, pooled_width,
                         sampling_ratio, _roi_align_16)


@symbolic("torchvision::ps_roi_pool", opset=7)
def ps_roi_pool(g, x, rois, spatial_scale, pooled_height, pooled_width):
    raise NotImplementedError(
        "ps_roi_pool averages integer-rounded bins of each box, and ONNX has no average ROI "
        "pooling (MaxRoiPool takes the maximum). Use torchvision.ops.ps_roi_align (converted to "
        "RoiAlign), or register your own conversion with custom_symbolics="
        "{'torchvision::ps_roi_pool': fn}")


def _onnx_type(g, x) -> int:
    return {torch.float32: 1, torch.float16: 10, torch.float64: 11,
            torch.bfloat16: 16}.get(g.dtype(x), 1)


ALL = [roi_align, roi_align_16, roi_pool, ps_roi_align_16, ps_roi_pool]

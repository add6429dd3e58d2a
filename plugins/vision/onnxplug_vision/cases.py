"""Declared test cases of onnxplug-vision (``pytest --onnxplug-plugin vision``).

Each case calls a ``torchvision.ops`` function on small random inputs and is compared with
eager torchvision in onnxruntime. They need a working torchvision: :func:`declared_cases` is
empty without one.
"""

from __future__ import annotations

from functools import partial

import torch

from onnxplug.testing import Nodes, OpCase


def torchvision_ops():
    """``torchvision.ops``, or None where torchvision is missing or does not load (PyPI's
    torchvision beside a CPU-only torch build has no compiled ops)."""
    try:
        import torchvision.ops as ops

        ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)  # the compiled ops are there
    except Exception:  # noqa: BLE001 - any failure means: no torchvision here
        return None
    return ops


def random_boxes(n: int, size: float = 32.0, generator=None) -> torch.Tensor:
    """``[n, 4]`` boxes (x1, y1, x2, y2) inside a ``size`` x ``size`` image, none degenerate."""
    xy = torch.rand(n, 2, generator=generator) * size * 0.7
    wh = torch.rand(n, 2, generator=generator) * size * 0.5 + 1.0
    return torch.cat([xy, (xy + wh).clamp(max=size)], dim=1)


def random_rois(k: int, batch: int = 2, size: float = 32.0) -> torch.Tensor:
    """``[k, 5]`` rois: batch index, then a box."""
    index = torch.arange(k) % batch
    return torch.cat([index[:, None].float(), random_boxes(k, size)], dim=1)


def nms_samples():
    for n in (5, 40):
        yield random_boxes(n), torch.rand(n), 0.5
    yield random_boxes(30), torch.rand(30), 0.2


def batched_samples():
    yield random_boxes(40, 64.0), torch.rand(40), torch.randint(0, 3, (40,))


def per_class_samples():
    """1200 boxes: torchvision's per-class loop branch, captured as onnxplug_vision::batched_nms."""
    for classes in (5, 1):
        yield random_boxes(1200, 64.0), torch.rand(1200), torch.randint(0, classes, (1200,))


def roi_samples(channels: int = 3):
    yield torch.randn(2, channels, 16, 16), random_rois(6)
    yield torch.randn(1, channels, 12, 20), random_rois(4, batch=1, size=24.0)


def deform_samples(with_mask: bool):
    for _ in range(2):
        x = torch.randn(1, 4, 9, 9)
        offset = torch.randn(1, 2 * 2 * 9, 7, 7) * 2
        mask = torch.rand(1, 2 * 9, 7, 7)
        yield (x, offset, mask) if with_mask else (x, offset)


class DeformConv(torch.nn.Module):
    """``torchvision.ops.deform_conv2d`` with 2 offset groups, 3x3 kernel, optional mask."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(6, 4, 3, 3) * 0.3)
        self.bias = torch.nn.Parameter(torch.randn(6))

    def forward(self, x, offset, mask=None):
        import torchvision.ops as ops

        return ops.deform_conv2d(x, offset, self.weight, self.bias, mask=mask)


def declared_cases() -> list[OpCase]:
    ops = torchvision_ops()
    if ops is None:
        return []

    def nms(boxes, scores, iou):
        return ops.nms(boxes, scores, iou)

    def batched(boxes, scores, labels):
        return ops.batched_nms(boxes, scores, labels, 0.5)

    def align(x, rois, aligned, sampling):
        return ops.roi_align(x, rois, (3, 4), spatial_scale=0.5, sampling_ratio=sampling,
                             aligned=aligned)

    def pool(x, rois):
        return ops.roi_pool(x, rois, (3, 3), spatial_scale=0.5)

    def ps_align(x, rois):
        return ops.ps_roi_align(x, rois, (2, 2), spatial_scale=0.5, sampling_ratio=2)

    tol = dict(rtol=1e-4, atol=1e-5)
    no_ort_22 = {(22, None): "onnxruntime has no kernel for RoiAlign-22 / MaxRoiPool-22"}
    cases = [
        OpCase("nms", nms, nms_samples, opsets=(10, None), expect=Nodes("NonMaxSuppression"),
               op="torchvision::nms"),
        OpCase("batched_nms", batched, batched_samples, opsets=(10, None),
               expect=Nodes("NonMaxSuppression"), op="torchvision::nms"),
        OpCase("batched_nms_per_class", batched, per_class_samples, opsets=(11, None),
               expect=Nodes("NonMaxSuppression"), op="onnxplug_vision::batched_nms"),
        OpCase("roi_pool", pool, roi_samples, opsets=(7, None), expect=Nodes("MaxRoiPool"),
               op="torchvision::roi_pool", xfail=no_ort_22, **tol),
        OpCase("ps_roi_align", ps_align, partial(roi_samples, 3 * 4), opsets=(16, None),
               expect=Nodes("RoiAlign"), op="torchvision::ps_roi_align", xfail=no_ort_22, **tol),
        OpCase("deform_conv2d", DeformConv, partial(deform_samples, False), opsets=(19, None),
               module=True, expect=Nodes("DeformConv"), op="torchvision::deform_conv2d",
               rtol=1e-4, atol=1e-4),
        OpCase("deform_conv2d_mask", DeformConv, partial(deform_samples, True), opsets=(19, None),
               module=True, expect=Nodes("DeformConv"), op="torchvision::deform_conv2d",
               rtol=1e-4, atol=1e-4),
    ]
    for aligned in (False, True):
        for sampling in (2, -1):
            cases.append(OpCase(
                f"roi_align_aligned{int(aligned)}_sampling{sampling}",
                partial(align, aligned=aligned, sampling=sampling), roi_samples,
                opsets=(16 if aligned else 10, None), expect=Nodes("RoiAlign"),
                op="torchvision::roi_align", xfail=no_ort_22, **tol))
    return cases

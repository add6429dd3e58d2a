"""Keypoint R-CNN's ``heatmaps_to_keypoints`` as one op: ``onnxplug_vision::heatmaps_to_keypoints``
-> a ``Loop`` over the detections, each a bicubic ``Resize`` to its box's run-time size (opset 11).

torchvision turns each detection's ``N`` keypoint heatmaps (``maps[K, N, H, W]``, 56 x 56) into
keypoints by resizing them, bicubic with ``align_corners=False``, to the box's size rounded up
(``ceil`` of width and height, at least 1), taking each map's ``argmax`` and mapping that pixel's
centre back into the box. It loops in Python with the sizes as Python ints, so a capture
unrolls the loop for the example's detections and bakes each one's box size into the graph:
on any other image every keypoint is read from a map resized to the example's box, off by
whole pixels, with another score (measured on Keypoint R-CNN's second image: 61% of the values).

While a model is captured (``capture.py``) torchvision's function is replaced by this op. Its
eager kernel is the same loop; its ONNX form is a ``Loop`` over ``K`` (whatever the run-time
count) whose body reads the box, computes the size, and ``Resize``s with that size as a
tensor, so the graph holds for every image. Returns ``xy_preds[K, N, 3]`` (x, y, visibility 1)
and ``end_scores[K, N]`` (the resized map's value at the keypoint), as torchvision does.

The op is defined (``define()``) only when a capture runs beside an imported torchvision.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from onnxplug import symbolic

from .forms import as_float32, reshape
from .lazy_op import defined_once

NAME = "onnxplug_vision::heatmaps_to_keypoints"
_BODY = itertools.count()


def _make_op():
    """``torch.ops.onnxplug_vision.heatmaps_to_keypoints``."""

    @torch.library.custom_op(NAME, mutates_args=())
    def heatmaps_to_keypoints(maps: torch.Tensor, rois: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per detection: resize its maps to its box, argmax, back to image coordinates."""
        k, n = maps.shape[0], maps.shape[1]
        widths = (rois[:, 2] - rois[:, 0]).clamp(min=1)
        heights = (rois[:, 3] - rois[:, 1]).clamp(min=1)
        xy = torch.zeros((k, n, 3), dtype=torch.float32)
        scores = torch.zeros((k, n), dtype=torch.float32)
        for i in range(k):
            w, h = int(widths[i].ceil().item()), int(heights[i].ceil().item())
            resized = F.interpolate(maps[i][:, None], size=(h, w), mode="bicubic",
                                    align_corners=False)[:, 0].reshape(n, -1)
            pos = resized.argmax(dim=1)
            x_int = pos % w
            y_int = torch.div(pos - x_int, w, rounding_mode="floor")
            xy[i, :, 0] = (x_int.float() + 0.5) * (widths[i] / w) + rois[i, 0]
            xy[i, :, 1] = (y_int.float() + 0.5) * (heights[i] / h) + rois[i, 1]
            xy[i, :, 2] = 1
            scores[i] = resized.gather(1, pos[:, None])[:, 0]
        return xy, scores

    @heatmaps_to_keypoints.register_fake
    def _(maps, rois):
        k, n = maps.shape[0], maps.shape[1]
        return maps.new_empty((k, n, 3), dtype=torch.float32), maps.new_empty((k, n), dtype=torch.float32)

    return torch.ops.onnxplug_vision.heatmaps_to_keypoints.default


define = defined_once(_make_op)


def replacement(maps: torch.Tensor, rois: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Stands in for torchvision's ``roi_heads.heatmaps_to_keypoints`` during capture."""
    return define()(maps, rois)


def _i64(g, values):
    return g.constant(torch.tensor(values, dtype=torch.int64))


def _f32(g, value):
    return g.constant(torch.tensor(value, dtype=torch.float32))


@symbolic(NAME, opset=11)
def heatmaps_to_keypoints(g, maps, rois):
    maps, rois = as_float32(g, maps), as_float32(g, rois)
    count = g.op("Gather", g.op("Shape", maps), _i64(g, 0), axis_i=0)
    body = g.subgraph("heatmaps_to_keypoints")
    i = body.add_input("i", torch.int64, [])
    cond = body.add_input("cond", torch.bool, [])
    one_index = reshape(body, i, [1])
    # [1, N, H, W] -> [N, 1, H, W]: each keypoint's map is one image of one channel
    m = body.op("Transpose", body.op("Gather", maps, one_index, axis_i=0), perm_is=[1, 0, 2, 3])
    box = body.op("Gather", rois, i, axis_i=0)  # [4]

    def corner(k):
        return body.op("Gather", box, _i64(body, k), axis_i=0)

    x1, y1 = corner(0), corner(1)
    w = body.op("Max", body.op("Sub", corner(2), x1), _f32(body, 1.0))
    h = body.op("Max", body.op("Sub", corner(3), y1), _f32(body, 1.0))
    wc, hc = body.op("Ceil", w), body.op("Ceil", h)
    wi, hi = body.op("Cast", wc, to_i=7), body.op("Cast", hc, to_i=7)
    sizes = body.op("Concat", body.op("Slice", body.op("Shape", m), _i64(body, [0]), _i64(body, [2])),
                    reshape(body, hi, [1]), reshape(body, wi, [1]), axis_i=0)
    empty = _f32(body, [])
    # half_pixel is PyTorch's bicubic source index for every size (pytorch_half_pixel maps a
    # size of 1 to 0, PyTorch to the centre)
    resized = body.op("Resize", m, empty, empty, sizes, mode_s="cubic", cubic_coeff_a_f=-0.75,
                      coordinate_transformation_mode_s="half_pixel")
    flat = body.op("Reshape", resized, _i64(body, [0, -1]))  # [N, h * w]
    pos = body.op("ArgMax", flat, axis_i=1, keepdims_i=1)  # [N, 1], the first maximum
    x_int = body.op("Mod", pos, wi)
    y_int = body.op("Div", body.op("Sub", pos, x_int), wi)
    half = _f32(body, 0.5)

    def back(index, size, ceil, origin):
        centre = body.op("Add", body.op("Cast", index, to_i=1), half)
        return body.op("Add", body.op("Mul", centre, body.op("Div", size, ceil)), origin)

    x, y = back(x_int, w, wc, x1), back(y_int, h, hc, y1)
    visible = body.op("ConstantOfShape", body.op("Shape", x),
                      value=torch.tensor([1.0], dtype=torch.float32))
    xy = body.op("Concat", x, y, visible, axis_i=1)  # [N, 3]
    score = reshape(body, body.op("GatherElements", flat, pos, axis_i=1), [-1])
    graph = body.finish(body.op("Identity", cond), xy, score)
    prefix = f"kp{next(_BODY)}_"  # the checker wants names unique across graphs
    for v in graph.inputs:
        v.name = prefix + v.name
    for node in graph:
        for k, v in enumerate(node.outputs):
            v.name = f"{prefix}{v.name or k}"
    xy, scores = g.op("Loop", count, g.constant(True, torch.bool), body_g=graph, outputs=2)
    # no detection: onnxruntime gives a loop that never ran [0, 0, 0]; reshaped to [0, N, 3]
    n = g.op("Slice", g.op("Shape", maps), _i64(g, [1]), _i64(g, [2]))
    xy = g.op("Reshape", xy, g.op("Concat", _i64(g, [-1]), n, _i64(g, [3]), axis_i=0))
    return xy, g.op("Reshape", scores, g.op("Concat", _i64(g, [-1]), n, axis_i=0))


ALL = [heatmaps_to_keypoints]

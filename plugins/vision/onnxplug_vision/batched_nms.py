"""``batched_nms`` per class, as one op: ``onnxplug_vision::batched_nms`` -> one
``NonMaxSuppression`` with a class axis (opset 11).

torchvision's ``batched_nms(boxes, scores, idxs, iou_threshold)`` keeps, separately for each
value of ``idxs`` (a class, a pyramid level), the boxes ``nms`` keeps, and returns their indices
by decreasing score. It has two implementations: for many boxes (``boxes.numel() > 4000`` on
CPU) a Python loop over ``torch.unique(idxs)`` (``_batched_nms_vanilla``), otherwise one ``nms``
over boxes offset by ``idx * (max coordinate + 1)`` (the "coordinate trick", exact up to the
rounding of the offset coordinates).

A capture can only unroll the loop for the example's classes, so while a model is captured
(``capture.py``) torchvision's loop is replaced by this op, whose eager kernel is the same loop
and whose ONNX form gives ``NonMaxSuppression`` one class row per ``idxs`` value: the scores
``[1, C, N]`` hold each box's score in its own class row and ``-inf`` elsewhere, so that the
score threshold (the lowest float) drops it from every other class. The selected boxes are
then ordered by decreasing score, as torchvision returns them. ``idxs`` are expected to be
small non-negative integers (labels, levels); negative ones are shifted to start at 0.

The op is defined (``define()``) only when a capture runs beside an imported torchvision.
"""

from __future__ import annotations


import torch

from onnxplug import symbolic

from .forms import as_float32, reshape
from .lazy_op import defined_once
from .nms import NO_CAP

NAME = "onnxplug_vision::batched_nms"


def _make_op():
    """``torch.ops.onnxplug_vision.batched_nms``."""

    @torch.library.custom_op(NAME, mutates_args=())
    def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor,
                    iou_threshold: float) -> torch.Tensor:
        """Per-class NMS: the kept indices, by decreasing score (torchvision's loop)."""
        keep = torch.zeros_like(scores, dtype=torch.bool)
        for value in torch.unique(idxs).tolist():
            where = torch.where(idxs == value)[0]
            kept = torch.ops.torchvision.nms(boxes[where], scores[where], iou_threshold)
            keep[where[kept]] = True
        kept = torch.where(keep)[0]
        return kept[scores[kept].sort(descending=True)[1]]

    @batched_nms.register_fake
    def _(boxes, scores, idxs, iou_threshold):
        n = torch.library.get_ctx().new_dynamic_size()
        return boxes.new_empty((n,), dtype=torch.int64)

    return torch.ops.onnxplug_vision.batched_nms.default


define = defined_once(_make_op)


def vanilla(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor,
            iou_threshold: float) -> torch.Tensor:
    """Stands in for torchvision's ``_batched_nms_vanilla`` during capture."""
    return define()(boxes, scores, idxs, float(iou_threshold))


def _i64(g, values):
    return g.constant(torch.tensor(values, dtype=torch.int64))


@symbolic(NAME, opset=11)
def batched_nms(g, boxes, scores, idxs, iou_threshold):
    scores = as_float32(g, scores)
    classes = g.op("Cast", idxs, to_i=7)
    # classes start at 0: min(idxs, 0) is subtracted (0 for labels and levels)
    with_zero = g.op("Concat", classes, _i64(g, [0]), axis_i=0)
    classes = g.op("Sub", classes, g.op("ReduceMin", with_zero, keepdims_i=1))
    count = g.op("Add", g.op("ReduceMax", g.op("Concat", classes, _i64(g, [0]), axis_i=0),
                             keepdims_i=0), _i64(g, 1))
    rows = g.op("Range", _i64(g, 0), count, _i64(g, 1))
    own = g.op("Equal", reshape(g, rows, [-1, 1]), reshape(g, classes, [1, -1]))
    lowest = torch.finfo(torch.float32).min
    per_class = g.op("Where", own, reshape(g, scores, [1, -1]),
                     g.constant(torch.tensor(float("-inf"), dtype=torch.float32)))
    selected = g.op("NonMaxSuppression",
                    reshape(g, as_float32(g, boxes), [1, -1, 4]),
                    g.op("Unsqueeze", per_class, axes_is=[0]) if g.opset < 13 else
                    g.op("Unsqueeze", per_class, _i64(g, [0])),
                    _i64(g, [NO_CAP]),
                    g.constant(torch.tensor([float(iou_threshold)], dtype=torch.float32)),
                    g.constant(torch.tensor([lowest], dtype=torch.float32)))
    kept = g.op("Gather", selected, _i64(g, 2), axis_i=1)
    kept_scores = g.op("Gather", scores, kept, axis_i=0)
    k = g.op("Shape", kept)
    _, order = g.op("TopK", kept_scores, k, axis_i=0, largest_i=1, sorted_i=1, outputs=2)
    return g.op("Gather", kept, order, axis_i=0)


ALL = [batched_nms]

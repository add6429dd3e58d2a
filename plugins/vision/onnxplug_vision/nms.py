"""``torchvision::nms`` -> ``NonMaxSuppression`` (opset 10).

``torchvision.ops.nms(boxes [N, 4], scores [N], iou_threshold)`` returns the kept indices
(int64), by decreasing score. NonMaxSuppression takes a batch and class axis and returns
``[M, 3]`` triples (batch, class, box); the box column is the answer. ``batched_nms`` is not an
op: torchvision computes it with one ``nms`` over boxes offset per class, which the vision
plugin's capture settings make it use (``capture.py``).
"""

from __future__ import annotations

import torch

from onnxplug import symbolic

from .forms import as_float32, reshape

# NonMaxSuppression's cap per class; torchvision's nms has none.
NO_CAP = 2**31 - 1


@symbolic("torchvision::nms", opset=10)
def nms(g, boxes, scores, iou_threshold):
    selected = g.op("NonMaxSuppression",
                    reshape(g, as_float32(g, boxes), [1, -1, 4]),
                    reshape(g, as_float32(g, scores), [1, 1, -1]),
                    g.constant(torch.tensor([NO_CAP], dtype=torch.int64)),
                    g.constant(torch.tensor([float(iou_threshold)], dtype=torch.float32)))
    return g.op("Gather", selected, g.constant(torch.tensor(2, dtype=torch.int64)), axis_i=1)


ALL = [nms]

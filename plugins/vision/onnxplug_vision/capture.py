"""Capture settings for torchvision models: a wrapper around every ``onnxplug_capture``.

While a model is captured, torchvision's ``batched_nms`` always uses its coordinate trick (one
``nms`` over boxes offset per class: the same result, and what torchvision itself uses under
tracing) instead of a Python loop over ``torch.unique(labels)``, which a capture could only
unroll for the example's labels.

Nothing happens unless the process has already imported torchvision: this module never
imports it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def torchvision_capture() -> Iterator[None]:
    boxes = sys.modules.get("torchvision.ops.boxes")
    trick = getattr(boxes, "_batched_nms_coordinate_trick", None)
    if boxes is None or trick is None or not hasattr(boxes, "_batched_nms_vanilla"):
        yield
        return
    saved = boxes._batched_nms_vanilla
    boxes._batched_nms_vanilla = trick
    try:
        yield
    finally:
        boxes._batched_nms_vanilla = saved

"""Capture settings for torchvision models: a wrapper around every ``onnxplug_capture``.

While a model is captured, torchvision's ``batched_nms`` keeps its choice between its two
implementations (by the number of boxes), but the one that loops in Python over
``torch.unique(idxs)`` (``_batched_nms_vanilla``), which a capture could only unroll for the
example's classes, is replaced by one op, ``onnxplug_vision::batched_nms``, that computes the
same thing (``batched_nms.py``) and becomes one ``NonMaxSuppression`` with a class axis. The
other implementation (one ``nms`` over boxes offset per class) is captured as it is. Both are
restored when the capture ends.

Nothing happens unless the process has already imported torchvision: this module never
imports it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from . import batched_nms


@contextlib.contextmanager
def torchvision_capture() -> Iterator[None]:
    boxes = sys.modules.get("torchvision.ops.boxes")
    if boxes is None or not hasattr(boxes, "_batched_nms_vanilla"):
        yield
        return
    saved = boxes._batched_nms_vanilla
    boxes._batched_nms_vanilla = batched_nms.vanilla
    try:
        yield
    finally:
        boxes._batched_nms_vanilla = saved

"""Capture settings for torchvision models: a wrapper around every ``onnxplug_capture``.

While a model is captured, three of torchvision's functions that loop in Python over values of
the data are replaced by equal computations a capture keeps whole; all are restored when the
capture ends:

* ``batched_nms`` keeps its choice between its two implementations (by the number of boxes),
  but the one that loops over ``torch.unique(idxs)`` (``_batched_nms_vanilla``), which a
  capture could only unroll for the example's classes, becomes one op,
  ``onnxplug_vision::batched_nms`` (``batched_nms.py``): one ``NonMaxSuppression`` with a class
  axis. The other (one ``nms`` over boxes offset per class) is captured as it is.
* Mask R-CNN's ``paste_masks_in_image`` (a resize per detection, to sizes taken from the
  boxes as Python ints) becomes ``masks.paste_masks_in_image``: the same pixels for all
  detections at once.
* Keypoint R-CNN's ``heatmaps_to_keypoints`` (a bicubic resize per detection, to its box's
  size as Python ints, which a capture bakes in) becomes one op,
  ``onnxplug_vision::heatmaps_to_keypoints`` (``keypoints.py``): an ONNX ``Loop`` whose
  ``Resize`` takes each box's size at run time.

Nothing happens unless the process has already imported torchvision: this module never
imports it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from . import batched_nms, keypoints, masks

# (module, attribute, replacement): applied where the module is imported
PATCHES = (
    ("torchvision.ops.boxes", "_batched_nms_vanilla", batched_nms.vanilla),
    ("torchvision.models.detection.transform", "paste_masks_in_image",
     masks.paste_masks_in_image),
    ("torchvision.models.detection.roi_heads", "heatmaps_to_keypoints", keypoints.replacement),
)


@contextlib.contextmanager
def torchvision_capture() -> Iterator[None]:
    saved = []
    try:
        for module_name, attribute, replacement in PATCHES:
            module = sys.modules.get(module_name)
            if module is not None and hasattr(module, attribute):
                saved.append((module, attribute, getattr(module, attribute)))
                setattr(module, attribute, replacement)
        yield
    finally:
        for module, attribute, original in reversed(saved):
            setattr(module, attribute, original)

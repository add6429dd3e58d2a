"""onnxplug-vision: conversions of torchvision's operators (``torchvision::nms``,
``roi_align``, ``roi_pool``, ``ps_roi_align``, ``ps_roi_pool``, ``deform_conv2d``) and the capture
settings that let torchvision's detection models export.

torchvision is optional: this package never imports it. Its conversions are keyed on
``torchvision::`` ops, which only appear in graphs of models that use torchvision, and its
capture wrapper acts only when the model's process has already imported torchvision.
"""

from __future__ import annotations

__version__ = "0.1.0"

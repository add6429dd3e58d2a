"""Plugin object of onnxplug-vision (entry point ``vision``)."""

from __future__ import annotations

import onnxplug

from . import batched_nms, deform, keypoints, nms, roi
from .capture import torchvision_capture


@onnxplug.hookimpl
def onnxplug_register_symbolics(register):
    for fn in nms.ALL + batched_nms.ALL + roi.ALL + deform.ALL + keypoints.ALL:
        register(fn)


@onnxplug.hookimpl(wrapper=True, tryfirst=True)
def onnxplug_capture(model, args, kwargs, options):
    """Around every capture strategy (torch.export and the tracing fallback alike)."""
    with torchvision_capture():
        return (yield)


@onnxplug.hookimpl
def onnxplug_register_test_cases(register):
    """The declared cases need torchvision; without a working one there are none."""
    from .cases import declared_cases

    for case in declared_cases():
        register(case)

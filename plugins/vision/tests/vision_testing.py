"""Shared by the vision plugin's tests: skip a whole module, with the reason, where torchvision
does not work (the default ``.venv``); run them with ``.venv-vision/bin/python -m pytest
plugins/vision/tests``."""

from __future__ import annotations

import pytest

from onnxplug_vision.cases import torchvision_ops

REASON = ("torchvision does not import or has no compiled ops in this environment; run these "
          "tests with .venv-vision/bin/python (made by benchmarks/vision_env.sh)")


def require_torchvision():
    """``torchvision.ops``, or skip the calling test module."""
    ops = torchvision_ops()
    if ops is None:
        pytest.skip(REASON, allow_module_level=True)
    return ops

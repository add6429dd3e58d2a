"""The vision plugin's declared cases (``onnxplug_vision.cases``) through the plugin test kit,
at the opsets where the conversions change (10, 16, 19) and the newest; ``pytest
--onnxplug-plugin vision`` runs every opset of each case's range."""

from __future__ import annotations

import pytest
from vision_testing import require_torchvision

require_torchvision()

SAMPLED = [10, 16, 19, 22]


@pytest.mark.onnxplug_plugin("vision", opsets=SAMPLED)
def test_declared_case(onnxplug_case):
    onnxplug_case.run()

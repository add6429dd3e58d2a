"""The plugin's declared cases (``onnxplug_functions.cases``), run through the test kit.

The default run samples opsets (each case's lowest and the newest are always included);
``pytest --onnxplug-plugin functions`` runs every opset from 15.
"""

from __future__ import annotations

import pytest

SAMPLED = [15, 17, 18, 21]


@pytest.mark.onnxplug_plugin("functions", opsets=SAMPLED)
def test_declared_case(onnxplug_case):
    onnxplug_case.run()

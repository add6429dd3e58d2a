"""The opset plugin's declared cases (``onnxplug_opset.cases``), run through the test kit.

The default run samples the opsets where conversions change (each case's lowest and the
newest opset are always included); ``-m slow`` runs every opset of every range, as
``pytest --onnxplug-plugin opset`` and ``onnxplug test-plugin opset`` do.
"""

from __future__ import annotations

import pytest

SAMPLED = [9, 13, 17, 18, 20, 23]


@pytest.mark.onnxplug_plugin("opset", opsets=SAMPLED)
def test_declared_case(onnxplug_case):
    onnxplug_case.run()


@pytest.mark.slow
@pytest.mark.onnxplug_plugin("opset")
def test_declared_case_every_opset(onnxplug_case):
    onnxplug_case.run()

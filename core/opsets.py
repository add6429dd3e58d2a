"""The default ONNX domain's opset bounds and the default target: defined here, once.

* :data:`MIN_OPSET` (7): the lowest ``opset_version`` an export accepts.
* :data:`DEFAULT_OPSET` (17): the target when ``opset_version`` is not given.
* :data:`NEWEST_OPSET`: the newest opset the installed ``onnx`` package defines (the top of
  every range; a plugin's conversion "serves until the newest" up to it).

Everything else (option validation, the CLI, the test kit, reports) reads these names.
"""

from __future__ import annotations

import onnx

MIN_OPSET = 7
DEFAULT_OPSET = 17
NEWEST_OPSET: int = onnx.defs.onnx_opset_version()


def newest_opset() -> int:
    """The newest default-domain opset the installed ``onnx`` defines (:data:`NEWEST_OPSET`)."""
    return NEWEST_OPSET


def supported_opsets() -> range:
    """Every target opset an export accepts: ``MIN_OPSET`` to ``NEWEST_OPSET``, inclusive."""
    return range(MIN_OPSET, NEWEST_OPSET + 1)

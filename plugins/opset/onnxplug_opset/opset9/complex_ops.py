"""Complex forms that need opset 9 (``atan2`` is built from ``Where``/``Sign``), registered
with ``complex=True``: see ``opset7.complex_ops``."""

from __future__ import annotations

from .. import complex_helpers as ch
from ..registration import op


@op("aten::angle", complex=True)
def complex_angle(g, x):
    """``atan2(imag, real)``: a real tensor."""
    return ch.angle(g, x)

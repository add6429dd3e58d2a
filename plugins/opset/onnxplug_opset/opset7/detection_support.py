"""Boolean arithmetic on symbolic sizes: ``_operator::and_`` / ``or_`` (``And``/``Or``, opset 7).

torch.export records ``a & b`` / ``a | b`` of two SymBools (for example ``w >= 1 and h >= 1``
about sizes that come from the data, in torchvision's Keypoint R-CNN) as ``_operator`` calls,
like the other SymInt arithmetic of ``symint.py``. Python bools arrive as constants.
"""

from __future__ import annotations

import torch

from ..helpers import as_value
from ..registration import op


@op("_operator::and_")
def sym_and(g, a, b):
    return g.op("And", as_value(g, a, torch.bool), as_value(g, b, torch.bool))


@op("_operator::or_")
def sym_or(g, a, b):
    return g.op("Or", as_value(g, a, torch.bool), as_value(g, b, torch.bool))

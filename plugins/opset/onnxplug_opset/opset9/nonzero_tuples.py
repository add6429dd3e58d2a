"""Opset 9: the tuple forms of NonZero, ``torch.where(condition)`` and ``aten::nonzero_numpy``.

One ``NonZero`` gives the ``(rank, count)`` indices; row ``i`` is the index tensor of dim ``i``.
torchvision's detection heads call ``torch.where(mask)``; without a conversion it cost two
decompositions of the whole program (``where`` into ``nonzero_numpy``, then that).
"""

from __future__ import annotations

import torch

from ..helpers import reshape
from ..registration import op


@op("aten::nonzero_numpy", "aten::where.default")
def nonzero_numpy(g, condition):
    rank = g.rank(condition)
    flat = reshape(g, condition, [1]) if rank == 0 else condition  # 0-d: one element
    nz = g.op("NonZero", flat)
    return tuple(g.op("Gather", nz, g.constant(i, torch.int64), axis_i=0)
                 for i in range(max(rank, 1)))

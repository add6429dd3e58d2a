"""Embedding lookups, as of opset 7 (``embedding_bag``: opset 9)."""

from __future__ import annotations

import torch

from ..helpers import cast
from ..registration import op


@op("aten::embedding")
def embedding(g, weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    return g.op("Gather", weight, cast(g, indices, torch.int64), axis_i=0)

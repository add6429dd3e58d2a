"""``bincount`` as of opset 9: a one-hot match of every value against ``0..n-1``, summed.

The output length ``n = max(max(x) + 1, minlength)`` depends on the data (torch.export gives it
an unbacked size): it is computed at run time and ``arange(n)`` is NonZero of ``n`` ones
(opset 9). The match matrix is ``len(x) x n``; opset 16 replaces it with a ScatterElements add.
"""

from __future__ import annotations

import torch

from ..forms import reduce, unsqueeze
from ..helpers import cast, onnx_type
from ..registration import op
from ..shape_helpers import arange


def output_length(g, x64, minlength: int):
    """``max(max(x) + 1, minlength)`` as a 0-d int64 value for the 1-D int64 ``x64``; the
    ``minlength`` joins the values before the ReduceMax, so an empty ``x`` gives ``minlength``."""
    plus1 = g.op("Add", x64, g.constant(1, torch.int64))
    floor = g.constant([max(int(minlength), 0)], torch.int64)
    both = g.op("Concat", plus1, floor, axis_i=0)
    return reduce(g, "ReduceMax", both, None, False)


def bincount_dtype(g, weights) -> torch.dtype:
    """int64 counts; with weights, float32 for float32 weights and float64 for any other dtype."""
    out = g.out_dtype()
    if out is not None:
        return out
    if weights is None:
        return torch.int64
    return torch.float32 if g.dtype(weights) == torch.float32 else torch.float64


def _typed(g, v, dt):
    return g.set_type(v, dt, shape=g.out_shape())


@op("aten::bincount")
def bincount(g, x, weights=None, minlength=0):
    """``torch.bincount(x, weights, minlength)``: ``out[i]`` counts (or sums the weights of) the
    positions where ``x == i``."""
    dt = bincount_dtype(g, weights)
    x64 = cast(g, x, torch.int64)
    n = output_length(g, x64, minlength)
    hits = g.op("Equal", unsqueeze(g, x64, [1]), unsqueeze(g, arange(g, n), [0]))
    terms = g.op("Cast", hits, to_i=onnx_type(dt))
    if weights is not None:
        terms = g.op("Mul", terms, unsqueeze(g, cast(g, weights, dt), [1]))
    return _typed(g, reduce(g, "ReduceSum", terms, [0], False), dt)

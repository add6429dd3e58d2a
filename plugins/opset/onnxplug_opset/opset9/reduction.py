"""Opset 9: IsNaN makes the NaN-skipping reductions (nansum, nanmean) expressible."""

from __future__ import annotations

import torch

from .. import forms
from ..forms import reduce
from ..helpers import cast, scalar
from ..nn_helpers import axes_of
from ..registration import op


def _zero_nans(g, x, dt):
    x = cast(g, x, dt)
    if not dt.is_floating_point:
        return x, None
    nan = g.op("IsNaN", x)
    return g.op("Where", nan, scalar(g, 0.0, dt), x), nan


@op("aten::nansum")
def nansum(g, x, dim=None, keepdim=False, *, dtype=None):
    out = g.out_dtype()
    compute = torch.float32 if out in (torch.bfloat16,) else out
    rank = g.rank(x)
    x, _ = _zero_nans(g, x, compute)
    if rank == 0:
        return cast(g, x, out)
    return cast(g, reduce(g, "ReduceSum", x, axes_of(dim, rank), bool(keepdim)), out)


@op("aten::nanmean")
def nanmean(g, x, dim=None, keepdim=False, *, dtype=None):
    """Sum of the non-NaN elements over their count (NaN where a slice holds only NaNs)."""
    out = g.out_dtype()
    compute = torch.float32 if out == torch.bfloat16 else out
    rank = g.rank(x)
    z, nan = _zero_nans(g, x, compute)
    if rank == 0:
        return cast(g, x, out)
    axes = axes_of(dim, rank)
    total = reduce(g, "ReduceSum", z, axes, bool(keepdim))
    valid = cast(g, g.op("Not", nan), compute)
    n = reduce(g, "ReduceSum", valid, axes, bool(keepdim))
    return cast(g, g.op("Div", total, n), out)





@op("aten::histc")
def histc(g, x, bins=100, min=0, max=0):
    """Counts in ``bins`` equal bins over ``[min, max]`` (the data's range when both are 0).

    Each element's bin is compared with every bin index (a one-hot of ``numel x bins``) and the
    matches summed; values outside the range are not counted, the top edge goes to the last bin.
    """
    dt = g.dtype(x)
    flat = g.op("Reshape", x, g.constant([-1]))
    if min == max:
        lo = reduce(g, "ReduceMin", flat, [0], False)
        hi = reduce(g, "ReduceMax", flat, [0], False)
        same = forms.float_equal(g, lo, hi)
        one = scalar(g, 1.0, dt)
        lo = g.op("Where", same, g.op("Sub", lo, one), lo)
        hi = g.op("Where", same, g.op("Add", hi, one), hi)
    else:
        lo, hi = scalar(g, float(min), dt), scalar(g, float(max), dt)
    scaled = g.op("Mul", g.op("Div", g.op("Sub", flat, lo), g.op("Sub", hi, lo)),
                  scalar(g, float(bins), dt))
    idx = cast(g, g.op("Floor", scaled), torch.int64)
    top = forms.float_equal(g, cast(g, flat, torch.float64), cast(g, hi, torch.float64))
    idx = g.op("Where", top, g.constant(bins - 1, torch.int64), idx)
    inside = g.op("And", g.op("Not", g.op("Less", flat, lo)),
                  g.op("Not", g.op("Greater", flat, hi)))
    idx = g.op("Where", inside, idx, g.constant(-1, torch.int64))
    onehot = g.op("Equal", forms.unsqueeze(g, idx, [1]), g.constant(torch.arange(bins)))
    counts = reduce(g, "ReduceSum", cast(g, onehot, torch.float32), [0], False)
    return cast(g, counts, g.out_dtype())

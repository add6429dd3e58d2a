"""Opset 9: IsNaN makes the NaN-skipping reductions (nansum, nanmean) expressible."""

from __future__ import annotations

import torch

from ..helpers import cast, reduce, scalar
from ..nn_helpers import recast, axes_of
from ..registration import op


def _zero_nans(g, x, dt):
    x = recast(g, x, dt)
    if not dt.is_floating_point:
        return x, None
    nan = g.op("IsNaN", x, dtype=torch.bool)
    return g.op("Where", nan, scalar(g, 0.0, dt), x, dtype=dt), nan


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
    valid = cast(g, g.op("Not", nan, dtype=torch.bool), compute)
    n = reduce(g, "ReduceSum", valid, axes, bool(keepdim))
    return cast(g, g.op("Div", total, n, dtype=compute), out)




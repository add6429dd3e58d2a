"""Opset 9: embedding_bag (its max mode needs Where)."""

from __future__ import annotations

import torch

from ..forms import reduce, unsqueeze
from ..helpers import cast, reshape, scalar
from ..nn_helpers import values_only
from ..registration import op


def _bag_matrix(g, indices, offsets, bags: int, length: int, include_last_offset: bool):
    """``M[b, l]``: 1 where index ``l`` belongs to bag ``b`` (bag = how many offsets are <= l, minus 1)."""
    offsets = cast(g, offsets, torch.int64)
    if include_last_offset:
        from ..forms import slice_

        offsets = slice_(g, offsets, [0], [bags], [0])
    pos = g.constant(torch.arange(length).reshape(length, 1))
    started = g.op("Not", g.op("Greater", unsqueeze(g, offsets, [0]), pos))
    bag_of = g.op("Sub", reduce(g, "ReduceSum", cast(g, started, torch.int64), [1], False),
                  scalar(g, 1, torch.int64))  # [L]
    return g.op("Equal", g.constant(torch.arange(bags).reshape(bags, 1)), unsqueeze(g, bag_of, [0]))  # [B, L]


@op("aten::embedding_bag.padding_idx", "aten::embedding_bag")
def embedding_bag(g, weight, indices, offsets, scale_grad_by_freq=False, mode=0, sparse=False,
                  per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """Bags as a membership matrix: sums and means are a MatMul, max a masked ReduceMax.

    Only the pooled output is converted (the other outputs serve the backward pass).
    """
    if not values_only(g):
        raise NotImplementedError("embedding_bag's auxiliary outputs")
    dt = g.dtype(weight)
    idx = cast(g, indices, torch.int64)
    if g.rank(indices) == 2:
        n, length = g.shape(indices)
        if not isinstance(n, int) or not isinstance(length, int):
            raise NotImplementedError("embedding_bag with dynamic bag shapes")
        bags = n
        member = g.constant(torch.eye(n, dtype=torch.bool).repeat_interleave(length, dim=1))
        idx = reshape(g, idx, [-1])
        if per_sample_weights is not None:
            per_sample_weights = reshape(g, per_sample_weights, [-1])
    else:
        total, nb = g.shape(indices)[0], g.shape(offsets)[0]
        if not isinstance(total, int) or not isinstance(nb, int):
            raise NotImplementedError("embedding_bag with dynamic sizes")
        bags = nb - 1 if include_last_offset else nb
        member = _bag_matrix(g, idx, offsets, bags, total, include_last_offset)
    if padding_idx is not None and padding_idx < 0:  # ATen counts a negative index from the end
        padding_idx += g.shape(weight)[0]
    if padding_idx is not None:
        keep = g.op("Not", g.op("Equal", idx, scalar(g, padding_idx, torch.int64)))
        member = g.op("And", member, unsqueeze(g, keep, [0]))
    rows = g.op("Gather", weight, idx, axis_i=0)  # [L, D]
    if mode == 2:
        masked = g.op("Where", unsqueeze(g, member, [2]), unsqueeze(g, rows, [0]), scalar(g, float("-inf"), dt))
        out = reduce(g, "ReduceMax", masked, [1], False)
        has = cast(g, reduce(g, "ReduceMax", cast(g, member, torch.int32), [1], True, dt=torch.int32), torch.bool)
        return g.op("Where", has, out, scalar(g, 0.0, dt)), None, None, None
    m = cast(g, member, dt)
    if per_sample_weights is not None:
        m = g.op("Mul", m, unsqueeze(g, cast(g, per_sample_weights, dt), [0]))
    out = g.op("MatMul", m, rows)  # [B, D]
    if mode == 1:
        n_in = reduce(g, "ReduceSum", cast(g, member, dt), [1], True)
        out = g.op("Div", out, g.op("Max", n_in, g.constant(torch.ones(bags, 1, dtype=dt))))
    return out, None, None, None

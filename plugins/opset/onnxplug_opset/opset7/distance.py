"""Cosine similarity and pairwise distances."""

from __future__ import annotations

import torch

from ..forms import clip, reduce
from ..helpers import cast, reshape, scalar
from ..nn_helpers import vector_norm
from ..registration import op


@op("aten::cosine_similarity")
def cosine_similarity(g, x1, x2, dim=1, eps=1e-8):
    """``sum(x1 / max(|x1|, eps) * x2 / max(|x2|, eps))`` along ``dim``, as ATen computes it."""
    dt = g.out_dtype()
    rank = len(g.out_shape()) + 1
    axis = dim % rank
    a, b = cast(g, x1, dt), cast(g, x2, dt)
    ra, rb = g.rank(x1), g.rank(x2)
    if ra < rank:
        a = reshape(g, a, [1] * (rank - ra) + list(g.shape(x1))) if g.static_shape(x1) else a
    if rb < rank:
        b = reshape(g, b, [1] * (rank - rb) + list(g.shape(x2))) if g.static_shape(x2) else b
    na = clip(g, reduce(g, "ReduceL2", a, [axis], True), eps)
    nb = clip(g, reduce(g, "ReduceL2", b, [axis], True), eps)
    prod = g.op("Mul", g.op("Div", a, na), g.op("Div", b, nb))
    return reduce(g, "ReduceSum", prod, [axis], False)


@op("aten::pairwise_distance")
def pairwise_distance(g, x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """``norm(x1 - x2 + eps, p)`` over the last dim."""
    dt = g.out_dtype()
    d = g.op("Add", g.op("Sub", cast(g, x1, dt), cast(g, x2, dt)), scalar(g, eps, dt))
    rank = max(g.rank(x1), g.rank(x2))
    if rank == 0:
        return g.op("Abs", d, dtype=dt)
    return vector_norm(g, d, p, [rank - 1], bool(keepdim))


@op("aten::_pdist_forward", "aten::pdist")
def pdist(g, x, p=2.0):
    """Distances between rows ``i < j`` of ``x`` (static row count), in PyTorch's order."""
    n = g.shape(x)[0]
    if not isinstance(n, int):
        raise NotImplementedError("pdist with a dynamic number of rows")
    dt = g.dtype(x)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if not pairs:
        return g.constant(torch.zeros(0, dtype=dt))
    rows_i = g.op("Gather", x, g.constant([i for i, _ in pairs], torch.int64), axis_i=0)
    rows_j = g.op("Gather", x, g.constant([j for _, j in pairs], torch.int64), axis_i=0)
    return vector_norm(g, g.op("Sub", rows_i, rows_j), p, [1], False)

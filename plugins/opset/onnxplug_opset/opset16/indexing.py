"""Opset 16: ScatterElements reduces with add and mul, so the summing scatters become one node."""

from __future__ import annotations

import torch

from ..helpers import cast, norm_dim
from ..opset7.indexing import _index_along as index_along, scatter_dense
from ..opset11.indexing import scatter_elements, src_like_index
from ..registration import op
from ..shape_helpers import identity_of, rs

NATIVE = {"sum": "add", "prod": "mul"}


@op("aten::scatter_add")
def scatter_add(g, x, dim, index, src):
    return scatter_elements(g, x, dim, index, src, "add")


@op("aten::scatter.reduce", "aten::scatter.value_reduce")
def scatter_reduce_legacy(g, x, dim, index, src, reduce):
    return scatter_elements(g, x, dim, index, src, "add" if reduce == "add" else "mul")


def native_scatter_reduce(g, x, dim, index, src, reduce, include_self, native):
    """``scatter_reduce`` with an ONNX reduction; ``include_self=False`` first overwrites the
    targets with the reduction's identity, so only the sources count."""
    dt = g.dtype(x)
    base = x
    if not include_self and g.rank(x) > 0:
        ident = identity_of(reduce, dt)
        base = scatter_elements(g, x, dim, index, src_like_index(g, ident, index, dt))
    return scatter_elements(g, base, dim, index, src, native)


def scatter_mean(g, x, dim, index, src, include_self):
    dt = g.dtype(x)
    work = dt if dt.is_floating_point else torch.float64
    xw = cast(g, x, work)
    total = native_scatter_reduce(g, xw, dim, index, cast(g, src, work), "sum", include_self, "add")
    start = g.op("Mul", xw, g.constant(0.0, work), dtype=work)
    if include_self:
        start = g.op("Add", start, g.constant(1.0, work), dtype=work)
    ones = g.op("Add", g.op("Mul", src_like_index(g, cast(g, src, work), index, work), g.constant(0.0, work),
                            dtype=work), g.constant(1.0, work), dtype=work)
    cnt = scatter_elements(g, start, dim, index, ones, "add")
    mean = g.op("Div", total, g.op("Max", cnt, g.constant(1.0, work), dtype=work), dtype=work)
    if not dt.is_floating_point:
        mean = g.op("Floor", mean, dtype=work)
    hit = g.op("Greater", cnt, g.constant(0.0, work), dtype=torch.bool)
    return g.op("Where", hit, cast(g, mean, dt), x, dtype=dt)


def reduce_with(g, x, dim, index, src, reduce, include_self, native_ops):
    if reduce == "mean":
        return scatter_mean(g, x, dim, index, src, include_self)
    native = native_ops.get(reduce)
    if native is None:
        return scatter_dense(g, x, dim, index, src, reduce, include_self)
    return native_scatter_reduce(g, x, dim, index, src, reduce, include_self, native)


@op("aten::scatter_reduce.two")
def scatter_reduce(g, x, dim, index, src, reduce, include_self=True):
    return reduce_with(g, x, dim, index, src, reduce, include_self, NATIVE)


@op("aten::index_reduce")
def index_reduce(g, x, dim, index, source, reduce, include_self=True):
    return index_as_scatter(g, x, dim, index, source, reduce, include_self, NATIVE)


def index_as_scatter(g, x, dim, index, source, reduce, include_self, native_ops):
    if g.rank(x) == 0:
        one = [rs(g, v, [1]) for v in (x, index, source)]
        return rs(g, index_as_scatter(g, one[0], 0, one[1], one[2], reduce, include_self, native_ops), [])
    d = norm_dim(dim, g.rank(x))
    full = index_along(g, index, d, source)
    return reduce_with(g, x, d, full, source, reduce, include_self, native_ops)

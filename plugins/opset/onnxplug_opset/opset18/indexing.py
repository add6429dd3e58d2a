"""Opset 18: ScatterElements also reduces with max and min (``amax``/``amin`` scatters)."""

from __future__ import annotations

from ..opset16.indexing import index_as_scatter, reduce_with
from ..registration import op

NATIVE = {"sum": "add", "prod": "mul", "amax": "max", "amin": "min"}


@op("aten::scatter_reduce.two")
def scatter_reduce(g, x, dim, index, src, reduce, include_self=True):
    return reduce_with(g, x, dim, index, src, reduce, include_self, NATIVE)


@op("aten::index_reduce")
def index_reduce(g, x, dim, index, source, reduce, include_self=True):
    return index_as_scatter(g, x, dim, index, source, reduce, include_self, NATIVE)

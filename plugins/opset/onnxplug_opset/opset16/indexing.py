"""Opset 16: ScatterElements reduces with add and mul, so the summing scatters become one node."""

from __future__ import annotations

import onnx_ir as ir
import torch

from ..bool_helpers import from_bool, to_bool
from ..elementwise_helpers import floor_divide, where
from ..helpers import cast, norm_dim
from ..opset7.indexing import index_along, scatter_dense
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
    if not include_self:
        ident = identity_of(reduce, dt)
        base = g.set_type(scatter_elements(g, x, dim, index, src_like_index(g, ident, index, dt)),
                          shape=g.shape(x))
    return scatter_elements(g, base, dim, index, src, native)


def scatter_mean(g, x, dim, index, src, include_self):
    """``scatter_reduce(..., "mean")``: the sum scattered with ``reduction="add"``, divided by
    how many values reached each target (``x`` itself counting once with ``include_self``).

    Targets nothing reached keep ``x``. Floats divide; integers take PyTorch's floor division
    of the sum (accumulated in ``x``'s dtype, wrapping like PyTorch's) by the count, in int64.
    """
    dt = g.dtype(x)
    shape = g.shape(x)
    total = native_scatter_reduce(g, x, dim, index, src, "sum", include_self, "add")
    cdt = dt if dt.is_floating_point else torch.int64
    start = g.op("Expand", g.constant(1 if include_self else 0, cdt), g.op("Shape", x))
    ones = g.op("Expand", g.constant(1, cdt), g.op("Shape", index))
    cnt = scatter_elements(g, g.set_type(start, shape=shape), dim, index,
                           g.set_type(ones, shape=g.shape(index)), "add")
    divisor = g.op("Max", cnt, g.constant(1, cdt))
    if dt.is_floating_point:
        mean = g.op("Div", total, divisor)
    else:
        mean = cast(g, floor_divide(g, cast(g, total, torch.int64), divisor), dt)
    hit = g.op("Greater", cnt, g.constant(0, cdt))
    return g.set_type(where(g, hit, mean, x, dt), shape=shape)


def reduce_with(g, x, dim, index, src, reduce, include_self, native_ops):
    """``scatter_reduce``: ``mean`` by :func:`scatter_mean`, a reduction ``native_ops`` maps to a
    ScatterElements ``reduction`` natively, the others by ``opset7``'s dense composition.

    Bools reduce as 0/1 int32 and are cast back (sum/amax: ``or``, prod/amin: ``and``, as in
    PyTorch): onnxruntime has no bool max/min ScatterElements, and the identities that
    ``include_self=False`` writes first are int32 ones.
    """
    if g.dtype(x) == torch.bool:
        src = from_bool(g, src) if isinstance(src, ir.Value) else int(bool(src))
        return to_bool(g, reduce_with(g, from_bool(g, x), dim, index, src, reduce, include_self, native_ops))
    if reduce == "mean":
        return scatter_mean(g, x, dim, index, src, include_self)
    native = native_ops.get(reduce)
    if native is None:
        if g.static_shape(x) is None or g.static_shape(index) is None:
            raise NotImplementedError(
                f"scatter_reduce {reduce!r} on dynamic shapes needs ScatterElements' "
                f"{reduce[1:]} reduction, which ONNX has from opset 18: export at opset 18, or "
                "with that input's axes static")
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

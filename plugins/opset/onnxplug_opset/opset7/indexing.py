"""Indexing, scatter/gather, sorting and triangular ops, as of opset 7.

Below opset 11 ONNX has no element-wise gather/scatter, no CumSum and no ScatterND: they are
composed here from ``Gather`` on the flattened tensor (index arithmetic on static shapes) and a
match-matrix scatter (``shape_helpers.dense_scatter``). Later ``opsetN/indexing.py`` modules
replace them with the native ops where those appear.
"""

from __future__ import annotations

import onnx_ir as ir
import torch

from .. import forms
from ..bool_helpers import from_bool, to_bool, truthy
from ..forms import slice_, unsqueeze
from ..helpers import cast, norm_dim, norm_dims, reshape, transpose
from ..registration import op
from ..helpers import dim_size, onnx_type
from ..shape_helpers import (arange, rs, dense_scatter, expand_to, elements_linear_index, expand_masks, filled, gather_table,
                             index_gather, index_scatter, move_dims_front, inverse, normalize_index,
                             numel, where)
from ..shape_helpers import as_i64, const_int, shape_value, size_add, slice_position, where


INT64_MAX = 2**63 - 1  # an open slice end


def _static(g, *xs):
    shapes = [g.static_shape(x) for x in xs]
    if any(s is None for s in shapes):
        raise NotImplementedError("this composition needs static shapes below opset 11")
    return shapes


# -- gather / scatter along a dim ---------------------------------------------------------------
@op("aten::gather")
def gather(g, x, dim, index, sparse_grad=False):
    xs, _ = _static(g, x, index)
    if not xs:
        return g.op("Gather", reshape(g, x, [1]), reshape(g, index, [-1]), axis_i=0, dtype=g.dtype(x))
    lin = elements_linear_index(g, index, norm_dim(dim, len(xs)), xs)
    return g.op("Gather", reshape(g, x, [-1]), lin, axis_i=0)


def scatter_dense(g, x, dim, index, src, reduce, include_self=True):
    """Scatter along ``dim`` by ``shape_helpers.dense_scatter`` on the flattened tensors.

    Bools scatter as 0/1 float32 and are cast back: a sum is then PyTorch's ``or``, a product and
    ``amin`` its ``and``, ``amax`` its ``or`` (ONNX's arithmetic and onnxruntime's ``Where``
    take no bool; float32, as the composition's ``Max``/``Min`` take ints only from opset 12).
    """
    if g.dtype(x) == torch.bool:
        f32 = torch.float32
        src = from_bool(g, src, f32) if isinstance(src, ir.Value) else float(bool(src))
        return to_bool(g, scatter_dense(g, from_bool(g, x, f32), dim, index, src, reduce, include_self))
    xs, ishape = _static(g, x, index)
    orig = list(xs)
    dt = g.dtype(x)
    if not isinstance(src, type(x)):
        src = filled(g, list(ishape), src, dt)
    else:
        src = cast(g, src, dt)
        if g.static_shape(src) != ishape:  # only the index's region of src is used
            src = g.set_type(slice_(g, src, [0] * len(ishape), list(ishape), list(range(len(ishape)))),
                             shape=ishape)
    if numel(ishape) == 0:
        return x
    if not xs or not ishape:
        xs, ishape = [1], [1]
        x, index, src = rs(g, x, [1]), rs(g, index, [1]), rs(g, src, [1])
    lin = elements_linear_index(g, index, norm_dim(dim, len(xs)), xs)
    out = dense_scatter(g, rs(g, x, [-1]), rs(g, lin, [-1]), rs(g, src, [-1]),
                        numel(xs), reduce, include_self)
    return reshape(g, out, orig)


@op("aten::scatter.src", "aten::scatter.value")
def scatter(g, x, dim, index, src):
    return scatter_dense(g, x, dim, index, src, "none")


@op("aten::scatter.reduce", "aten::scatter.value_reduce")
def scatter_reduce_legacy(g, x, dim, index, src, reduce):
    return scatter_dense(g, x, dim, index, src, "sum" if reduce == "add" else "prod")


@op("aten::scatter_add")
def scatter_add(g, x, dim, index, src):
    return scatter_dense(g, x, dim, index, src, "sum")


@op("aten::scatter_reduce.two")
def scatter_reduce(g, x, dim, index, src, reduce, include_self=True):
    return scatter_dense(g, x, dim, index, src, reduce, include_self)


@op("aten::index_reduce")
def index_reduce(g, x, dim, index, source, reduce, include_self=True):
    rank = g.rank(x)
    if rank == 0:
        one = [rs(g, v, [1]) for v in (x, index, source)]
        return rs(g, index_reduce(g, one[0], 0, one[1], one[2], reduce, include_self), [])
    dim = norm_dim(dim, rank)
    full = index_along(g, index, dim, source)
    return scatter_reduce(g, x, dim, full, source, reduce, include_self)


def index_along(g, index, dim, like):
    """A 1-D index broadcast to ``like``'s shape along ``dim`` (index_* ops as scatter ops)."""
    rank = g.rank(like)
    if rank == 0:
        return index
    shape = [1] * rank
    shape[dim] = -1
    idx = reshape(g, cast(g, index, torch.int64), shape)
    static = g.static_shape(like)
    out = expand_to(g, idx, list(static) if static is not None else g.op("Shape", like, dtype=torch.int64))
    return g.set_type(out, shape=g.shape(like))


# -- advanced indexing -----------------------------------------------------------------------
@op("aten::index.Tensor", "aten::_unsafe_index.Tensor")
def index(g, x, indices):
    indices = expand_masks(g, indices)
    real = [(d, i) for d, i in enumerate(indices) if i is not None]
    if len(real) == 1:
        d, idx = real[0]
        idx = forms.gather_indices(g, idx, x, d)
        return g.op("Gather", x, idx, axis_i=d)
    return index_gather(g, x, indices)


@op("aten::index_put", "aten::_unsafe_index_put")
def index_put(g, x, indices, values, accumulate=False):
    """``x[indices] = values`` (``+=`` with ``accumulate``; a bool ``+=`` is ``or``, done on int32)."""
    indices = expand_masks(g, indices)
    if g.rank(x) == 0:
        raise NotImplementedError("index_put on a 0-d tensor")
    if accumulate and g.dtype(x) == torch.bool:
        values = from_bool(g, cast(g, values, torch.bool))
        return to_bool(g, index_scatter(g, from_bool(g, x), indices, values, True))
    return index_scatter(g, x, indices, values, bool(accumulate))


@op("aten::index_select")
def index_select(g, x, dim, idx):
    if g.rank(x) == 0:
        return x
    dim = norm_dim(dim, g.rank(x))
    idx = rs(g, idx, [-1]) if g.rank(idx) == 0 else idx
    idx = forms.gather_indices(g, idx, x, dim)
    return g.op("Gather", x, idx, axis_i=dim)


def _index_dim(g, x, dim, idx):
    rank = g.rank(x)
    dim = norm_dim(dim, max(rank, 1))
    return [None] * dim + [rs(g, idx, [-1]) if g.rank(idx) == 0 else idx], dim


@op("aten::index_copy")
def index_copy(g, x, dim, idx, source):
    if g.rank(x) == 0:
        return cast(g, reshape(g, source, []), g.dtype(x))
    indices, d = _index_dim(g, x, dim, idx)
    return index_scatter(g, x, indices, source, False)


@op("aten::index_add")
def index_add(g, x, dim, idx, source, alpha=1):
    """``x`` with ``alpha * source`` slices added at ``idx`` along ``dim`` (duplicates add up).

    On bools PyTorch adds with ``or``: ``x or (alpha and any source landing there)``; that is the
    int32 sum cast back to bool (``Mul``/``Add`` take no bool), and a false ``alpha`` adds nothing.
    """
    if g.dtype(x) == torch.bool:
        if not truthy(alpha):
            return x
        return to_bool(g, index_add(g, from_bool(g, x), dim, idx, from_bool(g, cast(g, source, torch.bool))))
    src = cast(g, source, g.dtype(x))
    if alpha != 1:
        src = g.set_type(g.op("Mul", src, g.constant(alpha, g.dtype(x))), shape=g.shape(source))
    if g.rank(x) == 0:
        n = g.op("Cast", g.op("Size", idx), to_i=onnx_type(g.dtype(x)))
        return g.op("Add", x, g.op("Mul", reshape(g, src, []), n))
    indices, d = _index_dim(g, x, dim, idx)
    return index_scatter(g, x, indices, src, True)


@op("aten::index_fill.int_Scalar", "aten::index_fill.int_Tensor")
def index_fill(g, x, dim, idx, value):
    if g.rank(x) == 0:
        return filled(g, [], value, g.dtype(x))
    indices, _ = _index_dim(g, x, dim, idx)
    val = value if not isinstance(value, (int, float, bool)) else g.constant(value, g.dtype(x))
    return index_scatter(g, x, indices, val, False)


@op("aten::put")
def put(g, x, idx, source, accumulate=False):
    flat = rs(g, x, [-1])
    out = index_scatter(g, flat, [rs(g, idx, [-1])], rs(g, source, [-1]), bool(accumulate))
    return reshape(g, out, list(g.static_shape(x)) if g.static_shape(x) is not None
                   else g.op("Shape", x, dtype=torch.int64))


@op("aten::take")
def take(g, x, idx):
    flat = rs(g, x, [-1])
    return g.op("Gather", flat, normalize_index(g, idx, numel(g.static_shape(x) or [None]) or
                                                g.op("Size", x, dtype=torch.int64)), axis_i=0)


@op("aten::masked_fill.Scalar", "aten::masked_fill.Tensor")
def masked_fill(g, x, mask, value):
    """``value`` where ``mask`` is set, else ``x`` (bools select with And/Or: no bool ``Where``)."""
    dt = g.dtype(x)
    v = cast(g, value, dt) if not isinstance(value, (int, float, bool)) else g.constant(value, dt)
    return where(g, mask, v, x, dt)


# -- sorting ---------------------------------------------------------------------------------
def topk_op(g, x, k, axis, largest=True):
    """TopK with ``k`` an attribute (< 10) or input; ascending order before 11 by negation.

    Equal values keep their input order (TopK breaks ties by the lower index, in both
    directions, and negation keeps that): PyTorch's ``stable=True`` order, which is also a valid
    order for ``stable=False`` (PyTorch promises none; its CPU sort of more than 16 values may
    differ). TopK takes no bool: bools are ordered as float32 0/1 (exact) and the values cast
    back. TopK-1/10 take only floats: integers are ordered by :func:`_topk_integer` there.
    """
    dt = g.dtype(x)
    if dt == torch.bool:
        vals, idx = topk_op(g, from_bool(g, x, torch.float32), k, axis, largest)
        return to_bool(g, vals), idx
    return _typed(g, *forms.topk(g, x, k, axis, largest, integers=_topk_integer))


def _topk_integer(g, x, k, axis, largest):
    """TopK of integers before opset 11, whose TopK takes only floats.

    Integers up to 32 bits are ordered by their float copy (float32 holds every 16-bit value,
    float64 every 32-bit one), so the float values cast back are the exact result. int64 does
    not fit a float64: :func:`_topk_int64` orders it exactly by two float keys.
    """
    dt = g.dtype(x)
    if dt == torch.int64:
        return _topk_int64(g, x, k, axis, largest)
    if dt.itemsize > 4:
        raise NotImplementedError(f"TopK of {dt} needs opset 11")
    key_dt = torch.float32 if dt.itemsize <= 2 else torch.float64
    vals, idx = topk_op(g, cast(g, x, key_dt), k, axis, largest)
    return cast(g, vals, dt), idx


_HALF = 2**32  # int64 = high * 2**32 + low, both parts exact in a float64


def _topk_int64(g, x, k, axis, largest):
    """TopK of int64 before opset 11, exact for every value (a float64 holds 53 bits).

    ``x`` splits into ``high = x / 2**32`` (Div truncates; monotone, so a larger high means a
    larger ``x``) and ``low = x - high * 2**32`` (|low| < 2**32: equal highs order by it), both
    exact as float64. A radix sort by TopK, which is stable (ties by the lower index): the
    whole dim ordered by ``low``, then the first ``k`` of that order ordered by ``high``. The
    values are the original elements, gathered with the composed indices. The Gathers
    (:func:`_take_along`) need static shapes and a static ``k``.
    """
    shape = g.static_shape(x)
    if shape is None or not isinstance(k, int):
        raise NotImplementedError("TopK of int64 before opset 11 needs static shapes and k")
    n = shape[axis]
    f64 = torch.float64
    half = g.constant(_HALF, torch.int64)
    high = g.op("Div", x, half)
    low = g.op("Sub", x, g.op("Mul", high, half))
    high_f = g.set_type(cast(g, high, f64), shape=shape)
    low_f = g.set_type(cast(g, low, f64), shape=shape)
    _, by_low = topk_op(g, low_f, n, axis, largest)
    g.set_type(by_low, shape=shape)
    high_sorted = _take_along(g, high_f, by_low, axis)
    _, pos = topk_op(g, high_sorted, k, axis, largest)
    out_shape = list(shape)
    out_shape[axis] = k
    g.set_type(pos, shape=out_shape)
    idx = _take_along(g, by_low, pos, axis)
    return _take_along(g, x, idx, axis), idx


def _take_along(g, x, idx, axis):
    """``torch.take_along_dim(x, idx, axis)`` for indices in range and static shapes: a Gather
    from the flattened ``x`` at ``idx * stride + offset`` (GatherElements needs opset 11)."""
    xs, ishape = g.static_shape(x), list(g.static_shape(idx))
    strides = [1] * len(xs)
    for i in range(len(xs) - 2, -1, -1):
        strides[i] = strides[i + 1] * xs[i + 1]
    offsets = torch.zeros(ishape, dtype=torch.int64)
    for d, size in enumerate(ishape):
        if d != axis:
            view = [1] * len(ishape)
            view[d] = size
            offsets = offsets + torch.arange(size).reshape(view) * strides[d]
    lin = g.op("Mul", idx, g.constant(strides[axis], torch.int64))
    lin = g.op("Add", lin, g.constant(offsets))
    out = g.op("Gather", rs(g, x, [-1]), lin, axis_i=0)
    return g.set_type(out, shape=ishape)


def _typed(g, vals, idx):
    g.set_type(idx, torch.int64)
    return vals, idx


def _as_1d(g, x):
    return reshape(g, x, [1]) if g.rank(x) == 0 else x


@op("aten::topk")
def topk(g, x, k, dim=-1, largest=True, sorted=True):
    rank = g.rank(x)
    if rank == 0:
        return x, g.constant(0, torch.int64)
    return _typed(g, *topk_op(g, x, k, norm_dim(dim, rank), largest))


@op("aten::sort", "aten::sort.stable")
def sort(g, x, *args, **kwargs):
    stable, dim, descending = _sort_args(args, kwargs)
    rank = g.rank(x)
    if rank == 0:
        return x, g.constant(0, torch.int64)
    dim = norm_dim(dim, rank)
    n = g.shape(x)[dim]
    if not isinstance(n, int):
        from ..helpers import dim_size

        n = dim_size(g, x, dim)
    return _typed(g, *topk_op(g, x, n, dim, descending))


def _sort_args(args, kwargs):
    stable, dim, descending = None, -1, False
    if args and not isinstance(args[0], bool) and isinstance(args[0], int):
        dim = args[0]
        descending = args[1] if len(args) > 1 else False
    elif args:
        stable = args[0]
    dim = kwargs.get("dim", dim)
    descending = kwargs.get("descending", descending)
    stable = kwargs.get("stable", stable)
    return stable, dim, descending


@op("aten::argsort", "aten::argsort.stable")
def argsort(g, x, *args, **kwargs):
    return sort(g, x, *args, **kwargs)[1]


@op("aten::msort")
def msort(g, x):
    return sort(g, x, 0)[0]


@op("aten::kthvalue")
def kthvalue(g, x, k, dim=-1, keepdim=False):
    rank = g.rank(x)
    if rank == 0:
        return x, g.constant(0, torch.int64)
    dim = norm_dim(dim, rank)
    vals, idx = topk_op(g, x, k, dim, False)
    pick = g.constant([k - 1], torch.int64) if keepdim else g.constant(k - 1, torch.int64)
    v = g.op("Gather", vals, pick, axis_i=dim)
    i = g.op("Gather", idx, pick, axis_i=dim)
    return v, i


# -- cumulative ops by a triangular MatMul (static length) -------------------------------------
def _last(g, x, dim):
    rank = g.rank(x)
    perm = list(range(rank))
    perm[dim], perm[-1] = perm[-1], perm[dim]
    return transpose(g, x, perm), perm


@op("aten::cumsum")
def cumsum(g, x, dim, dtype=None):
    dt = g.out_dtype() or g.dtype(x)
    if g.rank(x) == 0:
        return cast(g, x, dt)
    dim = norm_dim(dim, g.rank(x))
    n = g.shape(x)[dim]
    if not isinstance(n, int):
        raise NotImplementedError("cumsum over a dynamic dim needs CumSum (opset 11)")
    work = dt if dt in (torch.float32, torch.float64) else torch.float64
    xt, perm = _last(g, g.set_type(cast(g, x, work), shape=g.shape(x)), dim)
    tri = g.constant(torch.triu(torch.ones(n, n, dtype=work)))
    out = g.op("MatMul", xt, tri)
    return cast(g, transpose(g, out, perm), dt)


# -- one_hot, triangles, diagonals -------------------------------------------------------------
@op("aten::one_hot")
def one_hot(g, x, num_classes=-1):
    if num_classes < 0:
        raise NotImplementedError("one_hot needs num_classes (the data-dependent default is not exportable)")
    classes = g.constant(torch.arange(num_classes, dtype=torch.int64))
    eq = g.op("Equal", unsqueeze(g, cast(g, x, torch.int64), [g.rank(x)]), classes)
    return g.op("Cast", eq, to_i=7)


def _tri_mask(g, x, diagonal, upper):
    """The kept triangle: a constant for static sizes, ``col - row`` against ``diagonal`` otherwise."""
    shape = g.shape(x)
    n, m = shape[-2], shape[-1]
    if isinstance(n, int) and isinstance(m, int) and isinstance(diagonal, int):
        ones = torch.ones(n, m, dtype=torch.bool)
        return g.constant(torch.triu(ones, diagonal) if upper else torch.tril(ones, diagonal))
    forms.require(g, "Where", "tril/triu over dynamic dims")
    rank = g.rank(x)
    rows = unsqueeze(g, arange(g, dim_size(g, x, rank - 2)), [1])
    cols = unsqueeze(g, arange(g, dim_size(g, x, rank - 1)), [0])
    offset = g.op("Sub", cols, rows)
    k = g.constant(diagonal, torch.int64) if isinstance(diagonal, int) else cast(g, diagonal, torch.int64)
    if upper:  # col - row >= k
        return g.op("Not", g.op("Less", offset, k))
    return g.op("Not", g.op("Greater", offset, k, dtype=torch.bool), dtype=torch.bool)


@op("aten::tril")
def tril(g, x, diagonal=0):
    dt = g.dtype(x)
    return where(g, _tri_mask(g, x, diagonal, False), x, g.constant(False if dt == torch.bool else 0, dt), dt)


@op("aten::triu")
def triu(g, x, diagonal=0):
    dt = g.dtype(x)
    return where(g, _tri_mask(g, x, diagonal, True), x, g.constant(False if dt == torch.bool else 0, dt), dt)


def _diag_table(n, m, offset):
    rows = torch.arange(max(0, -offset), n)
    rows = rows[rows + offset < m]
    return rows * m + rows + offset


@op("aten::diagonal", "aten::diagonal_copy", "aten::linalg_diagonal")
def diagonal(g, x, offset=0, dim1=0, dim2=1):
    rank = g.rank(x)
    d1, d2 = norm_dims([dim1, dim2], rank)
    xt, _ = move_dims_front(g, x, [d for d in range(rank) if d not in (d1, d2)] + [d1, d2])
    n, m = g.shape(x)[d1], g.shape(x)[d2]
    if not (isinstance(n, int) and isinstance(m, int)):
        raise NotImplementedError("diagonal over dynamic dims")
    lead = [0] * (rank - 2)
    flat = reshape(g, xt, lead + [n * m])
    return gather_table(g, flat, _diag_table(n, m, offset), rank - 2)


@op("aten::diag_embed")
def diag_embed(g, x, offset=0, dim1=-2, dim2=-1):
    rank = g.rank(x) + 1
    length = g.shape(x)[-1]
    if not isinstance(length, int):
        raise NotImplementedError("diag_embed of a dynamic length")
    n = length + abs(offset)
    # gather from x with one extra zero appended: off-diagonal positions point at the zero
    dt = g.dtype(x)
    lead = g.shape(x)[:-1]
    zero_shape = [s if isinstance(s, int) else -1 for s in lead] + [1]
    zero = filled(g, zero_shape, 0, dt) if all(isinstance(s, int) for s in lead) else g.op(
        "Slice", g.op("Mul", x, g.constant(0, dt), dtype=dt), g.constant([0]), g.constant([1]),
        g.constant([-1]), dtype=dt)
    ext = g.op("Concat", x, zero, axis_i=-1)
    table = torch.full((n, n), length, dtype=torch.int64)
    for i in range(length):
        r, c = (i, i + offset) if offset >= 0 else (i - offset, i)
        table[r, c] = i
    out = gather_table(g, ext, table, rank - 2)  # [..., n, n]
    d1, d2 = norm_dims([dim1, dim2], rank)
    others = [d for d in range(rank) if d not in (d1, d2)]
    perm = [0] * rank
    for src, dst in enumerate(others + [d1, d2]):
        perm[dst] = src
    return transpose(g, out, perm)


@op("aten::diag")
def diag(g, x, diagonal_=0):
    if g.rank(x) == 1:
        return diag_embed(g, x, diagonal_, 0, 1)
    return diagonal(g, x, diagonal_, 0, 1)


# -- *_scatter: rebuild by gathering from [x, src] (static along the scattered dims) ---------------
def _rebuild(g, x, src, dims, table_from):
    """Put ``src`` (laid out as x's other dims, then the merged ``dims``) into ``x``, one Gather.

    ``dims``: the dims of ``x`` the scatter touches, moved last and merged; ``table_from(sizes)``
    returns, per merged position of ``x``, -1 (keep x) or the merged position in ``src``.
    """
    rank = g.rank(x)
    dt = g.dtype(x)
    keep = [d for d in range(rank) if d not in dims]
    xt, perm = move_dims_front(g, x, keep + list(dims))
    sz = [g.shape(x)[d] for d in dims]
    if not all(isinstance(s, int) for s in sz):
        raise NotImplementedError("scattering into a dynamic dim")
    flat_x = reshape(g, xt, [0] * len(keep) + [numel(sz)])
    table = table_from(sz)
    n_src = int((table >= 0).sum())
    flat_s = reshape(g, cast(g, src, dt), [0] * len(keep) + [n_src])
    both = g.op("Concat", flat_x, flat_s, axis_i=len(keep))
    idx = torch.where(table >= 0, numel(sz) + table, torch.arange(numel(sz)))
    out = gather_table(g, both, idx, len(keep))
    out = reshape(g, out, [0] * len(keep) + sz)
    return transpose(g, out, inverse(perm))


@op("aten::select_scatter")
def select_scatter(g, x, src, dim, index):
    rank = g.rank(x)
    dim = norm_dim(dim, rank)

    def table(sz):
        t = torch.full((sz[0],), -1)
        t[index % sz[0]] = 0
        return t
    return _rebuild(g, x, src, [dim], table)


@op("aten::slice_scatter")
def slice_scatter(g, x, src, dim=0, start=None, end=None, step=1):
    """``torch.slice_scatter``: ``x`` with ``x[..., start:end:step, ...] = src`` along ``dim``.

    A static dim with static bounds is one Gather from ``[x, src]`` (:func:`_rebuild`). A dynamic
    dim or symbolic bounds go to :func:`_slice_scatter_dynamic`.
    """
    rank = g.rank(x)
    dim = norm_dim(dim, rank)
    keep = [d for d in range(rank) if d != dim]
    start = _folded_bound(g, start, 0)
    end = _folded_bound(g, end, INT64_MAX)
    if not (isinstance(g.shape(x)[dim], int) and isinstance(start, int) and isinstance(end, int)):
        return _slice_scatter_dynamic(g, x, src, dim, start, end, step)

    def table(sz):
        t = torch.full((sz[0],), -1)
        pos = torch.arange(sz[0])[slice(start, end, step)]
        t[pos] = torch.arange(pos.numel())
        return t
    return _rebuild(g, x, transpose(g, src, keep + [dim]), [dim], table)


def _folded_bound(g, bound, default: int):
    """A slice bound as an int where it is static (None -> ``default``), else its 0-d value."""
    if bound is None:
        return default
    c = const_int(g, bound)
    return bound if c is None else c


def _slice_scatter_dynamic(g, x, src, dim, start, end, step):
    """``slice_scatter`` where the dim or a bound is only known at run time.

    Step 1: ``Concat(x[:start], src, x[start + len(src):])`` along ``dim``; static bounds keep the
    Slices static (opset 7), symbolic ones need Slice inputs (opset 10). Other steps:
    ``ScatterElements`` (opset 11) at ``start + step * arange(len(src))``, broadcast over the
    other dims. ``len(src)`` (PyTorch made ``src`` exactly the slice's shape) is a ``Shape`` only
    when it is dynamic.
    """
    dt = g.dtype(x)
    if step != 1:
        forms.require(g, "ScatterElements", "slice_scatter with a step into a dynamic dim")
        src = cast(g, src, dt)
        m = dim_size(g, src, dim)
        first = start if isinstance(start, int) and start >= 0 else slice_position(g, start, dim_size(g, x, dim))
        pos = g.op("Mul", arange(g, m, torch.int64), g.constant(step, torch.int64))
        pos = g.op("Add", pos, as_i64(g, first))
        rank = g.rank(x)
        pos = unsqueeze(g, pos, [d for d in range(rank) if d != dim]) if rank > 1 else pos
        index = g.op("Expand", pos, shape_value(g, src))
        return g.op("ScatterElements", x, index, src, axis_i=dim)
    src = cast(g, src, dt)
    parts = []
    if not (isinstance(start, int) and start == 0):
        # Slice reads a negative or too large end the way PyTorch reads the start
        parts.append(slice_(g, x, [0], [start], [dim]))
    parts.append(src)
    tail = _tail_start(g, x, src, dim, start, end)
    if tail is not None:
        parts.append(slice_(g, x, [tail], [INT64_MAX], [dim]))
    return g.op("Concat", *parts, axis_i=dim)


def _tail_start(g, x, src, dim, start, end):
    """Where the part of ``x`` after the slice begins, as a Slice start (None: nothing is left).

    Static when it can be: no tail for an open end; ``max(start, end)`` for static bounds of
    one sign (Slice wraps and clamps both alike); ``start + len(src)`` for a static start >= 0
    (a start past the end means an empty ``src``, and Slice clamps). Otherwise the normalised
    start plus ``len(src)`` at run time.
    """
    if isinstance(end, int) and end >= INT64_MAX:
        return None
    if isinstance(start, int) and isinstance(end, int) and (start >= 0) == (end >= 0):
        return max(start, end)
    m = dim_size(g, src, dim)
    if isinstance(start, int) and start >= 0:
        return size_add(g, start, m)
    return size_add(g, slice_position(g, start, dim_size(g, x, dim)), m)


@op("aten::diagonal_scatter")
def diagonal_scatter(g, x, src, offset=0, dim1=0, dim2=1):
    rank = g.rank(x)
    d1, d2 = norm_dims([dim1, dim2], rank)

    def table(sz):
        n, m = sz
        t = torch.full((n * m,), -1)
        pos = _diag_table(n, m, offset)
        t[pos] = torch.arange(pos.numel())
        return t
    return _rebuild(g, x, src, [d1, d2], table)

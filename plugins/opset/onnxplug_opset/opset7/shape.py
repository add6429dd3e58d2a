"""Shape, layout and indexing ops, as of opset 7."""

from __future__ import annotations

import torch

from ..helpers import (cast, dim_size, expand, norm_dim, norm_dims, reshape, slice_,
                       split, squeeze, transpose, unsqueeze)
from ..registration import op

INT64_MAX = 2**63 - 1


@op("aten::view", "aten::reshape", "aten::_unsafe_view", "aten::view_copy")
def view(g, x, shape):
    return reshape(g, x, shape)


@op("aten::sym_size.int")
def sym_size(g, x, dim):
    return dim_size(g, x, dim)


@op("aten::clone", "aten::contiguous", "aten::alias", "aten::detach", "aten::lift_fresh_copy",
    "aten::lift_fresh", "aten::alias_copy", "aten::detach_copy")
def identity(g, x, *_, **__):
    return x


@op("aten::flatten.using_ints")
def flatten(g, x, start_dim=0, end_dim=-1):
    rank = g.rank(x)
    if rank == 0:
        return reshape(g, x, [1])
    start, end = norm_dim(start_dim, rank), norm_dim(end_dim, rank)
    if start == end:
        return x
    if start == 1 and end == rank - 1:
        return g.op("Flatten", x, axis_i=1, dtype=g.dtype(x))
    shape = g.shape(x)
    merged = 1
    for s in shape[start:end + 1]:
        merged = merged * s if isinstance(s, int) and isinstance(merged, int) else -1
    # leading dims keep their place: 0 copies them, static or dynamic
    lead = [s if isinstance(s, int) else 0 for s in shape[:start]]
    rest = [s if isinstance(s, int) else dim_size(g, x, i) for i, s in enumerate(shape) if i > end]
    return reshape(g, x, lead + [merged] + rest)


@op("aten::transpose.int")
def transpose_int(g, x, dim0, dim1):
    rank = g.rank(x)
    if rank < 2:
        return x
    perm = list(range(rank))
    a, b = norm_dim(dim0, rank), norm_dim(dim1, rank)
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(g, x, perm)


@op("aten::permute")
def permute(g, x, dims):
    return transpose(g, x, norm_dims(dims, g.rank(x)))


@op("aten::t", "aten::numpy_T")
def t(g, x):
    return transpose(g, x, list(reversed(range(g.rank(x)))))


@op("aten::unsqueeze")
def unsqueeze_(g, x, dim):
    return unsqueeze(g, x, [norm_dim(dim, g.rank(x) + 1)])


@op("aten::squeeze.dim", "aten::squeeze.dims", "aten::squeeze")
def squeeze_(g, x, dim=None):
    shape = g.shape(x)
    rank = len(shape)
    if rank == 0:
        return x
    dims = norm_dims(dim, rank) if dim is not None else list(range(rank))
    dims = [d for d in dims if shape[d] == 1]
    if not dims:
        return x
    return squeeze(g, x, dims)


@op("aten::slice.Tensor")
def slice_tensor(g, x, dim=0, start=None, end=None, step=1):
    rank = g.rank(x)
    dim = norm_dim(dim, rank)
    start = 0 if start is None else start
    end = INT64_MAX if end is None else end
    if isinstance(end, int) and end >= INT64_MAX:
        size = g.shape(x)[dim]
        if isinstance(size, int):
            end = size
    if start == 0 and isinstance(end, int) and step == 1 and end == g.shape(x)[dim]:
        return x
    return slice_(g, x, [start], [end], [dim], [step])


@op("aten::select.int")
def select(g, x, dim, index):
    rank = g.rank(x)
    dim = norm_dim(dim, rank)
    idx = g.constant(index, torch.int64) if isinstance(index, int) else cast(g, index, torch.int64)
    return g.op("Gather", x, idx, axis_i=dim, dtype=g.dtype(x))


@op("aten::cat")
def cat(g, tensors, dim=0):
    tensors = [t for t in tensors if g.shape(t) != (0,)] or list(tensors)[:1]
    if len(tensors) == 1:
        return tensors[0]
    rank = g.rank(tensors[0])
    dt = g.out_dtype()
    return g.op("Concat", *[cast(g, t, dt) for t in tensors], axis_i=norm_dim(dim, rank), dtype=dt)


@op("aten::split.Tensor", "aten::split_with_sizes", "aten::split.sizes")
def split_tensor(g, x, split_size, dim=0):
    rank = g.rank(x)
    dim = norm_dim(dim, rank)
    size = g.shape(x)[dim]
    if isinstance(split_size, int):
        if not isinstance(size, int):
            raise NotImplementedError("split of a dynamic dim by a size")
        sizes = [split_size] * (size // split_size) + ([size % split_size] if size % split_size else [])
    else:
        sizes = list(split_size)
    return list(split(g, x, sizes, dim))


@op("aten::chunk")
def chunk(g, x, chunks, dim=0):
    rank = g.rank(x)
    dim = norm_dim(dim, rank)
    size = g.shape(x)[dim]
    if not isinstance(size, int):
        raise NotImplementedError("chunk of a dynamic dim")
    each = -(-size // chunks)
    sizes = [each] * (size // each) + ([size % each] if size % each else [])
    return list(split(g, x, sizes, dim))


@op("aten::expand")
def expand_(g, x, size, implicit=False):
    rank = g.rank(x)
    size = list(size)
    lead = len(size) - rank
    shape = g.shape(x)
    out = []
    for i, s in enumerate(size):
        if isinstance(s, int) and s == -1:
            out.append(shape[i - lead] if isinstance(shape[i - lead], int) else dim_size(g, x, i - lead))
        else:
            out.append(s)
    if all(isinstance(s, int) for s in out) and tuple(out) == tuple(shape):
        return x
    return expand(g, x, out)


@op("aten::expand_as")
def expand_as(g, x, other):
    return g.op("Expand", x, g.op("Shape", other, dtype=torch.int64), dtype=g.dtype(x))


@op("aten::_to_copy", "aten::to.dtype", "aten::to.dtype_layout", "aten::type_as")
def to_copy(g, x, *args, **kwargs):
    return cast(g, x, g.out_dtype())


@op("aten::_assert_tensor_metadata", "aten::_assert_scalar", "aten::sym_constrain_range_for_size",
    "aten::_assert_async.msg", "aten::sym_constrain_range")
def no_op(g, *args, **kwargs):
    return None


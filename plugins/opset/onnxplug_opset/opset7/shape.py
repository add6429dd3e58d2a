"""Shape and layout ops as of opset 7: views, slicing, stacking, flips and rolls, repeats,
windows (``unfold``), padding and ``as_strided``.

Static sizes stay Python ints and become constants; a ``Shape``-based subgraph appears only
for a dim that is really dynamic (splits along one take their output count from
``torch.export``, whose guards fix it). Where a form needs a later opset (Slice steps from 10, Pad
inputs from 11) the helpers pick it, and a static Gather stands in below it.
"""

from __future__ import annotations

import onnx_ir as ir
import torch

from .. import complex_helpers as ch
from .. import forms
from ..forms import expand, slice_, split, squeeze, unsqueeze
from ..helpers import cast, dim_size, norm_dim, norm_dims, reshape, shape_list, transpose
from ..registration import op
from ..shape_helpers import (equal_parts, owns_contiguous_storage, output_count, size_ceil_div, size_sub, size_times, split_equal,
                             split_sizes)

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
        return g.op("Flatten", x, axis_i=1)
    shape = g.shape(x)
    merged = 1
    for s in shape[start:end + 1]:
        merged = merged * s if isinstance(s, int) and merged != -1 else -1  # -1: dynamic
    # leading dims keep their place: 0 copies them, static or dynamic
    lead = [s if isinstance(s, int) else 0 for s in shape[:start]]
    rest = [s if isinstance(s, int) else dim_size(g, x, i) for i, s in enumerate(shape) if i > end]
    return reshape(g, x, lead + [merged] + rest)


@op("aten::transpose.int", "aten::swapaxes", "aten::swapdims")
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


@op("aten::mT", "aten::mH", "aten::adjoint", "aten::matrix_H")
def matrix_transpose(g, x):
    """Swap the last two dims (real tensors: the conjugate is the identity)."""
    rank = g.rank(x)
    perm = list(range(rank))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return transpose(g, x, perm)


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
    return forms.strided_slice(g, x, dim, start, end, step)


@op("aten::select.int")
def select(g, x, dim, index):
    rank = g.rank(x)
    dim = norm_dim(dim, rank)
    size = g.shape(x)[dim]
    if isinstance(index, int) and index < 0 and isinstance(size, int):
        index += size  # Gather takes negative indices only from opset 11
    idx = g.constant(index, torch.int64) if isinstance(index, int) else forms.gather_indices(g, index, x, dim)
    return g.op("Gather", x, idx, axis_i=dim)


@op("aten::cat")
def cat(g, tensors, dim=0):
    tensors = [t for t in tensors if g.shape(t) != (0,)] or list(tensors)[:1]
    if len(tensors) == 1:
        return tensors[0]
    rank = g.rank(tensors[0])
    dt = g.out_dtype()
    return g.op("Concat", *[cast(g, t, dt) for t in tensors], axis_i=norm_dim(dim, rank))


@op("aten::split.Tensor", "aten::split_with_sizes", "aten::split.sizes")
def split_tensor(g, x, split_size, dim=0):
    """``torch.split`` by a size or a list of sizes.

    Static: one ``Split`` with constant sizes. Along a dynamic dim (or with a symbolic size) the
    number of outputs is the one ``torch.export`` fixed with its guards; the sizes are
    ``split_size`` for every part but the last, which takes the rest (``Shape`` arithmetic), and
    :func:`shape_helpers.split_sizes` picks the ops the opset has.
    """
    rank = g.rank(x)
    dim = norm_dim(dim, rank)
    size = g.shape(x)[dim]
    if not isinstance(split_size, (int, ir.Value)):
        return split_sizes(g, x, list(split_size), dim)
    if isinstance(size, int) and isinstance(split_size, int):
        sizes = [split_size] * (size // split_size) + ([size % split_size] if size % split_size else [])
        return list(split(g, x, sizes, dim))
    count = _dynamic_count(g, "split")
    if equal_parts(g, dim, count):
        return split_equal(g, x, dim, count)
    rest = size_sub(g, dim_size(g, x, dim), size_times(g, split_size, count - 1))
    return split_sizes(g, x, [split_size] * (count - 1) + [rest], dim)


@op("aten::chunk")
def chunk(g, x, chunks, dim=0):
    """``torch.chunk``: parts of ``ceil(size / chunks)``, the last one smaller.

    Along a dynamic dim the number of parts comes from ``torch.export`` (its guards fix it);
    equal parts need no size arithmetic at all, uneven ones compute the part size at run time.
    """
    rank = g.rank(x)
    dim = norm_dim(dim, rank)
    size = g.shape(x)[dim]
    if isinstance(size, int):
        each = -(-size // chunks)
        sizes = [each] * (size // each) + ([size % each] if size % each else [])
        return list(split(g, x, sizes, dim))
    count = _dynamic_count(g, "chunk")
    if equal_parts(g, dim, count):
        return split_equal(g, x, dim, count)
    n = dim_size(g, x, dim)
    each = size_ceil_div(g, n, chunks)
    rest = size_sub(g, n, size_times(g, each, count - 1))
    return split_sizes(g, x, [each] * (count - 1) + [rest], dim)


def _dynamic_count(g, what: str) -> int:
    count = output_count(g)
    if count is None:
        raise NotImplementedError(f"{what} of a dynamic dim without PyTorch's output count")
    return count


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
    static = g.static_shape(other)
    if static is not None and g.static_shape(x) == static:
        return x
    return expand(g, x, list(static) if static is not None else g.op("Shape", other))


@op("aten::unflatten.int")
def unflatten(g, x, dim, sizes):
    """Split ``dim`` into ``sizes`` with one Reshape; dynamic leading dims are copied (0)."""
    shape = g.shape(x)
    dim = norm_dim(dim, len(shape))
    lead = [s if isinstance(s, int) else 0 for s in shape[:dim]]
    rest = [s if isinstance(s, int) else dim_size(g, x, i) for i, s in enumerate(shape) if i > dim]
    return reshape(g, x, lead + list(sizes) + rest)


@op("aten::copy")
def copy(g, x, src, non_blocking=False):
    """Functional ``x.copy_(src)``: ``src`` cast to ``x``'s dtype and broadcast to its shape."""
    src = cast(g, src, g.dtype(x))
    if g.static_shape(src) is not None and g.static_shape(src) == g.static_shape(x):
        return src
    return expand(g, src, shape_list(g, x))


@op("aten::_to_copy", "aten::to.dtype", "aten::to.dtype_layout", "aten::to.device",
    "aten::type_as")
def to_copy(g, x, *args, **kwargs):
    if g.out_dtype().is_complex:  # a real input to a complex dtype: (real, 0) pairs
        return ch.to_dtype(g, x, g.out_dtype())
    return cast(g, x, g.out_dtype())



# -- stacking and unstacking ------------------------------------------------------------------
@op("aten::stack")
def stack(g, tensors, dim=0):
    rank = g.rank(tensors[0]) + 1
    d = norm_dim(dim, rank)
    dt = g.out_dtype() or g.dtype(tensors[0])
    parts = [unsqueeze(g, cast(g, t, dt), [d]) for t in tensors]
    return parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis_i=d)


@op("aten::unbind.int", "aten::unbind_copy.int")
def unbind(g, x, dim=0):
    rank = g.rank(x)
    d = norm_dim(dim, rank)
    n = g.shape(x)[d]
    if not isinstance(n, int):
        # torch.export specialises a dim that is unbound (the output count is the size), so
        # only a graph built by other means gets here
        raise NotImplementedError("unbind of a dynamic dim (the number of outputs must be static)")
    return [squeeze(g, part, [d]) for part in split(g, x, [1] * n, d)] if n > 1 else [squeeze(g, x, [d])]


# -- reversing, rolling, rotating ----------------------------------------------------------------
def flip_dim(g, x, d):
    """Reverse one dim: a step -1 Slice from opset 10, a constant-index Gather (static size) below."""
    return forms.flip(g, x, d)


@op("aten::flip")
def flip(g, x, dims):
    rank = g.rank(x)
    for d in norm_dims(list(dims), max(rank, 1)) if rank else []:
        x = flip_dim(g, x, d)
    return x


@op("aten::roll")
def roll(g, x, shifts, dims=()):
    shifts, dims = list(shifts), list(dims)
    if not dims:
        static = g.static_shape(x)
        flat = g.set_type(reshape(g, x, [-1]), shape=[int(torch.tensor(static).prod())] if static is not None else None)
        out = roll(g, flat, shifts, [0])
        return reshape(g, out, list(static) if static is not None else g.op("Shape", x, dtype=torch.int64))
    rank = g.rank(x)
    for s, d in zip(shifts, dims):
        d = norm_dim(d, rank)
        n = g.shape(x)[d]
        if not isinstance(n, int):
            raise NotImplementedError("roll over a dynamic dim")
        s = s % n if n else 0
        if s == 0:
            continue
        shape = g.shape(x)
        tail = slice_(g, x, [n - s], [n], [d])
        head = slice_(g, x, [0], [n - s], [d])
        x = g.set_type(g.op("Concat", tail, head, axis_i=d), shape=shape)
    return x


@op("aten::rot90")
def rot90(g, x, k=1, dims=(0, 1)):
    rank = g.rank(x)
    d0, d1 = norm_dims(list(dims), rank)
    k %= 4
    if k == 0:
        return x
    if k == 2:
        return flip_dim(g, flip_dim(g, x, d0), d1)
    perm = list(range(rank))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    flipped = flip_dim(g, x, d1 if k == 1 else d0)
    return transpose(g, flipped, perm)


# -- repeating --------------------------------------------------------------------------------
@op("aten::repeat")
def repeat(g, x, repeats):
    repeats = list(repeats)
    rank = g.rank(x)
    if len(repeats) > rank:
        shape = [1] * (len(repeats) - rank) + list(g.shape(x))
        x = reshape(g, x, [s if isinstance(s, int) else 0 for s in shape]) if all(
            isinstance(s, int) for s in shape) else g.op(
            "Reshape", x, g.op("Concat", g.constant([1] * (len(repeats) - rank)),
                               g.op("Shape", x, dtype=torch.int64), axis_i=0, dtype=torch.int64),
            dtype=g.dtype(x))
    if all(r == 1 for r in repeats if isinstance(r, int)) and all(isinstance(r, int) for r in repeats):
        return x
    from ..helpers import int_list

    return g.op("Tile", x, int_list(g, repeats))


@op("aten::repeat_interleave.self_int", "aten::repeat_interleave.self_Tensor")
def repeat_interleave(g, x, repeats, dim=None, output_size=None):
    if dim is None:
        static = g.static_shape(x)
        x = g.set_type(reshape(g, x, [-1]), shape=[int(torch.tensor(static).prod())] if static is not None else None)
        dim = 0
    d = norm_dim(dim, g.rank(x))
    n = g.shape(x)[d]
    reps = repeats if isinstance(repeats, int) else g.const_value(repeats)
    if reps is None or not isinstance(n, int):
        raise NotImplementedError("repeat_interleave with dynamic repeats or size")
    table = torch.repeat_interleave(torch.arange(n), reps if isinstance(reps, int) else reps.reshape(-1))
    return g.op("Gather", x, g.constant(table), axis_i=d)


# -- windows ------------------------------------------------------------------------------------
@op("aten::unfold", "aten::unfold_copy")
def unfold(g, x, dimension, size, step):
    """``Tensor.unfold``: a Gather with a [windows, size] table, the size axis moved last."""
    rank = g.rank(x)
    if rank == 0:
        return reshape(g, x, [1])
    d = norm_dim(dimension, rank)
    n = g.shape(x)[d]
    if not isinstance(n, int):
        raise NotImplementedError("unfold over a dynamic dim")
    windows = (n - size) // step + 1
    table = torch.arange(windows).reshape(-1, 1) * step + torch.arange(size).reshape(1, -1)
    out = g.op("Gather", x, g.constant(table), axis_i=d)
    perm = [i for i in range(rank + 1) if i != d + 1] + [d + 1]
    return transpose(g, out, perm)


# -- padding ------------------------------------------------------------------------------------
def onnx_pads(pad, rank):
    """PyTorch's last-dim-first ``(begin, end)`` pairs -> ONNX ``[begins..., ends...]``."""
    begins, ends = [0] * rank, [0] * rank
    for i in range(len(pad) // 2):
        begins[rank - 1 - i] = pad[2 * i]
        ends[rank - 1 - i] = pad[2 * i + 1]
    return begins + ends


def pad_op(g, x, pad, mode, value=None):
    out = _pad_op(g, x, pad, mode, value)
    shape = list(g.shape(x))
    pads = onnx_pads(list(pad), len(shape))
    for d in range(len(shape)):
        if isinstance(shape[d], int) and isinstance(pads[d], int) and isinstance(pads[d + len(shape)], int):
            shape[d] += pads[d] + pads[d + len(shape)]
        else:
            shape[d] = f"pad_{id(out)}_{d}"
    return g.set_type(out, shape=shape)


def _pad_op(g, x, pad, mode, value=None):
    """The ONNX padding of ``x``: ``Pad`` where onnxruntime has a kernel for the dtype, else an
    exact composition (:func:`_pad_by_concat`) or ``Pad`` on a wider dtype and a cast back.

    ``Pad`` before opset 11 (Pad-2) takes only floats, so integers and bools are padded with
    Concat/Gather/Slice there, which move elements without arithmetic: exact for every dtype,
    int64 beyond 2**53 included (a cast to float64 would round those). From opset 11 Pad takes
    pads as an input, but onnxruntime has no int16/uint16 kernel (padded as int32 and cast back,
    exact) and ONNX no bool ``Pad`` before 13 (padded as uint8).
    """
    rank = g.rank(x)
    dt = g.dtype(x)
    pads = onnx_pads(list(pad), rank)
    if not any(pads):
        return x
    wide = forms.pad_dtype(g, dt)
    if wide is None:  # no Pad takes dt at this opset
        if not all(isinstance(p, int) for p in pads):
            raise NotImplementedError("dynamic pads need opset 11")
        return _pad_by_concat(g, x, pads, mode, value)
    if wide != dt:
        out = _pad_op(g, g.set_type(cast(g, x, wide), shape=g.shape(x)), pad, mode,
                      None if value is None else _pad_value(value, dt))
        return cast(g, out, dt)
    return forms.pad(g, x, pads, mode, value)


def _pad_value(value, dt):
    """The fill value as PyTorch stores it in a ``dt`` tensor (a Python scalar)."""
    return torch.full((), value, dtype=dt).item()


def _pad_by_concat(g, x, pads, mode, value):
    """Pad with static ONNX ``pads`` one dim at a time: ``Concat(before, x, after)`` along it.

    The parts take no arithmetic, so the result is exact for every dtype:

    * ``constant``: the blocks are constants of ``value`` (an ``Expand`` of one element where
      they are large or the other dims are dynamic, opset 8);
    * ``reflect``: ``x[b], ..., x[1]`` before and ``x[n-2], ..., x[n-1-a]`` after, Gathers
      with constant indices (the ones at the end from a ``Slice`` of the last ``a + 1``
      elements when ``n`` is dynamic);
    * ``edge`` (replicate): the first element ``b`` times and the last ``a`` times.

    A negative pad crops that side (a ``Slice``); a reflection reads the uncropped input, as
    PyTorch's does.
    """
    rank = g.rank(x)
    for d in range(rank):
        before, after = pads[d], pads[d + rank]
        if before or after:
            x = _pad_dim(g, x, d, before, after, mode, value)
    return x


def _pad_dim(g, x, d, before, after, mode, value):
    shape = list(g.shape(x))
    n = shape[d]
    lead, tail = max(before, 0), max(after, 0)
    lo, hi = max(-before, 0), max(-after, 0)
    core = x
    if lo or hi:
        core = slice_(g, x, [lo], [-hi if hi else INT64_MAX], [d])
        g.set_type(core, shape=shape[:d] + [n - lo - hi if isinstance(n, int) else f"crop_{id(core)}"]
                   + shape[d + 1:])
    parts = [_pad_part(g, x, d, lead, True, mode, value)] if lead else []
    parts.append(core)
    if tail:
        parts.append(_pad_part(g, x, d, tail, False, mode, value))
    out = parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis_i=d)
    new = n + before + after if isinstance(n, int) else f"pad_{id(out)}_{d}"
    return g.set_type(out, shape=shape[:d] + [new] + shape[d + 1:])


def _pad_part(g, x, d, count, first, mode, value):
    """The ``count`` elements padded along ``d`` before (``first``) or after ``x``."""
    shape = list(g.shape(x))
    n = shape[d]
    out_shape = shape[:d] + [count] + shape[d + 1:]
    if mode == "constant":
        return _filled_block(g, x, d, out_shape, value or 0)
    if mode == "reflect":
        if isinstance(n, int) and count >= n:
            raise ValueError(f"reflection padding of {count} needs a dim larger than {n}")
        if first:  # x[count], ..., x[1]
            src, table = x, torch.arange(count, 0, -1)
        elif isinstance(n, int):  # x[n-2], ..., x[n-1-count]
            src, table = x, torch.arange(n - 2, n - 2 - count, -1)
        else:  # the last count+1 elements, then their first count ones reversed
            src, table = slice_(g, x, [-1 - count], [-1], [d]), torch.arange(count - 1, -1, -1)
    elif mode == "edge":
        if first or isinstance(n, int):
            src, table = x, torch.full((count,), 0 if first else n - 1, dtype=torch.int64)
        else:
            src, table = slice_(g, x, [-1], [INT64_MAX], [d]), torch.zeros(count, dtype=torch.int64)
    else:
        raise NotImplementedError(f"pad mode {mode!r}")
    out = g.op("Gather", src, g.constant(table.to(torch.int64)), axis_i=d)
    return g.set_type(out, shape=out_shape)


def _filled_block(g, x, d, shape, value):
    """A block of ``shape`` (x's shape, ``count`` along ``d``) holding ``value`` in x's dtype."""
    from ..shape_helpers import SMALL, numel

    dt = g.dtype(x)
    fill = _pad_value(value, dt)
    count = numel(shape)
    if count is not None and count <= SMALL:
        return g.constant(torch.full(shape, fill, dtype=dt))
    ones = torch.full([1] * len(shape), fill, dtype=dt)
    if count is not None:
        return g.set_type(forms.broadcast_constant(g, ones, shape), shape=shape)
    forms.require(g, "Expand", "constant padding beside a dynamic dim")
    dims = g.op("Shape", x)
    pieces = []
    if d > 0:
        pieces.append(slice_(g, dims, [0], [d], [0]))
    pieces.append(g.constant([shape[d]], torch.int64))
    if d + 1 < len(shape):
        pieces.append(slice_(g, dims, [d + 1], [INT64_MAX], [0]))
    target = pieces[0] if len(pieces) == 1 else g.op("Concat", *pieces, axis_i=0)
    return g.set_type(forms.broadcast_constant(g, ones, shape, target), shape=shape)


@op("aten::constant_pad_nd")
def constant_pad_nd(g, x, pad, value=0):
    return pad_op(g, x, pad, "constant", value)


@op("aten::reflection_pad1d", "aten::reflection_pad2d", "aten::reflection_pad3d")
def reflection_pad(g, x, padding):
    return pad_op(g, x, padding, "reflect")


@op("aten::replication_pad1d", "aten::replication_pad2d", "aten::replication_pad3d")
def replication_pad(g, x, padding):
    if any(isinstance(p, int) and p < 0 for p in padding):
        return _replicate_by_gather(g, x, list(padding))
    return pad_op(g, x, padding, "edge")


def _replicate_by_gather(g, x, padding):
    """Replication with negative pads: output i reads input clamp(i - before, 0, n - 1), per dim."""
    rank = g.rank(x)
    for i in range(len(padding) // 2):
        d = rank - 1 - i
        before, after = padding[2 * i], padding[2 * i + 1]
        n = g.shape(x)[d]
        if not isinstance(n, int):
            raise NotImplementedError("negative replication padding of a dynamic dim")
        table = (torch.arange(n + before + after) - before).clamp(0, n - 1)
        shape = list(g.shape(x))
        shape[d] = int(table.numel())
        x = g.set_type(g.op("Gather", x, g.constant(table), axis_i=d), shape=shape)
    return x


@op("aten::_pad_circular")
def pad_circular(g, x, pad):
    rank = g.rank(x)
    for i in range(len(pad) // 2):
        d = rank - 1 - i
        before, after = pad[2 * i], pad[2 * i + 1]
        n = g.shape(x)[d]
        if not isinstance(n, int):
            raise NotImplementedError("circular padding of a dynamic dim")
        # negative pads crop first; the wrapped-around parts come from the cropped centre
        lo, hi = max(-before, 0), n - max(-after, 0)
        center = slice_(g, x, [lo], [hi], [d]) if (lo, hi) != (0, n) else x
        m = hi - lo
        parts = [center]
        if before > 0:
            parts.insert(0, slice_(g, center, [m - before], [m], [d]))
        if after > 0:
            parts.append(slice_(g, center, [0], [after], [d]))
        shape = list(g.shape(x))
        x = parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis_i=d)
        shape[d] = n + before + after
        g.set_type(x, shape=shape)
    return x


@op("aten::pad")
def pad(g, x, pad_, mode="constant", value=None):
    if mode == "constant":
        return pad_op(g, x, pad_, "constant", value)
    if mode == "reflect":
        return pad_op(g, x, pad_, "reflect")
    if mode == "replicate":
        return replication_pad(g, x, pad_)
    if mode == "circular":
        return pad_circular(g, x, pad_)
    raise NotImplementedError(f"pad mode {mode!r}")


# -- as_strided: honest only over a tensor that owns its contiguous storage ------------------------
@op("aten::as_strided", "aten::as_strided_copy")
def as_strided(g, x, size, stride, storage_offset=None):
    """A Gather from the flattened tensor with the element offsets the strides describe."""
    size, stride = list(size), list(stride)
    if not all(isinstance(v, int) for v in size + stride) or not owns_contiguous_storage(g):
        raise NotImplementedError("as_strided over a view or with dynamic sizes")
    offset = int(storage_offset or 0)
    table = torch.full(size, offset, dtype=torch.int64)
    for d, (n, s) in enumerate(zip(size, stride)):
        shape = [1] * len(size)
        shape[d] = n
        table = table + torch.arange(n).reshape(shape) * s
    static = g.static_shape(x)
    flat = g.set_type(reshape(g, x, [-1]), shape=[int(torch.tensor(static).prod())] if static is not None else None)
    return g.op("Gather", flat, g.constant(table), axis_i=0)

"""Writes through a strided view, composed from Concat and Gather (so from opset 7 on).

``as_strided_scatter`` places ``src`` at element offsets that depend only on the static sizes,
strides and storage offset, so the whole scatter is an index table computed at export time:
``Gather`` from ``[input..., src...]`` picks, for every output element, either the input's own
element or the ``src`` element written there. No scatter op is needed, and the result is exact.
"""

from __future__ import annotations

import torch

from ..forms import slice_
from ..helpers import cast, reshape
from ..registration import op
from ..shape_helpers import owns_contiguous_storage


def _view_offsets(size: list[int], stride: list[int], offset: int) -> torch.Tensor:
    """The flat element offset of every element of the view ``as_strided(size, stride, offset)``."""
    table = torch.full(size, offset, dtype=torch.int64)
    for d, (n, s) in enumerate(zip(size, stride)):
        shape = [1] * len(size)
        shape[d] = n
        table = table + torch.arange(n).reshape(shape) * s
    return table.reshape(-1)


@op("aten::as_strided_scatter")
def as_strided_scatter(g, x, src, size, stride, storage_offset=None):
    """``x`` with ``src`` written into the view ``x.as_strided(size, stride, storage_offset)``.

    PyTorch's offsets count from the start of x's storage, so the conversion declines unless x
    is exactly its own row-major storage (a contiguous tensor that is not a view), and unless
    sizes are static. A view whose elements overlap is declined too, as PyTorch rejects the
    write; ``src`` must have the view's shape.
    """
    size, stride = list(size), list(stride)
    shape = g.static_shape(x)
    if shape is None or not all(isinstance(v, int) for v in size + stride) \
            or not isinstance(storage_offset or 0, int) or not owns_contiguous_storage(g):
        raise NotImplementedError("as_strided_scatter over a view or with dynamic sizes")
    src_shape = g.static_shape(src)
    if src_shape is None or list(src_shape) != size:
        raise NotImplementedError("as_strided_scatter with a src shape other than the view's")
    numel = int(torch.tensor(shape, dtype=torch.int64).prod())
    offsets = _view_offsets(size, stride, int(storage_offset or 0))
    if offsets.numel() and (int(offsets.min()) < 0 or int(offsets.max()) >= numel):
        raise NotImplementedError("as_strided_scatter view reaches outside the tensor")
    if offsets.unique().numel() != offsets.numel():
        raise NotImplementedError("as_strided_scatter into a view whose elements overlap")
    # table[i]: i keeps x's element, numel + k takes src's k-th element
    table = torch.arange(numel, dtype=torch.int64)
    table[offsets] = numel + torch.arange(offsets.numel(), dtype=torch.int64)
    dt = g.dtype(x)
    both = g.op("Concat", reshape(g, x, [-1]), reshape(g, cast(g, src, dt), [-1]), axis_i=0)
    out = g.op("Gather", both, g.constant(table), axis_i=0)
    return reshape(g, out, list(shape))


def _resized(g, x, size: list) -> object:
    """The first ``prod(size)`` elements of x's storage, shaped ``size`` (what ``resize_`` keeps).

    Growing the tensor would expose uninitialised memory, and a view's storage is not its
    elements in order, so both decline.
    """
    shape = g.static_shape(x)
    if shape is None or not all(isinstance(v, int) for v in size):
        raise NotImplementedError("resize_ with dynamic sizes")
    numel = int(torch.tensor(list(shape), dtype=torch.int64).prod())
    wanted = int(torch.tensor(size, dtype=torch.int64).prod())
    if wanted > numel:
        raise NotImplementedError("resize_ to more elements exposes uninitialised memory")
    if not owns_contiguous_storage(g):
        raise NotImplementedError("resize_ of a view (its storage is not its elements in order)")
    if list(size) == list(shape):
        return x
    flat = reshape(g, x, [numel])
    kept = flat if wanted == numel else slice_(g, flat, [0], [wanted], [0])
    return reshape(g, kept, list(size), allowzero=True)


@op("aten::resize")
def resize(g, x, size, *, memory_format=None):
    """``x.resize_(size)`` to at most as many elements: the leading elements, reshaped."""
    return _resized(g, x, list(size))


@op("aten::resize_as")
def resize_as(g, x, other, *, memory_format=None):
    """``x.resize_as_(other)``: :func:`resize` to other's (static) shape."""
    shape = g.static_shape(other)
    if shape is None:
        raise NotImplementedError("resize_as_ to a dynamic shape")
    return _resized(g, x, list(shape))

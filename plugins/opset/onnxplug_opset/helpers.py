"""Shared maths for conversions: dtypes, constants, integer lists, shapes.

Every helper takes the GraphContext ``g`` first. The ONNX forms that change across opsets
(Unsqueeze's axes, Clip's bounds, Slice, Split...) live in :mod:`onnxplug_opset.forms`:
import them from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx_ir as ir
import torch

from . import forms  # the opset-dependent forms; they build on the helpers below (no cycle at call time)

Value = ir.Value


# -- dtypes -------------------------------------------------------------------------------------
def dtype(g, x: Any) -> torch.dtype:
    """The torch dtype of a value or Python scalar (as PyTorch would type it)."""
    if isinstance(x, ir.Value):
        d = g.dtype(x)
        if d is None:
            raise ValueError(f"the dtype of {x.name!r} is unknown; declare it with dtype=")
        return d
    if isinstance(x, bool):
        return torch.bool
    if isinstance(x, int):
        return torch.int64
    if isinstance(x, float):
        return torch.get_default_dtype()
    if isinstance(x, torch.Tensor):
        return x.dtype
    raise TypeError(f"no dtype for {x!r}")


def _meta(g, x: Any):
    if isinstance(x, ir.Value):
        rank = g.rank(x)
        return torch.empty((1,) * (rank if rank is not None else 1), dtype=dtype(g, x), device="meta")
    return x


def result_type(g, *xs: Any) -> torch.dtype:
    """PyTorch's type promotion over values and Python scalars (0-d tensors rank lower)."""
    metas = [_meta(g, x) for x in xs if x is not None]
    if len(metas) == 1:
        return dtype(g, xs[0])
    dt = torch.result_type(metas[0], metas[1])
    for m in metas[2:]:
        dt = torch.result_type(torch.empty((1,), dtype=dt, device="meta"), m)
    return dt


def cast(g, x: Value, to: torch.dtype) -> Value:
    """Cast ``x`` to ``to`` (nothing emitted when it already has that dtype)."""
    if g.dtype(x) == to:
        return x
    out = g.op("Cast", x, to_i=onnx_type(to))
    return g.set_type(out, shape=g.shape(x)) if g.shape(x) is not None else out


def onnx_type(dt: torch.dtype) -> int:
    from onnx_ir.tensor_adapters import from_torch_dtype

    return int(from_torch_dtype(dt))


def as_value(g, x: Any, dt: torch.dtype) -> Value:
    """A value of dtype ``dt``: casts a value, or makes a constant from a Python scalar."""
    if isinstance(x, ir.Value):
        return cast(g, x, dt)
    return g.constant(x, dt)


def promote(g, *xs: Any, to: torch.dtype | None = None) -> tuple[list[Value], torch.dtype]:
    """Bring inputs to their promoted dtype (or ``to``); returns ``(values, dtype)``."""
    dt = to or result_type(g, *xs)
    return [as_value(g, x, dt) for x in xs], dt


def scalar(g, value: Any, like: Value | torch.dtype) -> Value:
    """A 0-d constant with the dtype of ``like`` (a value or a dtype)."""
    dt = like if isinstance(like, torch.dtype) else dtype(g, like)
    return g.constant(value, dt)


# -- integer lists and shapes ------------------------------------------------------------------
def int_list(g, items: Any) -> Value:
    """A 1-D int64 tensor from ints and 0-d/1-d int values (SymInts arrive as 0-d values)."""
    if isinstance(items, ir.Value):
        return forms.unsqueeze(g, items, [0]) if g.rank(items) == 0 else items
    items = list(items)
    if all(isinstance(i, int) for i in items):
        return g.constant(items, torch.int64)
    parts, run = [], []
    for i in items:
        if isinstance(i, int):
            run.append(i)
            continue
        if run:
            parts.append(g.constant(run, torch.int64))
            run = []
        i = cast(g, i, torch.int64)
        parts.append(forms.unsqueeze(g, i, [0]) if g.rank(i) in (0, None) else i)
    if run:
        parts.append(g.constant(run, torch.int64))
    if len(parts) == 1:
        return parts[0]
    return g.op("Concat", *parts, axis_i=0)


def shape_of(g, x: Value) -> Value:
    return g.op("Shape", x)


def dim_size(g, x: Value, axis: int) -> int | Value:
    """Size of ``axis`` of ``x``: an int when static, else a 0-d int64 value."""
    shape = g.shape(x)
    if shape is not None and isinstance(shape[axis], int):
        return shape[axis]
    return forms.shape_dim(g, x, axis)


def shape_list(g, x: Value) -> list[int | Value]:
    """The sizes of ``x`` as a list of ints (static) and 0-d values (dynamic)."""
    return [dim_size(g, x, i) for i in range(g.rank(x))]


def norm_dim(d: int, rank: int) -> int:
    return d + rank if d < 0 else d


def norm_dims(dims: Sequence[int] | int | None, rank: int) -> list[int]:
    if dims is None:
        return list(range(rank))
    if isinstance(dims, int):
        dims = [dims]
    return [norm_dim(d, max(rank, 1)) for d in dims]


def _static_target(in_shape: Sequence[int], shape: Sequence[int], allowzero: bool) -> list[int]:
    """The fully explicit shape a Reshape of a ``in_shape`` tensor to ``shape`` gives.

    A 0 copies ``in_shape``'s dim at that position unless ``allowzero`` (then it is an empty dim);
    a -1 takes what is left. A -1 beside an empty dim cannot be inferred (any size fits):
    NotImplementedError, so the caller must name that size.
    """
    out = []
    for i, s in enumerate(shape):
        if s == 0 and not allowzero:
            if i >= len(in_shape):
                raise NotImplementedError(f"Reshape of a rank-{len(in_shape)} tensor copies dim {i}")
            s = in_shape[i]
        out.append(int(s))
    if -1 in out:
        known, total = 1, 1
        for s in out:
            known *= s if s != -1 else 1
        for s in in_shape:
            total *= s
        if known == 0:
            raise NotImplementedError(f"reshape of {list(in_shape)} to {list(shape)}: the -1 beside an empty "
                                      "dim could be any size")
        out[out.index(-1)] = total // known
    return out


def reshape(g, x: Value, shape: Any, *, allowzero: bool = False) -> Value:
    """Reshape ``x`` to ``shape``: ints and 0-d int values (SymInts), or a 1-D int64 value.

    A 0 means what it means to ONNX's Reshape, the dim of ``x`` at that position, unless
    ``allowzero`` is set: then it is a dim of size 0, PyTorch's meaning, which a conversion that
    computes a shape from sizes (any of which may be 0) wants. A -1 takes the remaining size.

    When ``x``'s shape is static and ``shape`` holds only ints, the explicit result shape is
    computed here: the Reshape gets it without 0s or -1 (a -1 cannot be inferred at run time for
    an empty tensor) and the result's shape is declared; an empty result is an empty constant.
    Otherwise, with ``allowzero``, an all-int ``shape`` holding a 0 is an empty constant too, and
    else ``allowzero`` becomes Reshape's ``allowzero`` attribute (opset 14); below 14 a literal 0
    must fall where ``x``'s dim is statically 0 too, where copying gives the same.
    """
    dt = g.dtype(x)
    static = g.static_shape(x)
    if (static is not None and not isinstance(shape, ir.Value)
            and all(isinstance(s, int) for s in shape)):
        target = _static_target(static, list(shape), allowzero)
        if 0 in target:
            return g.constant(torch.zeros(target, dtype=dt))
        return g.set_type(g.op("Reshape", x, g.constant(target, torch.int64)), shape=target)
    if allowzero and not isinstance(shape, ir.Value):
        zeros = [i for i, s in enumerate(shape) if isinstance(s, int) and s == 0]
        if zeros and all(isinstance(s, int) and s >= 0 for s in shape):  # an empty result of a known shape
            return g.constant(torch.zeros(list(shape), dtype=dt))
    return forms.reshape_node(g, x, shape, allowzero)


def transpose(g, x: Value, perm: Sequence[int]) -> Value:
    if list(perm) == list(range(len(perm))):
        return x
    out = g.op("Transpose", x, perm_is=list(perm))
    shape = g.shape(x)
    return g.set_type(out, shape=[shape[p] for p in perm]) if shape is not None else out


def is_float(dt: torch.dtype | None) -> bool:
    return dt is not None and dt.is_floating_point


def unsupported(message: str):
    """Raise inside a conversion: the core reports it with the op's location."""
    raise NotImplementedError(message)


"""Axes as an attribute or an input: Unsqueeze, Squeeze and the Reduce ops (inputs from opset
13, from 18 for the Reduce ops but ReduceSum), Split (sizes an input from 13, ``num_outputs``
from 18) and Shape's ``start``/``end`` (15)."""

from __future__ import annotations

from collections.abc import Sequence

import onnx_ir as ir
import torch

from .. import helpers as h
from .availability import (
    axes_as_input, shape_takes_range, slice_takes_steps, split_takes_num_outputs,
    split_takes_sizes_input,
)
from .bounds import slice_

Value = ir.Value


def unsqueeze(g, x: Value, axes: Sequence[int]) -> Value:
    """Insert size-1 ``axes`` (positions in the result); the result's shape is declared when known.

    ``axes`` is an attribute before opset 13 and an int64 input from it.
    """
    if axes_as_input(g, "Unsqueeze"):
        out = g.op("Unsqueeze", x, g.constant(list(axes), torch.int64))
    else:
        out = g.op("Unsqueeze", x, axes_is=list(axes))
    shape = g.shape(x)
    if shape is not None:
        rank = len(shape) + len(axes)
        new = sorted(a % rank for a in axes)
        rest = iter(shape)
        g.set_type(out, shape=[1 if i in new else next(rest) for i in range(rank)])
    return out


def squeeze(g, x: Value, axes: Sequence[int] | None = None) -> Value:
    """Drop size-1 ``axes`` (None: every size-1 axis); the result's shape is declared when known.

    ``axes`` is an attribute before opset 13 and an int64 input from it.
    """
    dt = g.dtype(x)
    shape = g.shape(x)
    if axes is None:
        out = g.op("Squeeze", x, dtype=dt)
        if shape is not None and all(isinstance(d, int) for d in shape):
            g.set_type(out, shape=[d for d in shape if d != 1])
        return out
    if axes_as_input(g, "Squeeze"):
        out = g.op("Squeeze", x, g.constant(list(axes), torch.int64))
    else:
        out = g.op("Squeeze", x, axes_is=list(axes))
    if shape is not None:
        drop = {a % max(len(shape), 1) for a in axes}
        g.set_type(out, shape=[d for i, d in enumerate(shape) if i not in drop])
    return out


def reduce(g, op_type: str, x: Value, axes: Sequence[int] | None, keepdims: bool,
           dt: torch.dtype | None = None) -> Value:
    """``ReduceX`` over ``axes`` (None or empty: all).

    ``axes`` became an input at opset 13 for ``ReduceSum`` and at 18 for the other reductions.
    """
    dt = dt or g.dtype(x)
    as_input = axes_as_input(g, op_type)
    if axes is not None and len(axes) == 0:
        axes = None
    if axes is None:
        return g.op(op_type, x, keepdims_i=int(keepdims))
    if as_input:
        return g.op(op_type, x, g.constant(list(axes), torch.int64), keepdims_i=int(keepdims))
    return g.op(op_type, x, axes_is=list(axes), keepdims_i=int(keepdims))


def split(g, x: Value, sizes: Sequence[int], axis: int) -> tuple[Value, ...]:
    """``x`` cut along ``axis`` into parts of the static ``sizes``.

    The sizes are an attribute ``split`` before opset 13 and an int64 input from it.
    """
    if len(sizes) == 1:
        return (x,)
    if split_takes_sizes_input(g):
        out = g.op("Split", x, g.constant(list(sizes), torch.int64), axis_i=axis,
                   outputs=len(sizes))
    else:
        out = g.op("Split", x, axis_i=axis, split_is=list(sizes), outputs=len(sizes))
    return out if isinstance(out, tuple) else (out,)


def split_equal(g, x: Value, axis: int, count: int) -> list[Value]:
    """``x`` cut into ``count`` equal parts along ``axis``, sizes left to the runtime.

    ``Split`` without sizes divides evenly at every opset; from 18 ``num_outputs`` names the count.
    """
    if count == 1:
        return [x]
    num = count if split_takes_num_outputs(g) else None
    return list(g.op("Split", x, axis_i=axis, num_outputs_i=num, outputs=count))


def split_dynamic(g, x: Value, sizes: Sequence, dim: int) -> list[Value]:
    """``x`` cut along ``dim`` into parts of ``sizes`` (ints and 0-d values, some dynamic):
    ``Split`` with a sizes input from opset 13; before it one ``Slice`` per part bounded by
    running sums, which needs Slice's input bounds (opset 10) unless only the last is dynamic."""
    if split_takes_sizes_input(g):
        return list(g.op("Split", x, h.int_list(g, sizes), axis_i=dim, outputs=len(sizes)))
    if not slice_takes_steps(g) and not all(isinstance(s, int) for s in sizes[:-1]):
        raise NotImplementedError(
            "splitting a dynamic dim into unequal parts with dynamic sizes before the last needs "
            "Slice with input bounds (opset 10) or Split with a split input (opset 13)")
    from ..shape_helpers import size_add  # builds on these forms: imported when used

    parts, start = [], 0
    for i, s in enumerate(sizes):
        end = size_add(g, start, s) if i < len(sizes) - 1 else 2**63 - 1
        parts.append(slice_(g, x, [start], [end], [dim]))
        start = end
    return parts


def shape_dim(g, x: Value, axis: int) -> Value:
    """The size of ``axis`` of ``x`` as a 0-d int64 value, read at run time.

    From opset 15 (when the rank is known) ``Shape`` reads just that dim (``start``/``end``);
    before, ``Gather`` picks it from the whole shape.
    """
    rank = g.rank(x)
    if shape_takes_range(g) and rank is not None:
        a = axis % rank
        return squeeze(g, g.op("Shape", x, start_i=a, end_i=a + 1), [0])
    return g.op("Gather", h.shape_of(g, x), g.constant(axis, torch.int64), axis_i=0)

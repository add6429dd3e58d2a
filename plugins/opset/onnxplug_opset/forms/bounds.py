"""Bounds as attributes or inputs: Slice (inputs and steps from opset 10), Clip (inputs from
11), Pad (pads an input and any dtype from 11), Reshape's ``allowzero`` (14), Expand (8), TopK
(``k`` an input from 10, ``largest`` from 11) and DFT (axis an input from 20)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx_ir as ir
import torch

from .. import helpers as h
from .availability import (
    clip_takes_inputs, dft_axis_input, has_expand, minmax_take_ints, pad_takes_bool,
    pad_takes_ints, require, reshape_takes_allowzero, slice_takes_steps, topk_takes_k_input,
    topk_takes_largest,
)

Value = ir.Value


def slice_(g, x: Value, starts: Sequence, ends: Sequence, axes: Sequence[int],
           steps: Sequence[int] | None = None) -> Value:
    """``Slice``: bounds are attributes before opset 10 (static, no steps) and inputs from it."""
    static = all(isinstance(v, int) for v in list(starts) + list(ends))
    if not slice_takes_steps(g):
        if not static or (steps and any(s != 1 for s in steps)):
            raise NotImplementedError("Slice with steps or dynamic bounds needs opset >= 10")
        return g.op("Slice", x, starts_is=list(starts), ends_is=list(ends), axes_is=list(axes))
    inputs = [h.int_list(g, starts), h.int_list(g, ends), g.constant(list(axes), torch.int64)]
    if steps and any(s != 1 for s in steps):
        inputs.append(g.constant(list(steps), torch.int64))
    return g.op("Slice", x, *inputs)


def strided_slice(g, x: Value, dim: int, start: Any, end: Any, step: int) -> Value:
    """``x[start:end:step]`` along ``dim``: ``Slice`` with steps from opset 10; before it a
    ``Gather`` of the positions when the size and bounds are static (Slice-1 has no steps)."""
    size = (g.shape(x) or [None] * (dim + 1))[dim]
    if not slice_takes_steps(g) and step != 1 and all(isinstance(v, int) for v in (size, start, end)):
        return g.op("Gather", x, g.constant(torch.arange(size)[start:end:step]), axis_i=dim)
    return slice_(g, x, [start], [end], [dim], [step])


def flip(g, x: Value, d: int) -> Value:
    """``x`` reversed along ``d``: a step -1 ``Slice`` from opset 10; a constant-index ``Gather``
    (static size) before."""
    n = g.shape(x)[d]
    if isinstance(n, int) and n <= 1:
        return x
    if slice_takes_steps(g):
        big = 2**63 - 1
        out = g.op("Slice", x, g.constant([-1]), g.constant([-big]), g.constant([d]), g.constant([-1]))
    elif isinstance(n, int):
        out = g.op("Gather", x, g.constant(torch.arange(n - 1, -1, -1)), axis_i=d)
    else:
        raise NotImplementedError("flipping a dynamic dim needs Slice with steps (opset 10)")
    return g.set_type(out, shape=g.shape(x))


def clip(g, x: Value, lo: Any = None, hi: Any = None) -> Value:
    """Clamp to ``[lo, hi]`` (either may be None).

    The bounds are float attributes before opset 11 (Python numbers only) and inputs from it;
    ``Clip`` takes only floats before 12 (other types clip in float32 and cast back).
    """
    dt = g.dtype(x)
    if not minmax_take_ints(g) and dt not in (torch.float16, torch.float32, torch.float64):
        return h.cast(g, clip(g, h.cast(g, x, torch.float32), lo, hi), dt)
    if not clip_takes_inputs(g):
        if not all(v is None or isinstance(v, (int, float)) for v in (lo, hi)):
            raise NotImplementedError("Clip with tensor bounds needs opset >= 11")
        return g.op("Clip", x, min_f=None if lo is None else float(lo),
                    max_f=None if hi is None else float(hi))
    lo_v = None if lo is None else h.as_value(g, lo, dt)
    hi_v = None if hi is None else h.as_value(g, hi, dt)
    return g.op("Clip", x, lo_v, hi_v)


def pad(g, x: Value, pads: Sequence, mode: str | None = None, value: Any = None) -> Value:
    """``Pad`` of ``x`` with ONNX ``pads`` (all begins, then all ends); ``mode`` None is ONNX's
    default (constant zeros), ``mode="constant"`` pads with ``value`` (a Python number, default 0).

    Before opset 11 the pads (static ints only) and the value (a float) are attributes; from 11
    the pads are an int64 input and the value an optional input of ``x``'s dtype.
    """
    if not pad_takes_ints(g):
        if not all(isinstance(p, int) for p in pads):
            raise NotImplementedError("dynamic pads need opset 11")
        return g.op("Pad", x, pads_is=list(pads), mode_s=mode,
                    value_f=float(value or 0) if mode == "constant" else None)
    const = g.constant(value if value is not None else 0, g.dtype(x)) if mode == "constant" else None
    return g.op("Pad", x, h.int_list(g, pads), const, mode_s=mode)


def pad_dtype(g, dt: torch.dtype) -> torch.dtype | None:
    """The dtype a ``Pad`` of ``dt`` runs in (cast back after), or None where no Pad takes it
    and the caller composes one: Pad-2 (before opset 11) takes float16/32/64 only; from 11 Pad
    takes the others, onnxruntime lacking int16/uint16 (run as int32) and bfloat16 (float32),
    and ONNX bool until 13 (run as uint8)."""
    if not pad_takes_ints(g):
        return dt if dt in (torch.float16, torch.float32, torch.float64) else None
    if dt in (torch.int16, torch.uint16):
        return torch.int32
    if dt == torch.bfloat16:
        return torch.float32
    if dt == torch.bool and not pad_takes_bool(g):
        return torch.uint8
    return dt


def reshape_node(g, x: Value, shape: Any, allowzero: bool) -> Value:
    """One ``Reshape`` of ``x`` to ``shape`` (ints, 0-d values, or a 1-D int64 value).

    ``allowzero`` (a 0 in ``shape`` is an empty dim, not a copy of the input's) is an attribute
    from opset 14; below it a literal 0 must fall where ``x``'s dim is statically 0 too, where
    copying gives the same, else NotImplementedError.
    """
    if allowzero and not reshape_takes_allowzero(g) and not isinstance(shape, ir.Value):
        zeros = [i for i, s in enumerate(shape) if isinstance(s, int) and s == 0]
        in_shape = g.shape(x) or ()
        if zeros and not all(i < len(in_shape) and in_shape[i] == 0 for i in zeros):
            raise NotImplementedError("reshape to a shape with an empty dim where the input's is not "
                                      "needs Reshape's allowzero (opset 14)")
    attrs = {"allowzero_i": 1} if allowzero and reshape_takes_allowzero(g) else {}
    return g.op("Reshape", x, h.int_list(g, shape), **attrs)


def expand(g, x: Value, shape: Any) -> Value:
    """Broadcast ``x`` to ``shape`` (ints and 0-d values, or a 1-D int64 value): ``Expand`` from
    opset 8; below it (static shapes only) a broadcasting ``Add`` of zeros, in x's dtype where
    Add-7 takes it (float32/64, int32/64), else in float32 and cast back."""
    dt = g.dtype(x)
    if has_expand(g):
        return g.op("Expand", x, h.int_list(g, shape))
    if isinstance(shape, ir.Value) or not all(isinstance(s, int) for s in shape):
        raise NotImplementedError("expand to a dynamic shape needs Expand (opset 8)")
    run = dt if dt in (torch.float32, torch.float64, torch.int32, torch.int64) else torch.float32
    zeros = g.constant(torch.zeros(list(shape), dtype=run))
    return h.cast(g, g.op("Add", h.cast(g, x, run), zeros), dt)


def broadcast_constant(g, t: torch.Tensor, shape: Sequence[int], target: Value | None = None) -> Value:
    """The constant ``t`` (size-1 dims) broadcast to ``shape`` (static) or to the 1-D int64
    ``target`` when given (a dynamic shape): ``Expand`` from opset 8; before it the full
    constant of the static ``shape`` (a dynamic ``target`` is NotImplementedError)."""
    if has_expand(g):
        shp = target if target is not None else g.constant(list(shape), torch.int64)
        return g.op("Expand", g.constant(t), shp)
    if target is not None:
        require(g, "Expand", "a constant broadcast to a dynamic shape")
    return g.constant(t.expand(list(shape)).clone())


def topk(g, x: Value, k: int | Value, axis: int, largest: bool = True,
         integers=None) -> tuple[Value, Value]:
    """One sorted ``TopK`` node (values, indices).

    ``k`` is an attribute before opset 10 (a static int) and an input from it. ``largest`` (and
    ``sorted``) and non-float inputs exist from 11: below it the smallest values are the largest
    of ``-x``, and an integer ``x`` goes to ``integers(g, x, k, axis, largest)`` (the caller's
    exact ordering by float keys), NotImplementedError when there is none.
    """
    if not topk_takes_largest(g) and not g.dtype(x).is_floating_point:
        if integers is None:
            raise NotImplementedError(f"TopK of {g.dtype(x)} needs opset 11")
        return integers(g, x, k, axis, largest)
    if not topk_takes_largest(g) and not largest:
        vals, idx = topk(g, g.set_type(g.op("Neg", x), shape=g.shape(x)), k, axis, True)
        return g.op("Neg", vals), idx
    if not topk_takes_k_input(g):
        if not isinstance(k, int):
            raise NotImplementedError("TopK with a dynamic k needs opset 10")
        return g.op("TopK", x, k_i=k, axis_i=axis, outputs=2)
    k_v = g.constant([k], torch.int64) if isinstance(k, int) else h.reshape(g, h.cast(g, k, torch.int64), [1])
    if not topk_takes_largest(g):
        return g.op("TopK", x, k_v, axis_i=axis, outputs=2)
    return g.op("TopK", x, k_v, axis_i=axis, largest_i=int(largest), sorted_i=1, outputs=2)


def dft(g, x: Value, length: Value | None, axis: int, dt: torch.dtype, **attrs) -> Value:
    """One ``DFT`` node: its axis is an attribute at opset 17 and an int64 input from 20."""
    if dft_axis_input(g):
        return g.op("DFT", x, length, g.constant(axis, torch.int64), dtype=dt, **attrs)
    return g.op("DFT", x, length, axis_i=axis, dtype=dt, **attrs)

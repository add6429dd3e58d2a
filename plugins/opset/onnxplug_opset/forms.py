"""The ONNX forms that change across opsets: the only module of this plugin that reads ``g.opset``.

A conversion registered in ``opsetN/`` says what an ATen op becomes; when what it becomes
changes at a later opset, that later form is a registration in ``opsetM/``. What is left are
ONNX forms whose *signature* or *availability* changes while the conversion's logic does not:
Unsqueeze's axes moving from an attribute to an input, Clip's bounds becoming inputs, Equal
accepting floats. Those live here, as small named functions, so that "what does the plugin
emit at opset N" has one place to read:

* **emitters** (:func:`unsqueeze`, :func:`squeeze`, :func:`reduce`, :func:`split`,
  :func:`slice_`, :func:`clip`, :func:`pad`, :func:`topk`, :func:`erf`, :func:`expand`, ...)
  build the node in the form the target opset has; their docstrings say what changes where;
* **availability predicates** (:func:`has_where`, :func:`has_isnan`,
  :func:`equal_takes_floats`, ...) say whether an op, an input type or an attribute exists at
  the target opset, for the compositions in the helper modules that stand in for it below.

Every function takes the GraphContext ``g`` first. The nn family (conv, pool, norm, loss,
attention, recurrent and their ``nn_helpers``) puts its opset-dependent forms here too
(Gemm's optional C, pooling's ``ceil_mode`` and ``dilations``, LogSoftmax's axis, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx_ir as ir
import torch

from . import helpers as h

Value = ir.Value


def target_opset(g) -> int:
    """The opset being exported to, for error messages only: branch on a named form instead."""
    return g.opset


# -- availability: ops -------------------------------------------------------------------------
def has_expand(g) -> bool:
    """``Expand`` exists from opset 8 (below it a broadcasting ``Add`` stands in)."""
    return g.opset >= 8


def has_where(g) -> bool:
    """``Where`` exists from opset 9 (below it values are blended or gathered)."""
    return g.opset >= 9


def has_isnan(g) -> bool:
    """``IsNaN`` exists from opset 9."""
    return g.opset >= 9


def has_erf(g) -> bool:
    """``Erf`` exists from opset 9."""
    return g.opset >= 9


def has_constant_of_shape(g) -> bool:
    """``ConstantOfShape`` (a fill of a dynamic shape) exists from opset 9."""
    return g.opset >= 9


def has_nonzero(g) -> bool:
    """``NonZero`` exists from opset 9."""
    return g.opset >= 9


def has_eye_like(g) -> bool:
    """``EyeLike`` exists from opset 9."""
    return g.opset >= 9


def has_isinf(g) -> bool:
    """``IsInf`` exists from opset 10."""
    return g.opset >= 10


def has_mod(g) -> bool:
    """``Mod`` (with its ``fmod`` attribute) exists from opset 10."""
    return g.opset >= 10


def has_range(g) -> bool:
    """``Range`` exists from opset 11."""
    return g.opset >= 11


def has_round(g) -> bool:
    """``Round`` (half to even) exists from opset 11."""
    return g.opset >= 11


def has_gather_elements(g) -> bool:
    """``GatherElements`` and ``ScatterElements`` exist from opset 11."""
    return g.opset >= 11


def has_scatter_nd(g, reduction: bool = False) -> bool:
    """``ScatterND`` exists from opset 11; its ``reduction`` attribute (``add``...) from 16."""
    return g.opset >= (16 if reduction else 11)


def has_ordered_compare(g) -> bool:
    """``LessOrEqual`` and ``GreaterOrEqual`` exist from opset 12."""
    return g.opset >= 12


def has_nll_loss(g) -> bool:
    """``NegativeLogLikelihoodLoss`` exists from opset 12."""
    return g.opset >= 12


def has_random_kernels(g, last: int) -> bool:
    """Whether onnxruntime implements the ``Random*`` ops at the target opset: up to ``last``
    (21 for the onnxruntime this plugin is tested with)."""
    return g.opset <= last


# -- availability: input types and attributes --------------------------------------------------
def unsqueeze_takes_negative_axes(g) -> bool:
    """``Unsqueeze``'s axes may be negative (counted from the end of the result) from opset 11."""
    return g.opset >= 11


def less_takes_ints(g) -> bool:
    """``Less``/``Greater`` take integers from opset 9 (floats only before)."""
    return g.opset >= 9


def matmul_takes_ints(g) -> bool:
    """``MatMul`` takes int32/int64 from opset 9 (floats only before)."""
    return g.opset >= 9


def equal_takes_floats(g) -> bool:
    """``Equal`` takes floats from opset 11 (bool and integers only before)."""
    return g.opset >= 11


def equal_takes_bools(g) -> bool:
    """``Equal`` on bools has onnxruntime kernels from opset 11."""
    return g.opset >= 11


def gather_takes_negative(g) -> bool:
    """``Gather``'s indices may be negative (counted from the end) from opset 11."""
    return g.opset >= 11


def gemm_c_optional(g) -> bool:
    """``Gemm``'s C input is optional from opset 11."""
    return g.opset >= 11


def minmax_take_any_float(g) -> bool:
    """onnxruntime's ``Max``/``Min`` take float types besides float32 from opset 8 (Max-6/Min-6
    are float32 only)."""
    return g.opset >= 8


def minmax_take_ints(g) -> bool:
    """``Max``/``Min`` (and ``Clip``) take integers from opset 12."""
    return g.opset >= 12


def clip_takes_inputs(g) -> bool:
    """``Clip``'s bounds are inputs (of ``x``'s type) from opset 11 (float attributes before)."""
    return g.opset >= 11


def clip_takes_double(g) -> bool:
    """onnxruntime has a float64 ``Clip`` kernel from opset 12."""
    return g.opset >= 12


def pad_takes_ints(g) -> bool:
    """``Pad`` takes non-float types (and its pads as an input) from opset 11."""
    return g.opset >= 11


def pad_takes_bool(g) -> bool:
    """``Pad`` takes bool from opset 13."""
    return g.opset >= 13


def pad_takes_wrap(g) -> bool:
    """``Pad``'s ``mode="wrap"`` exists from opset 19."""
    return g.opset >= 19


def arith_takes_int8(g) -> bool:
    """``Add``/``Sub``/``Mul``/``Div`` take int8/uint8 from opset 14."""
    return g.opset >= 14


def quantize_takes_int16(g) -> bool:
    """``QuantizeLinear``/``DequantizeLinear`` take 16-bit integers from opset 21."""
    return g.opset >= 21


def slice_takes_steps(g) -> bool:
    """``Slice`` takes steps (and input bounds) from opset 10."""
    return g.opset >= 10


def pool_takes_ceil_mode(g) -> bool:
    """``MaxPool``/``AveragePool`` take ``ceil_mode`` from opset 10."""
    return g.opset >= 10


def max_pool_takes_dilations(g) -> bool:
    """``MaxPool`` takes ``dilations`` from opset 10."""
    return g.opset >= 10


def log_softmax_any_axis(g) -> bool:
    """``Softmax``/``LogSoftmax`` work along one axis from opset 13 (they flatten to 2-D before)."""
    return g.opset >= 13


def topk_takes_k_input(g) -> bool:
    """``TopK``'s ``k`` is an input from opset 10 (an attribute before)."""
    return g.opset >= 10


def topk_takes_largest(g) -> bool:
    """``TopK`` takes ``largest``/``sorted`` and integer inputs from opset 11."""
    return g.opset >= 11


def split_takes_num_outputs(g) -> bool:
    """``Split`` names its output count (``num_outputs``) from opset 18."""
    return g.opset >= 18


def split_takes_sizes_input(g) -> bool:
    """``Split``'s sizes are an input from opset 13 (an attribute ``split`` before)."""
    return g.opset >= 13


def shape_takes_range(g) -> bool:
    """``Shape`` takes ``start``/``end`` from opset 15."""
    return g.opset >= 15


def reshape_takes_allowzero(g) -> bool:
    """``Reshape``'s ``allowzero`` (a 0 is an empty dim) exists from opset 14."""
    return g.opset >= 14


def dft_axis_input(g) -> bool:
    """``DFT``'s axis is an input from opset 20 (an attribute at 17)."""
    return g.opset >= 20


# -- emitters: axes as an attribute or an input -------------------------------------------------
def axes_as_input(g, op_type: str) -> bool:
    """Whether ``op_type``'s axes are an int64 input (else an ``axes`` attribute): from opset 13
    for ``Unsqueeze``, ``Squeeze`` and ``ReduceSum``, from 18 for the other ``Reduce*`` ops."""
    return g.opset >= (13 if op_type in ("Unsqueeze", "Squeeze", "ReduceSum") else 18)


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


# -- emitters: bounds as attributes or inputs ---------------------------------------------------
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
    """Broadcast ``x`` to ``shape``: ``Expand`` from opset 8; a broadcasting float32 ``Add`` of
    zeros (static shapes only) below."""
    dt = g.dtype(x)
    if has_expand(g):
        return g.op("Expand", x, h.int_list(g, shape))
    if not all(isinstance(s, int) for s in shape):
        raise NotImplementedError("expand to a dynamic shape needs opset >= 8")
    zeros = g.constant(torch.zeros(list(shape), dtype=torch.float32))
    out = g.op("Add", h.cast(g, x, torch.float32), zeros)
    return h.cast(g, out, dt)


def topk(g, x: Value, k: int | Value, axis: int, largest: bool = True) -> tuple[Value, Value]:
    """One sorted ``TopK`` node (values, indices) of a float input.

    ``k`` is an attribute before opset 10 (a static int) and an input from it; ``largest`` (and
    ``sorted``) exist from 11, so below it ``largest=False`` is NotImplementedError (the caller
    negates instead).
    """
    if not topk_takes_k_input(g):
        if not isinstance(k, int):
            raise NotImplementedError("TopK with a dynamic k needs opset 10")
        return g.op("TopK", x, k_i=k, axis_i=axis, outputs=2)
    k_v = g.constant([k], torch.int64) if isinstance(k, int) else h.reshape(g, h.cast(g, k, torch.int64), [1])
    if not topk_takes_largest(g):
        if not largest:
            raise NotImplementedError("TopK of the smallest values needs opset 11")
        return g.op("TopK", x, k_v, axis_i=axis, outputs=2)
    return g.op("TopK", x, k_v, axis_i=axis, largest_i=int(largest), sorted_i=1, outputs=2)


def dft(g, x: Value, length: Value | None, axis: int, dt: torch.dtype, **attrs) -> Value:
    """One ``DFT`` node: its axis is an attribute at opset 17 and an int64 input from 20."""
    if dft_axis_input(g):
        return g.op("DFT", x, length, g.constant(axis, torch.int64), dtype=dt, **attrs)
    return g.op("DFT", x, length, axis_i=axis, dtype=dt, **attrs)


# -- emitters: nearest-neighbour resampling ----------------------------------------------------
def resize_shrinks(g) -> bool:
    """``Resize`` (opset 10) takes scales below 1 too; ``Upsample`` (7-9) only enlarges."""
    return g.opset >= 10


def nearest_rescale(g, x: Value, scales: Sequence[float]) -> Value:
    """Nearest-mode rescaling by ``scales`` (one per axis, asymmetric coordinates: output ``i``
    reads input ``i / scale``): ``Upsample`` with a ``scales`` attribute at opsets 7-8, with a
    scales input at 9, ``Resize`` from 10 (opset 11's coordinate modes are conversions of
    their own, in ``opset11/resample.py``)."""
    if g.opset < 9:
        return g.op("Upsample", x, mode_s="nearest", scales_fs=list(scales))
    factors = g.constant(torch.tensor(list(scales), dtype=torch.float32))
    return g.op("Resize" if resize_shrinks(g) else "Upsample", x, factors, mode_s="nearest")


# -- emitters: ops composed where they are missing ----------------------------------------------
def erf(g, x: Value) -> Value:
    """``Erf`` from opset 9; below it, Abramowitz-Stegun 7.1.26 (max error 1.5e-7)."""
    dt = g.dtype(x)
    if has_erf(g):
        return g.op("Erf", x)
    a1, a2, a3, a4, a5, p = 0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429, 0.3275911
    c = lambda v: g.constant(v, dt)  # noqa: E731
    sign = g.op("Sub", h.cast(g, g.op("Greater", x, c(0.0)), dt),  # (x > 0) - (x < 0): inf-safe
                h.cast(g, g.op("Less", x, c(0.0)), dt))
    ax = g.op("Abs", x)
    t = g.op("Reciprocal", g.op("Add", c(1.0), g.op("Mul", c(p), ax)))
    poly = c(a5)
    for coef in (a4, a3, a2, a1):
        poly = g.op("Add", g.op("Mul", poly, t), c(coef))
    poly = g.op("Mul", poly, t)
    e = g.op("Exp", g.op("Neg", g.op("Mul", ax, ax)))
    y = g.op("Sub", c(1.0), g.op("Mul", poly, e))
    return g.op("Mul", sign, y)


def float_equal(g, a: Value, b: Value) -> Value:
    """``a == b`` of floats: ``Equal`` from opset 11; before it ``Not(Or(Less, Greater))``, which
    is True for a NaN operand (a caller that may see NaN masks it, as ``compare`` does)."""
    if equal_takes_floats(g):
        return g.op("Equal", a, b)
    return g.op("Not", g.op("Or", g.op("Less", a, b), g.op("Greater", a, b)))

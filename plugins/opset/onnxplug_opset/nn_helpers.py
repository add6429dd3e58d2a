"""Maths shared by the reduction, linear-algebra and neural-network conversions.

Like ``helpers``, every function takes ``g`` first. None reads ``g.opset``: where the ONNX form
an nn conversion needs changes across opsets (an op that appears, an input that becomes
optional), the function asks :mod:`onnxplug_opset.forms`, the plugin's one module of
opset-dependent forms, and a change in what an op *becomes* is a registration in the
``opsetN/`` family module (``conv``, ``pool``, ``norm``, ``loss``, ``attention``...).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from . import forms
from .dtypes import float_compute
from .forms import expand, propagate_nan, reduce, slice_, unsqueeze  # noqa: F401 - propagate_nan for vector_norm
from .helpers import cast, dim_size, norm_dims, reshape, scalar, shape_of, transpose
from .shape_helpers import where


def axes_of(dim: Any, rank: int) -> list[int] | None:
    """Normalised reduction axes; None (all axes) for ``dim`` None or empty, as PyTorch reads it."""
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return None
    return sorted(set(norm_dims(dim, rank)))


def matmul(g, a, b, dt: torch.dtype):
    """``a @ b`` (ONNX's MatMul broadcasting) with the result in ``dt``, PyTorch's dtype for it.

    Floats ONNX kernels take multiply as they are (others, bfloat16, in float32). Integers
    multiply in int64 from opset 9, where MatMul takes it (int32 stays int32): exact, and
    wrapping on overflow as PyTorch does, narrower types through the cast back. Below opset 9
    MatMul is float-only: integers multiply in float64, exact while sums stay below 2**53, and
    come back through int64 so that a narrower type wraps too.
    """
    if dt.is_floating_point or dt == torch.bool:
        compute = float_compute(dt)
    else:
        compute = forms.matmul_int_dtype(g, dt)
    y = g.op("MatMul", cast(g, a, compute), cast(g, b, compute))
    if compute == torch.float64 and not dt.is_floating_point and dt != torch.bool:
        y = cast(g, y, torch.int64)
    return cast(g, y, dt)


def count(g, x, axes: Sequence[int] | None, dt: torch.dtype):
    """How many elements a reduction of ``x`` over ``axes`` combines, as a 0-d ``dt`` value."""
    rank = g.rank(x)
    axes = list(range(rank)) if axes is None else list(axes)
    sizes = [dim_size(g, x, a) for a in axes]
    if all(isinstance(s, int) for s in sizes):
        n = 1
        for s in sizes:
            n *= s
        return scalar(g, n, dt)
    shape = cast(g, shape_of(g, x), torch.int64)
    picked = g.op("Gather", shape, g.constant(axes, torch.int64), axis_i=0)
    n = reduce(g, "ReduceProd", picked, None, False, dt=torch.int64)
    return cast(g, n, dt)


def variance(g, x, axes, correction, keepdim):
    """``(var, mean)`` of ``x`` over ``axes`` with Bessel-style ``correction``, in x's dtype.

    ``mean`` keeps the reduced axes; PyTorch divides by ``max(0, N - correction)``.
    """
    dt = g.dtype(x)
    mean = g.op("Div", reduce(g, "ReduceSum", x, axes, True), count(g, x, axes, dt))
    d = g.op("Sub", x, mean)
    ss = reduce(g, "ReduceSum", g.op("Mul", d, d), axes, keepdim)
    if correction == 0:
        return g.op("Div", ss, count(g, x, axes, dt)), mean
    n = g.op("Sub", count(g, x, axes, dt), scalar(g, float(correction), dt))
    n = g.op("Relu", n)  # max(0, n); onnxruntime's Max-6/7 has no double kernel, Relu has
    return g.op("Div", ss, n), mean


def vector_norm(g, x, ord: float, axes, keepdim):
    """The ``ord``-norm of ``x`` over ``axes`` (None: all); x is float."""
    dt = g.dtype(x)
    ord = float(ord)
    if ord == 2.0:
        return reduce(g, "ReduceL2", x, axes, keepdim)
    if ord == 1.0:
        return reduce(g, "ReduceL1", x, axes, keepdim)
    ax = g.op("Abs", x)
    if ord == float("inf"):
        return propagate_nan(g, reduce(g, "ReduceMax", ax, axes, keepdim), ax, axes, keepdim)
    if ord == float("-inf"):
        return propagate_nan(g, reduce(g, "ReduceMin", ax, axes, keepdim), ax, axes, keepdim)
    if ord == 0.0:
        nz = cast(g, g.op("Greater", ax, scalar(g, 0.0, dt)), dt)
        nz = g.op("Add", nz, g.op("Sub", ax, ax))  # keep NaN
        return reduce(g, "ReduceSum", nz, axes, keepdim)
    p = g.op("Pow", ax, scalar(g, ord, dt))
    s = reduce(g, "ReduceSum", p, axes, keepdim)
    return g.op("Pow", s, scalar(g, 1.0 / ord, dt))


def mean_or_sum(g, loss, reduction: int | str):
    """Apply a loss's ``reduction`` (0/'none', 1/'mean', 2/'sum') to an element-wise loss."""
    if reduction in (0, "none"):
        return loss
    op_type = "ReduceMean" if reduction in (1, "mean") else "ReduceSum"
    return reduce(g, op_type, loss, None, False)


def eq_scalar(g, x, value):
    """``x == value`` as bool: Equal on floats from opset 11, else neither greater nor less."""
    dt = g.dtype(x)
    v = scalar(g, value, dt)
    if not dt.is_floating_point:
        return g.op("Equal", x, v)
    return forms.float_equal(g, x, v)


def relu_(g, x):
    return g.op("Relu", x)


def nll_loss_node(g, logp, target, weight, reduction, ignore_index):
    """One NegativeLogLikelihoodLoss node (opset 12); ``logp`` is [N, C, ...]."""
    names = {0: "none", 1: "mean", 2: "sum"}
    dt = g.dtype(logp)
    inputs = [logp, cast(g, target, torch.int64)] + ([cast(g, weight, dt)] if weight is not None else [])
    return g.op("NegativeLogLikelihoodLoss", *inputs, reduction_s=names.get(reduction, reduction),
                ignore_index_i=int(ignore_index))



def class_mask(g, target, c: int, rank: int):
    """One-hot of ``target`` ([N, d...]) along a new axis 1 of size ``c`` (bool)."""
    classes = g.constant(torch.arange(c).reshape([1, c] + [1] * (rank - 2)))
    return g.op("Equal", unsqueeze(g, cast(g, target, torch.int64), [1]), classes)


def nll_composed(g, logp, target, weight, reduction, ignore_index):
    """``-w[t] * logp[n, t]`` with ``ignore_index`` weighted 0; mean divides by the weights' sum."""
    dt = g.dtype(logp)
    rank = g.rank(logp)
    c = g.shape(logp)[1]
    if not isinstance(c, int):
        raise NotImplementedError("nll_loss with a dynamic number of classes")
    hot = class_mask(g, target, c, rank)
    picked = reduce(g, "ReduceSum", where(g, hot, logp, scalar(g, 0.0, dt), dt), [1], False)
    keep = cast(g, g.op("Not", g.op("Equal", cast(g, target, torch.int64), g.constant(ignore_index, torch.int64))), dt)
    if weight is not None:
        w = reshape(g, cast(g, weight, dt), [1, c] + [1] * (rank - 2))
        wt = reduce(g, "ReduceSum", g.op("Mul", cast(g, hot, dt), w), [1], False)
        keep = g.op("Mul", keep, wt)
    loss = g.op("Neg", g.op("Mul", picked, keep))
    if reduction in (0, "none"):
        return loss, keep
    total = reduce(g, "ReduceSum", loss, None, False)
    if reduction in (2, "sum"):
        return total, keep
    return g.op("Div", total, reduce(g, "ReduceSum", keep, None, False)), keep


def batch_nll_inputs(g, logp, target):
    """NLL inputs without a batch axis (``[C]`` and a 0-d target) get one."""
    if g.rank(logp) == 1:
        c = g.shape(logp)[0]
        logp = g.set_type(unsqueeze(g, logp, [0]), shape=[1, c])
        target = unsqueeze(g, target, [0])
        return logp, target, True
    return logp, target, False

# -- attention -----------------------------------------------------------------------------------
def masked_softmax(g, scores, axis: int):
    """Softmax along ``axis`` that is 0, not NaN, on a row whose scores are all -inf.

    That is PyTorch's ``_safe_softmax``, which ``scaled_dot_product_attention`` uses: a query
    that a mask lets attend nowhere gets a zero output. A row is dead where its maximum is
    below the lowest finite value. Before opset 9 (no ``Where``) the scores are first clamped
    to that lowest value, so the dead row's softmax is finite and the blend of ``select`` can
    zero it (clamped entries of a live row still weigh exactly 0).
    """
    dt = g.dtype(scores)
    lowest = float(torch.finfo(dt).min)
    dead = g.op("Less", reduce(g, "ReduceMax", scores, [axis], True), scalar(g, lowest, dt))
    scores = forms.blend_safe(g, scores, lowest)
    weights = g.op("Softmax", scores, axis_i=axis)
    return where(g, dead, scalar(g, 0.0, dt), weights, dt)


# -- resampling before Resize-11 -----------------------------------------------------------------
# onnxruntime's Upsample (7, 9) and Resize-10 kernels; float64, int64 and bool have none there.
UPSAMPLE_DTYPES = (torch.float32, torch.float16, torch.uint8, torch.int8, torch.int32)


def per_axis(values: Any, n: int) -> list:
    """``values`` (None, one value or one per axis) as a list of ``n`` (None where absent)."""
    if values is None:
        return [None] * n
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    return values * n if len(values) == 1 else values


def _pytorch_nearest_sources(n_in: int, n_out: int, scale: float | None, exact: bool) -> list[int]:
    """Which input index each output index of PyTorch's nearest interpolation reads, along one axis.

    PyTorch's own kernel answers: it is run on ``arange(n_in)`` with the op's size and scale.
    """
    probe = torch.arange(n_in, dtype=torch.float32).reshape(1, 1, n_in)
    kernel = torch.ops.aten._upsample_nearest_exact1d if exact else torch.ops.aten.upsample_nearest1d
    return [int(v) for v in kernel.default(probe, [n_out], scale).flatten()]


def _pytorch_linear_sources(n_in: int, n_out: int, scale: float | None, align_corners: bool) -> list[int] | None:
    """The input index each output copies where PyTorch's linear interpolation blends nothing.

    That is an axis of one input element, a resize whose source coordinate is the output's own
    index (equal sizes, with PyTorch's scale exactly 1), or a single output at corner 0. None
    where real blending happens: the half-pixel (or corner-aligned) coordinates PyTorch uses
    differ there from the asymmetric ones of Upsample and Resize-10.
    """
    if n_in == 1:
        return [0] * n_out
    if n_in == n_out and (align_corners or scale is None or float(scale) == 1.0):
        return list(range(n_out))
    if align_corners and n_out == 1:
        return [0]
    return None


def onnx_resized_size(n_in: int, scale: torch.Tensor) -> int | None:
    """``floor(scale * n_in)`` for a float32 ``scale``, the size Upsample and Resize give an axis.

    onnxruntime multiplies in float32 and ONNX's shape inference exactly, which differ where the
    float32 scale is just below a ratio (0.9 as float32 is 0.89999998: 20 * it is 18 in float32,
    17.9999995 exactly); None there, as the checker and the runtime would disagree.
    """
    size = int(torch.trunc(scale * torch.tensor(float(n_in), dtype=torch.float32)))
    return size if math.floor(float(scale) * n_in) == size else None


def resize_scale(n_in: int, n_out: int, factor: float) -> torch.Tensor | None:
    """A float32 scale near PyTorch's ``factor`` that resizes ``n_in`` to ``n_out`` for both
    onnxruntime and ONNX's shape inference: the factor itself, else the float32 just above it
    (which moves the sampling coordinates by a float32 rounding step); None if neither does."""
    s = torch.tensor(float(factor), dtype=torch.float32)
    for candidate in (s, torch.nextafter(s, torch.tensor(math.inf))):
        if onnx_resized_size(n_in, candidate) == n_out:
            return candidate
    return None


def _onnx_nearest_sources(n_in: int, n_out: int, scale: torch.Tensor) -> tuple[int | None, list[int], bool]:
    """``(output size, source indices, exact)`` of a nearest Upsample/Resize-10 at float32 ``scale``.

    The size is ``onnx_resized_size``. Output ``i`` reads input ``i / scale`` (in float32),
    which onnxruntime takes down when enlarging and up when shrinking (its rule before opset
    11). ``exact`` tells whether every source coordinate is a whole number, where the rounding
    does not matter.
    """
    size = onnx_resized_size(n_in, scale)
    if size is None:
        return None, [], False
    coords = torch.arange(n_out, dtype=torch.float32) / scale
    rounded = torch.ceil(coords) if scale < 1 else torch.floor(coords)
    sources = [min(int(v), n_in - 1) for v in rounded]
    return size, sources, bool(torch.equal(coords, torch.floor(coords)))


def _scale_candidates(n_in: int, n_out: int, factor: float | None) -> list[torch.Tensor]:
    """float32 scales worth trying: PyTorch's own factor, ``out / in`` and the float32 just above
    it (``out / in`` rounded down can give one element fewer)."""
    ratio = torch.tensor(n_out / n_in, dtype=torch.float32)
    found = [] if factor is None else [torch.tensor(float(factor), dtype=torch.float32)]
    return found + [ratio, torch.nextafter(ratio, torch.tensor(math.inf))]


def upsample_scales(g, x, scale_factors: Any, mode: str, align_corners: bool = False, exact: bool = False,
                    min_scale: float = 1.0) -> list[float]:
    """The ``scales`` (one per axis of ``x``) for a nearest-mode ``Upsample`` (opsets 7 and 9) or
    ``Resize`` (opset 10) that reproduces PyTorch's ``interpolate`` exactly.

    Those ops map output index ``i`` to input ``i / scale`` (asymmetric coordinates). Per
    spatial axis PyTorch's source indices (``mode`` nearest, nearest-exact with ``exact``, or
    linear where it only copies, see ``_pytorch_linear_sources``) are compared with the ONNX
    ones for a scale of PyTorch's own factor or of ``out / in``; the first that gives the same
    output size and indices is kept. ``min_scale`` 0 allows scales below 1 (Resize-10; Upsample
    enlarges only: 1), where the indices must not depend on the rounding (the ONNX spec leaves it
    open). Anything else raises NotImplementedError, so PyTorch's decomposition is exported.
    """
    if g.dtype(x) not in UPSAMPLE_DTYPES:
        raise NotImplementedError(f"onnxruntime has no Upsample/Resize-10 kernel for {g.dtype(x)}")
    rank = g.rank(x)
    n = rank - 2
    sizes_in, sizes_out = list(g.shape(x)[2:]), list(g.out_shape()[2:])
    if not all(isinstance(d, int) and d > 0 for d in sizes_in + sizes_out):
        raise NotImplementedError("interpolate over dynamic or empty spatial sizes before opset 11")
    scales = [1.0, 1.0]
    for n_in, n_out, factor in zip(sizes_in, sizes_out, per_axis(scale_factors, n)):
        if mode == "nearest":
            wanted = _pytorch_nearest_sources(n_in, n_out, factor, exact)
        else:
            wanted = _pytorch_linear_sources(n_in, n_out, factor, align_corners)
            if wanted is None:
                raise NotImplementedError(
                    f"{mode} interpolation from {n_in} to {n_out} before opset 11: Upsample and Resize-10 use "
                    "asymmetric coordinates, PyTorch half-pixel or corner-aligned ones")
        for candidate in _scale_candidates(n_in, n_out, None if align_corners else factor):
            if candidate < min_scale:
                continue
            size, sources, whole = _onnx_nearest_sources(n_in, n_out, candidate)
            if size == n_out and sources == wanted and (candidate >= 1 or whole):
                scales.append(float(candidate))
                break
        else:
            raise NotImplementedError(f"no Upsample/Resize-10 scale reproduces PyTorch's {mode} resampling "
                                      f"from {n_in} to {n_out}")
    return scales


# -- layer geometry: kernels, pools and outputs ---------------------------------------------------
def channel_shape(rank: int) -> list[int]:
    """``[1, -1, 1, ...]`` of ``rank`` axes: a per-channel (axis 1) vector's shape for broadcasting."""
    return [1, -1] + [1] * (rank - 2)


def pool_rank(g) -> int:
    """The spatial rank from the op's name (``max_pool2d...`` -> 2)."""
    name = g.target_name()
    for n in (1, 2, 3):
        if f"pool{n}d" in name:
            return n
    raise NotImplementedError(f"cannot tell the pooling rank of {name}")


def spatial_rank(g, x, kernel_size):
    """How many spatial axes a pooling has (an unbatched input has one axis fewer than N, C, ...)."""
    if isinstance(kernel_size, (list, tuple)) and len(kernel_size) > 1:
        return len(kernel_size)
    return None


def int_pool_args(n, kernel_size, stride, padding, dilation):
    """``(kernel, strides, begin pads, dilations)`` per spatial axis (the output sizes, from
    PyTorch's metadata, settle ceil_mode)."""
    k = per_axis(kernel_size, n)
    return k, per_axis(stride, n) if stride else k, per_axis(padding, n), per_axis(dilation, n)


def adaptive_cells(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive pooling windows: ``[floor(i*size/out), ceil((i+1)*size/out))``."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def values_only(g) -> bool:
    """True when only output 0 of the op being converted is used (the indices are not)."""
    n = g.out_count()
    return n is not None and not any(g.out_used(i) for i in range(1, n))


def all_true_mask(g, x):
    """The mask of a dropout that keeps everything (only its shape matters)."""
    shape = g.static_shape(x)
    return expand(g, g.constant(True), list(shape) if shape is not None else shape_of(g, x))


def drop_everything(g, x):
    """``(x * 0, all-false mask)``: dropout with p == 1 in training mode, as PyTorch computes it
    (a NaN or infinity gives NaN), at every opset (onnxruntime's Dropout refuses a ratio of 1)."""
    y = g.op("Mul", x, scalar(g, 0.0, g.dtype(x)))
    mask = g.op("Not", all_true_mask(g, x))
    g.set_type(mask, dtype=torch.bool)
    return y, mask


# -- integer convolution and pooling ---------------------------------------------------------------
# ONNX's Conv, ConvTranspose, AveragePool and onnxruntime's MaxPool take floats only (MaxPool
# 8-bit integers from 12). Integer inputs are done exactly instead: each output's input window is
# gathered with constant index tables (static spatial sizes), then reduced or contracted with the
# weights by a MatMul in int64, which wraps on overflow as PyTorch's integer kernels do.
def window_table(size: int, out: int, k: int, stride: int, pad: int, dilation: int = 1,
                 transposed: bool = False) -> torch.Tensor:
    """``[k, out]``: which input index tap ``t`` of output ``o`` reads along one axis, or ``size``
    (the fill slot ``windows`` appends) where it reads padding.

    A convolution or pooling reads ``o * stride - pad + t * dilation``. A transposed convolution
    scatters input ``i`` to ``i * stride - pad + t * dilation``, so output ``o`` reads input
    ``(o + pad - t * dilation) / stride`` where that is a whole number.
    """
    t = torch.arange(k).reshape(k, 1)
    o = torch.arange(out).reshape(1, out)
    if transposed:
        num = o + pad - t * dilation
        pos = torch.div(num, stride, rounding_mode="floor")
        valid = (num - pos * stride == 0) & (pos >= 0) & (pos < size)
    else:
        pos = o * stride - pad + t * dilation
        valid = (pos >= 0) & (pos < size)
    return torch.where(valid, pos, torch.full_like(pos, size))


def windows(g, x, tables: Sequence[torch.Tensor], fill: int):
    """The input windows of ``x`` ([N, C, *spatial], static spatial sizes, an integer dtype):
    ``[N, C, K1, O1, K2, O2, ...]`` for the ``[Ki, Oi]`` tables of ``window_table``.

    Each spatial axis first gets one more slot holding ``fill`` (made from a slice of ``x`` minus
    itself, so a dynamic batch needs no shape arithmetic), which the tables name for padding.
    """
    dt = g.dtype(x)
    y, shape = x, list(g.shape(x))
    for i, table in enumerate(tables):
        axis = 2 + 2 * i
        one = slice_(g, y, [0], [1], [axis])
        slot = g.op("Sub", one, one)
        if fill:
            slot = g.op("Add", slot, scalar(g, fill, dt))
        y = g.op("Concat", y, slot, axis_i=axis)
        y = g.op("Gather", y, g.constant(table.to(torch.int64)), axis_i=axis)
        shape = shape[:axis] + list(table.shape) + shape[axis + 1:]
        g.set_type(y, shape=shape)
    return y


def int_conv(g, x, weight, bias, stride: list[int], pads: list[int], dilation: list[int], transposed: bool,
             output_padding: list[int], groups: int, dt: torch.dtype):
    """Integer convolution (``transposed``: its transpose): windows of ``x`` times the weights, one
    MatMul per group in int64 (``matmul``: float64 below opset 9). ``pads`` is ONNX's
    ``[begins..., ends...]``; the batch may be dynamic, channels and spatial sizes must be static."""
    n = len(stride)
    shape, wshape = g.shape(x), g.shape(weight)
    if shape is None or wshape is None or not all(isinstance(d, int) for d in list(shape[1:]) + list(wshape)):
        raise NotImplementedError("integer convolution with dynamic channels, spatial or kernel sizes")
    c, size, kernel = shape[1], list(shape[2:]), list(wshape[2:])
    tables, out = [], []
    for a in range(n):
        k, s, d, pb, pe = kernel[a], stride[a], dilation[a], pads[a], pads[n + a]
        if transposed:
            o = (size[a] - 1) * s - pb - pe + d * (k - 1) + output_padding[a] + 1
        else:
            o = (size[a] + pb + pe - d * (k - 1) - 1) // s + 1
        out.append(o)
        tables.append(window_table(size[a], o, k, s, pb, d, transposed))
    cg = c // groups
    kp = math.prod(kernel)
    p = math.prod(out)
    x64 = cast(g, x, torch.int64)
    cols = windows(g, x64, tables, 0)  # [N, C, K1, O1, ...]
    perm = [0] + [3 + 2 * a for a in range(n)] + [1] + [2 + 2 * a for a in range(n)]
    cols = transpose(g, cols, perm)  # [N, O1.., C, K1..]
    cols = reshape(g, cols, [0, p, groups, cg * kp])
    cols = transpose(g, cols, [0, 2, 1, 3])  # [N, g, P, Cg*Kp]
    w = cast(g, weight, torch.int64)
    if transposed:  # [C, O/g, *K]
        og = wshape[1]
        w = reshape(g, w, [groups, cg, og, kp])
        w = reshape(g, transpose(g, w, [0, 1, 3, 2]), [groups, cg * kp, og])
    else:  # [O, C/g, *K]
        og = wshape[0] // groups
        w = transpose(g, reshape(g, w, [groups, og, cg * kp]), [0, 2, 1])
    y = matmul(g, cols, w, torch.int64)  # [N, g, P, O/g]
    y = transpose(g, y, [0, 1, 3, 2])
    y = reshape(g, y, [0, groups * og] + out)
    if bias is not None:
        y = g.op("Add", y, reshape(g, cast(g, bias, torch.int64), [groups * og] + [1] * n))
    return cast(g, y, dt)  # back to the op's dtype (narrower ones wrap, as in PyTorch)


def _pool_tables(g, x, n, kernel, stride, pads, dilation):
    shape = g.shape(x)
    size, out = list(shape[-n:]), list(g.out_shape()[-n:])
    if not all(isinstance(d, int) for d in size + out):
        raise NotImplementedError("integer pooling over dynamic spatial sizes")
    tables = [window_table(size[a], out[a], kernel[a], stride[a], pads[a], dilation[a]) for a in range(n)]
    return size, out, tables


LOWEST_INT64 = int(torch.iinfo(torch.int64).min)


def int_max_pool(g, x, n: int, kernel, stride, pads, dilation, dt: torch.dtype):
    """Integer max pooling: the maximum over each gathered window, in int64, where padding holds
    the lowest int64 (PyTorch's windows always hold an input element, so it never comes out)."""
    _, _, tables = _pool_tables(g, x, n, kernel, stride, pads, dilation)
    cols = windows(g, cast(g, x, torch.int64), tables, LOWEST_INT64)
    y = reduce(g, "ReduceMax", cols, [2 + 2 * a for a in range(n)], False)
    return cast(g, y, dt)  # back to the op's dtype (narrower ones wrap, as in PyTorch)


def int_avg_pool(g, x, n: int, kernel, stride, pads, count_include_pad: bool, divisor_override, dt):
    """Integer average pooling as ATen does it: each window's sum divided by a whole number,
    truncating (ONNX's integer Div), by ``divisor_override``, or by the window's size within
    the padded input (``count_include_pad``) or within the input itself."""
    size, out, tables = _pool_tables(g, x, n, kernel, stride, pads, [1] * n)
    cols = windows(g, cast(g, x, torch.int64), tables, 0)
    y = reduce(g, "ReduceSum", cols, [2 + 2 * a for a in range(n)], False)
    if divisor_override:
        divisor = torch.tensor(int(divisor_override))
    else:
        divisor = torch.ones(out, dtype=torch.int64)
        for a in range(n):
            start = torch.arange(out[a]) * stride[a] - pads[a]
            end = torch.minimum(start + kernel[a], torch.tensor(size[a] + pads[a]))
            if not count_include_pad:
                start, end = start.clamp(min=0), end.clamp(max=size[a])
            divisor = divisor * (end - start).reshape([out[a] if i == a else 1 for i in range(n)])
    y = g.op("Div", y, g.constant(divisor.to(torch.int64)))
    return cast(g, y, dt)  # back to the op's dtype (narrower ones wrap, as in PyTorch)


def int_max_pool_with_indices(g, x, n: int, kernel, stride, pads, dilation, dt: torch.dtype):
    """Integer max pooling and PyTorch's indices (the flat position in each (n, c) plane of the
    first maximum of each window): an ArgMax over the window's taps, mapped through a constant
    ``[output position, tap]`` table of input positions.

    Padding holds the lowest int64, below every narrower integer; only an int64 window whose
    inputs all equal that lowest value may name a padded tap (clamped into the plane) where
    PyTorch names the first input.
    """
    size, out, tables = _pool_tables(g, x, n, kernel, stride, pads, dilation)
    cols = windows(g, cast(g, x, torch.int64), tables, LOWEST_INT64)
    perm = [0, 1] + [3 + 2 * a for a in range(n)] + [2 + 2 * a for a in range(n)]
    kp, p = math.prod(kernel), math.prod(out)
    cols = reshape(g, transpose(g, cols, perm), [0, 0] + out + [kp])  # [N, C, O1.., K1*K2..]
    values = reduce(g, "ReduceMax", cols, [2 + n], False)
    tap = g.op("ArgMax", cols, axis_i=2 + n, keepdims_i=0)
    # the input position tap t of output o reads, as a flat [O1.., K1..] -> [P * Kp] table
    flat = torch.zeros([1] * (2 * n), dtype=torch.int64)
    for a in range(n):
        axis_pos = tables[a].t().clamp(max=size[a] - 1) * math.prod(size[a + 1:])  # [Oa, Ka]
        view = [1] * (2 * n)
        view[a], view[n + a] = out[a], kernel[a]
        flat = flat + axis_pos.reshape(view)
    base = (torch.arange(p) * kp).reshape(out)
    index = g.op("Add", tap, g.constant(base))
    indices = g.op("Gather", g.constant(flat.reshape(-1)), index, axis_i=0)
    return cast(g, values, dt), indices


def upsample_scales_of(args) -> list | None:
    """The per-axis scales of the non-``.vec`` upsample overloads (None unless all are given)."""
    return None if not args or any(a is None for a in args) else list(args)

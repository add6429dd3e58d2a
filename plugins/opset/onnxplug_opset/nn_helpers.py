"""Maths shared by the reduction, linear-algebra and neural-network conversions.

Like ``helpers``, every function takes ``g`` first and emits the form ``g.opset`` allows, so the
conversions in ``opsetN/reduction.py``, ``linalg.py`` and ``nn.py`` stay free of version branches
except where an op itself appears at an opset.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .helpers import cast, dim_size, norm_dims, reduce, scalar, shape_of

ONNX_FLOATS = (torch.float16, torch.float32, torch.float64)


def axes_of(dim: Any, rank: int) -> list[int] | None:
    """Normalised reduction axes; None (all axes) for ``dim`` None or empty, as PyTorch reads it."""
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return None
    return sorted(set(norm_dims(dim, rank)))


def recast(g, x, dt: torch.dtype):
    """``cast`` that keeps the shape known, so later helpers can still read ranks and sizes."""
    y = cast(g, x, dt)
    if y is not x and g.shape(x) is not None:
        g.set_type(y, shape=g.shape(x))
    return y


def float_compute(dt: torch.dtype) -> torch.dtype:
    """The dtype to compute float maths in: the dtype itself if ONNX kernels take it, else float32."""
    return dt if dt in ONNX_FLOATS else torch.float32


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
    picked = g.op("Gather", shape, g.constant(axes, torch.int64), axis_i=0, dtype=torch.int64)
    n = reduce(g, "ReduceProd", picked, None, False, dt=torch.int64)
    return cast(g, n, dt)


def is_nan(g, x):
    """``IsNaN`` (opset 9); below it ``x != x`` from ``Equal`` on floats is unavailable, so None."""
    if g.opset < 9 or not g.dtype(x).is_floating_point:
        return None
    return g.op("IsNaN", x, dtype=torch.bool)


def propagate_nan(g, y, x, axes, keepdim):
    """Make a max/min reduction ``y`` of ``x`` NaN where its slice holds a NaN, as PyTorch does.

    ONNX's ReduceMax/ReduceMin (and onnxruntime) skip NaNs; a ReduceSum of the NaNs alone (zero
    elsewhere) is NaN exactly where one was present, and adding it restores PyTorch's result.
    """
    nan = is_nan(g, x)
    if nan is None:
        return y
    dt = g.dtype(x)
    only_nan = g.op("Where", nan, x, scalar(g, 0.0, dt), dtype=dt)
    return g.op("Add", y, reduce(g, "ReduceSum", only_nan, axes, keepdim), dtype=dt)


def variance(g, x, axes, correction, keepdim):
    """``(var, mean)`` of ``x`` over ``axes`` with Bessel-style ``correction``, in x's dtype.

    ``mean`` keeps the reduced axes; PyTorch divides by ``max(0, N - correction)``.
    """
    dt = g.dtype(x)
    mean = g.op("Div", reduce(g, "ReduceSum", x, axes, True), count(g, x, axes, dt), dtype=dt)
    d = g.op("Sub", x, mean, dtype=dt)
    ss = reduce(g, "ReduceSum", g.op("Mul", d, d, dtype=dt), axes, keepdim)
    if correction == 0:
        return g.op("Div", ss, count(g, x, axes, dt), dtype=dt), mean
    n = g.op("Sub", count(g, x, axes, dt), scalar(g, float(correction), dt), dtype=dt)
    n = g.op("Max", n, scalar(g, 0.0, dt), dtype=dt)
    return g.op("Div", ss, n, dtype=dt), mean


def vector_norm(g, x, ord: float, axes, keepdim):
    """The ``ord``-norm of ``x`` over ``axes`` (None: all); x is float."""
    dt = g.dtype(x)
    ord = float(ord)
    if ord == 2.0:
        return reduce(g, "ReduceL2", x, axes, keepdim)
    if ord == 1.0:
        return reduce(g, "ReduceL1", x, axes, keepdim)
    ax = g.op("Abs", x, dtype=dt)
    if ord == float("inf"):
        return propagate_nan(g, reduce(g, "ReduceMax", ax, axes, keepdim), ax, axes, keepdim)
    if ord == float("-inf"):
        return propagate_nan(g, reduce(g, "ReduceMin", ax, axes, keepdim), ax, axes, keepdim)
    if ord == 0.0:
        nz = cast(g, g.op("Greater", ax, scalar(g, 0.0, dt), dtype=torch.bool), dt)
        nz = g.op("Add", nz, g.op("Sub", ax, ax, dtype=dt), dtype=dt)  # keep NaN
        return reduce(g, "ReduceSum", nz, axes, keepdim)
    p = g.op("Pow", ax, scalar(g, ord, dt), dtype=dt)
    s = reduce(g, "ReduceSum", p, axes, keepdim)
    return g.op("Pow", s, scalar(g, 1.0 / ord, dt), dtype=dt)


def mean_or_sum(g, loss, reduction: int | str):
    """Apply a loss's ``reduction`` (0/'none', 1/'mean', 2/'sum') to an element-wise loss."""
    if reduction in (0, "none"):
        return loss
    op_type = "ReduceMean" if reduction in (1, "mean") else "ReduceSum"
    return reduce(g, op_type, loss, None, False)


def select(g, cond, a, b, dt):
    """``Where(cond, a, b)`` (opset 9); below it the arithmetic blend (not NaN-safe there)."""
    if g.opset >= 9:
        return g.op("Where", cond, a, b, dtype=dt)
    c = cast(g, cond, dt)
    one_minus = g.op("Sub", scalar(g, 1.0, dt), c, dtype=dt)
    return g.op("Add", g.op("Mul", a, c, dtype=dt), g.op("Mul", b, one_minus, dtype=dt), dtype=dt)


def eq_scalar(g, x, value):
    """``x == value`` as bool: Equal on floats from opset 11, else neither greater nor less."""
    dt = g.dtype(x)
    v = scalar(g, value, dt)
    if g.opset >= 11 or not dt.is_floating_point:
        return g.op("Equal", x, v, dtype=torch.bool)
    gt = g.op("Greater", x, v, dtype=torch.bool)
    lt = g.op("Less", x, v, dtype=torch.bool)
    return g.op("Not", g.op("Or", gt, lt, dtype=torch.bool), dtype=torch.bool)


def relu_(g, x):
    return g.op("Relu", x, dtype=g.dtype(x))


def log_softmax_axis1(g, x):
    """``log_softmax`` along axis 1 of any rank (LogSoftmax coerced to 2-D before opset 13)."""
    dt = g.dtype(x)
    if g.opset >= 13:
        return g.op("LogSoftmax", x, axis_i=1, dtype=dt)
    return g.op("Sub", x, reduce(g, "ReduceLogSumExp", x, [1], True), dtype=dt)


def nll_loss_node(g, logp, target, weight, reduction, ignore_index):
    """One NegativeLogLikelihoodLoss node (opset 12); ``logp`` is [N, C, ...]."""
    names = {0: "none", 1: "mean", 2: "sum"}
    dt = g.dtype(logp)
    inputs = [logp, cast(g, target, torch.int64)] + ([cast(g, weight, dt)] if weight is not None else [])
    return g.op("NegativeLogLikelihoodLoss", *inputs, reduction_s=names.get(reduction, reduction),
                ignore_index_i=int(ignore_index), dtype=dt)

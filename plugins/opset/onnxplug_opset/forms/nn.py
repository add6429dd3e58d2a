"""Layer forms: pooling's ``ceil_mode``/``dilations`` (opset 10), Gemm's optional C (11),
LogSoftmax on any axis (13), Where-based masks (9), NegativeLogLikelihoodLoss (12),
nearest-neighbour resampling (Upsample 7-9, Resize from 10) and the Random ops (onnxruntime
up to 21)."""

from __future__ import annotations

from collections.abc import Sequence

import onnx_ir as ir
import torch

from .. import helpers as h
from .availability import (
    gemm_c_optional, has_isnan, has_nll_loss, has_random_kernels, has_where,
    log_softmax_any_axis, max_pool_takes_dilations, pool_takes_ceil_mode, resize_shrinks,
    upsample_takes_scales_input,
)
from .axes import reduce
from .selection import isnan

Value = ir.Value


def pool_attrs(g, attrs: dict, dilations: Sequence[int] | None = None, ceil_mode: bool = False,
               ceil_pads=None) -> dict:
    """A pooling node's window attributes ``attrs`` completed with ``dilations`` (MaxPool only)
    and ``ceil_mode``, which both exist from opset 10. Before 10 dilated pooling is
    NotImplementedError, and ceil mode is ``ceil_pads()`` (more end padding, which MaxPool
    ignores) or NotImplementedError when the caller has none (AveragePool counts the pads)."""
    attrs = dict(attrs)
    if dilations is not None and any(d != 1 for d in dilations):
        if not max_pool_takes_dilations(g):
            raise NotImplementedError("dilated max pooling needs opset >= 10")
        attrs["dilations_is"] = list(dilations)
    if ceil_mode:
        if pool_takes_ceil_mode(g):
            attrs["ceil_mode_i"] = 1
        elif ceil_pads is None:
            raise NotImplementedError("average pooling with ceil_mode needs opset >= 10")
        else:
            attrs["pads_is"] = ceil_pads()
    return attrs


def gemm_transposed(g, x: Value, w: Value, b: Value | None) -> Value:
    """``x @ w.T (+ b)`` of 2-D floats: ``Gemm(transB=1)``, whose C input is optional from opset
    11; without ``b`` before it, a ``MatMul`` of the transpose (in the float compute dtype)."""
    if b is None and not gemm_c_optional(g):
        from ..dtypes import float_compute

        run = float_compute(g.dtype(x))  # as nn_helpers.matmul: half precision in float32
        y = g.op("MatMul", h.cast(g, x, run), h.cast(g, h.transpose(g, w, [1, 0]), run))
        return h.cast(g, y, g.dtype(x))
    return g.op("Gemm", x, w, *([] if b is None else [b]), transB_i=1)


def log_softmax_axis1(g, x: Value) -> Value:
    """``log_softmax`` along axis 1 of any rank: ``LogSoftmax(axis=1)`` from opset 13 (before it
    LogSoftmax flattens to 2-D), ``x - ReduceLogSumExp(x, 1)`` before."""
    if log_softmax_any_axis(g):
        return g.op("LogSoftmax", x, axis_i=1)
    return g.op("Sub", x, reduce(g, "ReduceLogSumExp", x, [1], True))


def additive_mask(g, mask: Value, dt: torch.dtype) -> Value:
    """A boolean attention mask (True: attend) as the additive bias PyTorch adds, 0 or -inf:
    ``Where`` from opset 9; before it ``Log(Cast(mask))``, exactly log(1) = 0 and log(0) = -inf."""
    if has_where(g):
        return g.op("Where", mask, g.constant(0.0, dt), g.constant(float("-inf"), dt))
    return g.op("Log", h.cast(g, mask, dt))


def propagate_nan(g, y: Value, x: Value, axes, keepdim: bool) -> Value:
    """A max/min reduction ``y`` of ``x`` made NaN where its slice holds a NaN, as PyTorch does
    (ONNX's ReduceMax/ReduceMin skip NaNs): a ReduceSum of the NaNs alone is added, from opset 9
    (IsNaN, Where); before it NaNs are not propagated."""
    dt = g.dtype(x)
    if not dt.is_floating_point or not has_isnan(g):
        return y
    only_nan = g.op("Where", isnan(g, x), x, g.constant(0.0, dt))
    return g.op("Add", y, reduce(g, "ReduceSum", only_nan, axes, keepdim))


def nll_loss(g, logp: Value, target: Value, weight, reduction, ignore_index: int) -> Value:
    """The negative log-likelihood of ``logp`` ([N, C, ...]): ``NegativeLogLikelihoodLoss`` from
    opset 12 (``nn_helpers.nll_loss_node``); composed before (``nn_helpers.nll_composed``)."""
    from .. import nn_helpers  # builds on these forms: imported when used

    if has_nll_loss(g):
        return nn_helpers.nll_loss_node(g, logp, target, weight, reduction, ignore_index)
    return nn_helpers.nll_composed(g, logp, target, weight, reduction, ignore_index)[0]


def nearest_min_scale(g) -> float:
    """The smallest scale nearest-neighbour resampling takes: 1 for ``Upsample`` (opsets 7-9,
    which only enlarges), 0 for ``Resize`` (from 10)."""
    return 0.0 if resize_shrinks(g) else 1.0


def nearest_rescale(g, x: Value, scales: Sequence[float]) -> Value:
    """Nearest-mode rescaling by ``scales`` (one per axis, asymmetric coordinates: output ``i``
    reads input ``i / scale``): ``Upsample`` with a ``scales`` attribute at opsets 7-8, with a
    scales input at 9, ``Resize`` from 10 (opset 11's coordinate modes are conversions of
    their own, in ``opset11/resample.py``)."""
    if not upsample_takes_scales_input(g):
        return g.op("Upsample", x, mode_s="nearest", scales_fs=list(scales))
    factors = g.constant(torch.tensor(list(scales), dtype=torch.float32))
    return g.op("Resize" if resize_shrinks(g) else "Upsample", x, factors, mode_s="nearest")


def random_op(g, op_type: str, *inputs: Value, last: int = 21, **attrs) -> Value:
    """A ``Random*`` node: onnxruntime implements those ops up to opset ``last`` (21 for the
    onnxruntime this plugin is tested with); a later target is NotImplementedError."""
    if not has_random_kernels(g, last):
        raise NotImplementedError(f"onnxruntime implements {op_type} only up to opset {last}; "
                                  f"export random ops with opset_version<={last}")
    return g.op(op_type, *inputs, **attrs)

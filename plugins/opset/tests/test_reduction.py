"""Reductions: every conversion at the lowest opset it claims, where axes move (13, 18), and the newest."""

from __future__ import annotations

import pytest
import torch

from onnxplug.testing import NEWEST_OPSET as NEWEST


from onnxplug.capture import FunctionModule as Fn  # a function as a module, for export


aten = torch.ops.aten

torch.manual_seed(0)
X = torch.randn(3, 4, 5)
NAN = torch.tensor([[1.0, float("nan"), 3.0], [4.0, 5.0, -6.0]])
INTS = torch.randint(-5, 5, (3, 4))
INF = float("inf")

CASES = {
    # name: (function, inputs, lowest opset)
    "sum_dim": (lambda x: torch.sum(x, (0, 2), keepdim=True), (X,), 7),
    "sum_dtype": (lambda x: torch.sum(x, 1, dtype=torch.float64), (INTS,), 7),
    "sum_bool": (lambda x: torch.sum(x > 0, 1), (X,), 7),
    "mean_dtype": (lambda x: torch.mean(x, -1, dtype=torch.float64), (X,), 7),
    "prod_dim": (lambda x: torch.prod(x, 1, keepdim=True), (X,), 7),
    "prod_int": (lambda x: torch.prod(x), (INTS,), 7),
    "amax_nan": (lambda x: torch.amax(x, 1), (NAN,), 9),
    "amin": (lambda x: torch.amin(x, (0, 1)), (X,), 7),
    "max_all": (lambda x: torch.max(x), (X,), 7),
    "max_dim": (lambda x: torch.max(x, 1, keepdim=True), (X,), 7),
    "min_all": (lambda x: torch.min(x), (X,), 7),
    "min_dim": (lambda x: torch.min(x, -1), (INTS,), 7),
    "aminmax": (lambda x: torch.aminmax(x, dim=0), (X,), 7),
    "argmax_flat": (lambda x: torch.argmax(x), (X,), 7),
    "argmin_keep": (lambda x: torch.argmin(x, 2, keepdim=True), (X,), 7),
    "var_correction": (lambda x: torch.var(x, (0, 2), correction=0), (X,), 7),
    "std_unbiased": (lambda x: torch.std(x, 1, keepdim=True), (X,), 7),
    "var_mean": (lambda x: torch.var_mean(x, 1, correction=2), (X,), 7),
    "std_mean_all": (lambda x: torch.std_mean(x), (X,), 7),
    # unbiased= / p= overloads and std.correction at 7, which ordinary calls do not reach (ATen ops)
    "var_std_unbiased": (lambda x: (aten.var.default(x), aten.std.default(x, False),
                                    aten.var.dim(x, [1], False, True), aten.var_mean.dim(x, [0, 2]),
                                    aten.std_mean.dim(x, [2], True, True),
                                    aten.std.correction(x, [1], correction=2, keepdim=True)), (X,), 7),
    "norm_overloads": (lambda x: (aten.norm.Scalar(x, 3), aten.norm.ScalarOpt_dtype(x, 1, dtype=torch.float64),
                                  aten.norm.ScalarOpt_dim(x, 2, [1], True),
                                  aten.norm.ScalarOpt_dim_dtype(x, INF, [0, 2], False, dtype=torch.float64)),
                       (X,), 7),
    "vector_norm": (lambda x: torch.linalg.vector_norm(x, 3.0, dim=(1, 2)), (X,), 7),
    "vector_norm_inf": (lambda x: torch.linalg.vector_norm(x, float("inf"), dim=1, keepdim=True), (X,), 7),
    "vector_norm_0": (lambda x: torch.linalg.vector_norm(x, 0), (X,), 7),
    "norm_fro": (lambda x: torch.norm(x), (X,), 7),
    "matrix_norm_fro": (lambda x: torch.linalg.matrix_norm(x), (X,), 7),
    "logsumexp": (lambda x: torch.logsumexp(x * 100, 1), (X,), 7),
    "all_dim": (lambda x: torch.all(x > -1, 1), (X,), 7),
    "any_all": (lambda x: torch.any(x > 2), (X,), 7),
    "count_nonzero": (lambda x: torch.count_nonzero(x, 1), (INTS,), 7),
    "nansum": (lambda x: torch.nansum(x, 1), (NAN,), 9),
    "nanmean": (lambda x: torch.nanmean(x), (NAN,), 9),
    "zero_dim": (lambda x: (torch.var_mean(x, correction=0), torch.linalg.vector_norm(x), torch.amax(x),
                            torch.argmax(x), torch.logsumexp(x, 0)), (torch.tensor(3.0),), 7),
    "median_dim": (lambda x: torch.median(x, 1), (X,), 11),
    "median_all": (lambda x: torch.median(x), (X,), 11),
}


def _params():
    for name, (_, _, lowest) in CASES.items():
        for opset in sorted({lowest, NEWEST}):
            yield pytest.param(name, opset, id=f"{name}-{opset}")
    for name in ("sum_dim", "amax_nan", "var_mean"):
        for opset in (13, 18):
            yield pytest.param(name, opset, id=f"{name}-{opset}")


@pytest.mark.parametrize("name,opset", list(_params()))
def test_reduction(check, name, opset):
    fn, inputs, _ = CASES[name]
    check(Fn(fn), inputs, opset=opset)


def test_max_propagates_nan(check):
    """onnxruntime's ReduceMax skips NaNs; PyTorch's does not."""
    result = check(Fn(lambda x: torch.amax(x, 1)), (NAN,), opset=NEWEST)
    assert result is not None


@pytest.mark.parametrize("opset", [9, NEWEST])
@pytest.mark.parametrize("bins, lo, hi", [(5, 0, 0), (4, -1.0, 1.0), (3, 0.5, 0.5)])
def test_histc(check, opset, bins, lo, hi):
    x = torch.tensor([[-2.0, -1.0, -0.3, 0.0], [0.2, 0.5, 1.0, 3.0]])
    check(lambda t: torch.histc(t, bins=bins, min=lo, max=hi), (x,), opset=opset)
    check(lambda t: torch.histc(t, bins=bins, min=lo, max=hi), (torch.full((3,), 0.5),), opset=opset)


@pytest.mark.parametrize("opset", [11, NEWEST])
def test_nanmedian(check, opset):
    nan = float("nan")
    x = torch.tensor([[nan, nan, nan], [1.0, nan, 4.0], [3.0, 1.0, 2.0], [5.0, -1.0, nan]])

    def fn(t):
        values, indices = torch.nanmedian(t, dim=1)
        kept = torch.nanmedian(t, dim=0, keepdim=True)
        return values, indices, kept.values, kept.indices, torch.nanmedian(t)

    check(fn, (x,), opset=opset)
    check(lambda t: torch.nanmedian(t, 0), (torch.tensor([[3, 1], [2, 5], [4, 4]]),), opset=opset)

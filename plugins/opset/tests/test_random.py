"""Random ops draw from PyTorch's distributions in onnxruntime (not the same numbers: no runtime
reproduces PyTorch's generator). Each export is checked with onnx.checker and run in
onnxruntime; its outputs are compared with eager PyTorch's by shape, dtype and distribution
(mean, spread, support), and exactly where the result is not random (p of 0 or 1, empty inputs)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from onnxplug.capture import FunctionModule as Fn
from onnxplug.testing import NEWEST_OPSET as NEWEST
from onnxplug.testing import assert_matches, export_and_run

OPSETS = (7, 21)  # onnxruntime implements the random ops up to opset 21 (see test_newer_opsets...)
N = 40_000
BIG = torch.zeros(200, 200)


def _sample(fn, args, opset):
    result, outputs = export_and_run(Fn(fn), args, opset=opset)
    with torch.no_grad():
        eager = fn(*args)
    got = np.asarray(outputs[0])
    assert got.shape == tuple(eager.shape)
    assert str(got.dtype) == str(eager.dtype).removeprefix("torch.").replace("bool", "bool_").rstrip("_")
    return got.astype(np.float64), eager.double().numpy()


CASES = {
    # name: (fn, args, support (lo, hi) or None)
    "rand_like": (lambda x: torch.rand_like(x), (BIG,), (0.0, 1.0)),
    "randn_like": (lambda x: torch.randn_like(x), (BIG,), None),
    "randint_like": (lambda x: torch.randint_like(x, 3, 10), (BIG,), (3, 9)),
    "randint_like_int64": (lambda x: torch.randint_like(x, 7, dtype=torch.int64), (BIG,), (0, 6)),
    "rand": (lambda x: x + torch.rand(200, 200), (BIG,), (0.0, 1.0)),
    "randn": (lambda x: x + torch.randn(200, 200), (BIG,), None),
    "uniform_": (lambda x: x.clone().uniform_(-2.0, 3.0), (BIG,), (-2.0, 3.0)),
    "normal_": (lambda x: x.clone().normal_(1.5, 0.5), (BIG,), None),
    "normal_tensor": (lambda m, s: torch.normal(m, s), (BIG + 2.0, BIG + 0.25), None),
    "normal_tensor_float": (lambda m: torch.normal(m, 3.0), (BIG - 1.0,), None),
    "bernoulli": (lambda p: torch.bernoulli(p), (BIG + 0.3,), (0, 1)),
    "bernoulli_p": (lambda x: torch.bernoulli(x, 0.7), (BIG,), (0, 1)),
    "exponential_": (lambda x: x.clone().exponential_(2.0), (BIG,), (0.0, math.inf)),
    "cauchy_": (lambda x: x.clone().cauchy_(1.0, 0.5), (BIG,), None),
    "log_normal_": (lambda x: x.clone().log_normal_(0.0, 0.5), (BIG,), (0.0, math.inf)),
    "geometric_": (lambda x: x.clone().geometric_(0.3), (BIG,), (1, math.inf)),
}


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name", CASES)
def test_distribution(name, opset):
    fn, args, support = CASES[name]
    got, eager = _sample(fn, args, opset)
    if support is not None:
        assert got.min() >= support[0] and got.max() <= support[1]
    if name == "cauchy_":  # no mean: compare the median and the quartiles
        q = [25, 50, 75]
        assert np.allclose(np.percentile(got, q), np.percentile(eager, q), atol=0.05)
        return
    # means and spreads agree within a few standard errors of N draws
    tol = 5 * eager.std() / math.sqrt(got.size) + 1e-9
    assert abs(got.mean() - eager.mean()) < 2 * tol, (got.mean(), eager.mean())
    assert abs(got.std() - eager.std()) < 0.05 * eager.std() + 1e-9, (got.std(), eager.std())
    if support is not None and isinstance(support[0], int) and support[1] != math.inf:
        assert set(np.unique(got)) == set(np.unique(eager))  # every value of the range is drawn


@pytest.mark.parametrize("opset", OPSETS)
def test_bernoulli_of_certain_events_is_exact(opset):
    p = torch.tensor([[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    fn = lambda q: (torch.bernoulli(q), torch.bernoulli(q, 1.0), torch.bernoulli(q, 0.0))  # noqa: E731
    _, outputs = export_and_run(Fn(fn), (p,), opset=opset)
    assert_matches(Fn(fn), (p,), outputs)


@pytest.mark.parametrize("opset", OPSETS)
def test_empty_inputs(opset):
    x = torch.zeros(0, 5)
    fn = lambda v: (torch.rand_like(v), torch.randn_like(v), v.clone().uniform_())  # noqa: E731
    _, outputs = export_and_run(Fn(fn), (x,), opset=opset)
    assert_matches(Fn(fn), (x,), outputs)


@pytest.mark.parametrize("opset", [22, NEWEST])
@pytest.mark.parametrize("name", CASES)
def test_newer_opsets_are_declined_with_the_reason(name, opset):
    """From opset 22 onnxruntime has no random kernels: the conversion declines and the error
    says so (PyTorch's decompositions of these ops are random ops again)."""
    import onnxplug

    fn, args, _ = CASES[name]
    with pytest.raises(onnxplug.UnsupportedOperatorError, match="only up to opset 21"):
        onnxplug.export(Fn(fn), args, None, opset_version=opset)

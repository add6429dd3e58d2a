"""Integer ops: gcd and lcm (a Euclid Loop), bincount (data-dependent length) and the integer
mean of scatter_reduce / index_reduce (floor division), at their lowest opset and the newest,
with int64 and narrower ints, negative values and zeros."""

from __future__ import annotations

import pytest
import torch

from onnxplug.capture import FunctionModule as Fn  # a function as a module, for export
from onnxplug.testing import NEWEST_OPSET as NEWEST

I64_MAX = torch.iinfo(torch.int64).max


def _fib_pair(top: int) -> tuple[int, int]:
    """The largest consecutive Fibonacci numbers up to ``top``: Euclid's slowest input."""
    a, b = 1, 2
    while a + b <= top:
        a, b = b, a + b
    return b, a


A = torch.tensor([[12, -18, 0, 0, 7], [-4, 35, 1, -1, 100]])
B = torch.tensor([[18, 12, 0, -9, 0], [6, -21, -1, 13, -75]])
SLOW64 = _fib_pair(I64_MAX)
SLOW32 = _fib_pair(torch.iinfo(torch.int32).max)

GCD_LCM_CASES = {
    "int64_signs_and_zeros": (A, B),
    "int32": (A.int(), B.int()),
    "int16": (A.short(), B.short()),
    "int8": (A.to(torch.int8), B.to(torch.int8)),
    "uint8": (A.abs().to(torch.uint8), B.abs().to(torch.uint8)),
    "broadcast_row": (A, torch.tensor([6, -4, 0, 10, 5])),
    "mixed_int32_int64": (A.int(), B),
    "zero_d": (torch.tensor(-24), torch.tensor(36)),
    "empty": (torch.zeros(0, 3, dtype=torch.int64), torch.zeros(0, 3, dtype=torch.int64)),
    # consecutive Fibonacci numbers take the most steps; the lcm product wraps like PyTorch's
    "int64_worst_case": (torch.tensor([SLOW64[0], -SLOW64[1], 2**40 + 1, I64_MAX]),
                         torch.tensor([SLOW64[1], SLOW64[0], 2**40, 6])),
    "int32_worst_case": (torch.tensor([SLOW32[0], 46340], dtype=torch.int32),
                         torch.tensor([SLOW32[1], 46341], dtype=torch.int32)),
    "int8_lcm_wraps": (torch.tensor([100, -128, 127], dtype=torch.int8),
                       torch.tensor([7, 2, -126], dtype=torch.int8)),
}


# one conversion from opset 7 (Div remainders before 10, Mod from 10): both ends and the switch
@pytest.mark.parametrize("opset", [7, 10, NEWEST])
@pytest.mark.parametrize("name", list(GCD_LCM_CASES))
def test_gcd_lcm(check, name, opset):
    check(Fn(lambda a, b: (torch.gcd(a, b), torch.lcm(a, b))), GCD_LCM_CASES[name], opset=opset)


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_gcd_lcm_dynamic_shape(check, opset):
    a, b = torch.tensor([[8, -6, 0], [0, 0, 7]]), torch.tensor([[12, 9, -5], [0, 3, -14]])
    run = (torch.tensor([[0, 0, 15], [-21, 14, 1], [27, -1, 0]]),
           torch.tensor([[0, 4, 25], [6, -35, 0], [-18, 5, 0]]))
    check(Fn(lambda x, y: (torch.gcd(x, y), torch.lcm(x, y))), (a, b), opset=opset,
          input_names=["a", "b"], dynamic_axes={"a": {0: "n"}, "b": {0: "n"}}, run_inputs=run)


X = torch.tensor([1, 3, 3, 0, 7, 3, 0])
W = torch.tensor([0.5, -1.0, 2.0, 0.0, 3.25, 1.5, -2.0])

BINCOUNT = {
    "int64": (lambda x: torch.bincount(x), (X,)),
    "minlength_larger": (lambda x: torch.bincount(x, minlength=11), (X,)),
    "minlength_smaller": (lambda x: torch.bincount(x, minlength=3), (X.int(),)),
    "zeros_only_int16": (lambda x: torch.bincount(x), (torch.zeros(4, dtype=torch.int16),)),
    "uint8": (lambda x: torch.bincount(x, minlength=2), (X.to(torch.uint8),)),
    "int8": (lambda x: torch.bincount(x), (X.to(torch.int8),)),
    "float32_weights": (lambda x, w: torch.bincount(x, w), (X, W)),
    "float64_weights_minlength": (lambda x, w: torch.bincount(x, w, 10), (X.int(), W.double())),
    "int_weights_give_float64": (lambda x, w: torch.bincount(x, w), (X, torch.tensor([3, -1, 2, 0, 5, -4, 1]))),
    "empty_minlength": (lambda x: torch.bincount(x, minlength=4), (torch.zeros(0, dtype=torch.int64),)),
    "empty": (lambda x: torch.bincount(x), (torch.zeros(0, dtype=torch.int64),)),
}


# the one-hot match from 9, ScatterElements add from 16: both ends of each
@pytest.mark.parametrize("opset", [9, 15, 16, NEWEST])
@pytest.mark.parametrize("name", list(BINCOUNT))
def test_bincount(check, name, opset):
    fn, inputs = BINCOUNT[name]
    check(Fn(fn), inputs, opset=opset)


@pytest.mark.parametrize("opset", [9, 15, 16, NEWEST])
def test_bincount_dynamic_length(check, opset):
    # the run input is longer and has a larger maximum: the output grows with it
    check(Fn(lambda x, w: (torch.bincount(x), torch.bincount(x, w, minlength=5))), (X, W), opset=opset,
          input_names=["x", "w"], dynamic_axes={"x": {0: "n"}, "w": {0: "n"}},
          run_inputs=(torch.tensor([9, 0, 2, 2, 12, 2, 5, 9, 1]), torch.linspace(-2.0, 2.0, 9)))


# integer means floor (toward -inf) the sum by the count: -7 / 2 is -4
SELF = torch.tensor([[4, -3, 0, 9], [-5, 0, 2, -1], [0, 6, -7, 3]])
IDX = torch.tensor([[0, 2, 2, 0], [2, 2, 1, 0]])
SRC = torch.tensor([[-3, 5, -8, 0], [-4, -2, 3, 7]])
MEAN_DTYPES = [torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8]


# ScatterElements add from 16 (opset 18's registration shares the mean): both ends of each
@pytest.mark.parametrize("opset", [16, 17, 18, NEWEST])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dtype", MEAN_DTYPES, ids=str)
def test_scatter_reduce_mean(check, dtype, include_self, opset):
    x, src = (SELF.abs(), SRC.abs()) if dtype == torch.uint8 else (SELF, SRC)

    def f(x, idx, src):
        return (x.scatter_reduce(0, idx, src, "mean", include_self=include_self),
                x.scatter_reduce(-1, idx.flip(0), src, "mean", include_self=include_self))
    check(Fn(f), (x.to(dtype), IDX, src.to(dtype)), opset=opset)


@pytest.mark.parametrize("opset", [16, 17, 18, NEWEST])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dtype", [torch.int64, torch.int8, torch.float64], ids=str)
def test_index_reduce_mean(check, dtype, include_self, opset):
    src = torch.tensor([[-7, 2, 0, 5], [0, -3, 11, -1], [-1, 8, -4, 2]], dtype=dtype)

    def f(x, s):
        idx = torch.tensor([2, 0, 2])
        return (x.index_reduce(0, idx, s, "mean", include_self=include_self),
                x.index_reduce(1, torch.tensor([3, 3, 0]), s[:, :3], "mean", include_self=include_self))
    check(Fn(f), (SELF.to(dtype), src), opset=opset)


@pytest.mark.parametrize("opset", [16, NEWEST])
def test_scatter_reduce_mean_int64_exact(check, opset):
    """Sums beyond 2**53 stay exact (no detour through float64)."""
    x = torch.tensor([2**62, -(2**61) - 1, 5])
    src = torch.tensor([2**61 + 3, -(2**60) - 7, 2**55 + 1])
    check(Fn(lambda x, i, s: x.scatter_reduce(0, i, s, "mean")), (x, torch.tensor([0, 1, 1]), src), opset=opset)


@pytest.mark.parametrize("opset", [16, 17, 18, NEWEST])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32], ids=str)
def test_scatter_reduce_zero_d(check, dtype, include_self, opset):
    """A 0-d input: without include_self only the source counts, for every reduction."""
    def f(x, i, s):
        return tuple(x.scatter_reduce(0, i, s, r, include_self=include_self)
                     for r in ("mean", "sum", "prod", "amax", "amin"))
    check(Fn(f), (torch.tensor(-7, dtype=dtype), torch.tensor(0), torch.tensor(2, dtype=dtype)), opset=opset)

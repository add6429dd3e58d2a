"""Comparisons, logical and bitwise ops, selects, maximum/minimum, value classification.

The compare forms change at opsets 9 (integer Less/Greater), 11 (float Equal) and 12
(LessOrEqual/GreaterOrEqual), so those opsets are tested as well as the lowest and newest.
"""

from __future__ import annotations

import pytest
import torch

from onnxplug.testing import NEWEST_OPSET as NEWEST

NAN, INF = float("nan"), float("inf")


class Compare(torch.nn.Module):
    def forward(self, x, y, i, j, b, z):
        out = []
        for a, c in ((x, y), (i, j), (b, b.flip(0)), (x, i), (i, 2), (x, 0.5), (i, 1.5), (x, z),
                     (b, 0), (z, 1.0)):
            out += [a == c, a != c, a < c, a <= c, a > c, a >= c]
        return tuple(out)


def _cmp_inputs():
    x = torch.tensor([-1.0, 0.0, 0.5, 2.0, NAN, INF, -INF])
    y = torch.tensor([-1.0, 1.0, 0.5, -2.0, NAN, INF, 0.0])
    i = torch.tensor([-1, 0, 2, 3, 4, 1, -5])
    j = torch.tensor([0, 0, 1, 3, 5, 1, -5])
    b = torch.tensor([True, False, True, False, True, False, False])
    return x, y, i, j, b, torch.tensor(0.5)


@pytest.mark.parametrize("opset", [7, 9, 11, 12, NEWEST])
def test_compare(check, opset):
    check(Compare(), _cmp_inputs(), opset=opset)


def test_compare_int32_float64(check):
    x, y, i, j, b, z = _cmp_inputs()
    check(Compare(), (x.double(), y.double(), i.int(), j.int(), b, z.double()), opset=NEWEST)


class Logical(torch.nn.Module):
    def forward(self, x, i, b):
        return (torch.logical_not(x), torch.logical_not(i), torch.logical_not(b),
                torch.logical_and(x, i), torch.logical_or(b, x), torch.logical_xor(i, b),
                b & b.flip(0), b | b.flip(0), b ^ b.flip(0), ~b)


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_logical(check, opset):
    check(Logical(), (torch.tensor([0.0, -1.5, NAN, 0.0]), torch.tensor([0, 3, 0, -2]),
                      torch.tensor([True, False, True, False])), opset=opset)


class Classify(torch.nn.Module):
    def forward(self, x, i):
        return (torch.isnan(x), torch.isinf(x), torch.isfinite(x), torch.isposinf(x),
                torch.isneginf(x), torch.signbit(x), torch.isnan(i), torch.isinf(i),
                torch.isfinite(i), torch.signbit(i))


@pytest.mark.parametrize("opset", [7, 9, 10, NEWEST])
def test_classify(check, opset):
    x = torch.tensor([-1.0, -0.0, 0.0, 2.0, NAN, INF, -INF, 3.4e38])
    check(Classify(), (x, torch.tensor([-2, 0, 5])), opset=opset)


class Select(torch.nn.Module):
    def forward(self, c, x, y, i, z):
        return (torch.where(c, x, y), torch.where(c, x, 0.0), torch.where(c, 1.0, y),
                torch.where(c, i, 7), torch.where(c, x, i), torch.where(c, i, z),
                torch.where(i > 0, 2, 3), torch.where(c, c, ~c))


class Extremes(torch.nn.Module):
    def forward(self, x, y, i, j, b):
        return (torch.maximum(x, y), torch.minimum(x, y), torch.fmax(x, y), torch.fmin(x, y),
                torch.max(x, y), torch.min(i, j), torch.maximum(i, j), torch.minimum(x, i),
                torch.maximum(b, b.flip(0)), torch.minimum(b, b.flip(0)), torch.fmax(i, j))


@pytest.mark.parametrize("opset", [9, 12, NEWEST])
def test_select_and_extremes(check, opset):
    c = torch.tensor([True, False, True, False, True])
    x = torch.tensor([1.0, NAN, -2.0, NAN, 4.0])
    y = torch.tensor([0.5, 1.0, NAN, NAN, 5.0])
    i = torch.tensor([3, -1, 0, 2, 9])
    j = torch.tensor([1, 4, 0, -2, 10])
    check(Select(), (c, x, y, i, torch.tensor(2.5)), opset=opset)
    check(Extremes(), (x, y, i, j, c), opset=opset)


class Bitwise(torch.nn.Module):
    def forward(self, i, j, u):
        return (i & j, i | j, i ^ j, ~i, torch.bitwise_and(i, 6), torch.bitwise_or(u, 1), ~u,
                i << 2, i >> 1, j >> j.abs().clamp(max=3), u << 1, torch.bitwise_left_shift(i, j.abs()))


@pytest.mark.parametrize("opset", [18, NEWEST])
def test_bitwise(check, opset):
    check(Bitwise(), (torch.tensor([-8, -3, 0, 5, 12]), torch.tensor([3, -6, 1, 2, 4]),
                      torch.tensor([1, 2, 3, 200, 0], dtype=torch.uint8)), opset=opset)


class Shifts(torch.nn.Module):
    def forward(self, i, j):
        return (i << 2, i >> 1, i >> j, torch.bitwise_left_shift(i, j), i.int() >> 2, ~i, ~i.int(),
                ~i.to(torch.uint8))


def test_shifts_before_bitwise_ops(check):
    check(Shifts(), (torch.tensor([-8, -3, 0, 5, 12]), torch.tensor([0, 1, 2, 3, 1])), opset=11)

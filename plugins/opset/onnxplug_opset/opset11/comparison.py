"""Opset 11: BitShift, which onnxruntime implements for unsigned ints only.

PyTorch's shifts of signed ints are arithmetic: ``x << n == x * 2**n`` and
``x >> n == floor(x / 2**n)``; ``2**n`` is built with a uint64 BitShift.
"""

from __future__ import annotations

import torch

from .. import elementwise_helpers as eh
from .. import forms
from ..helpers import as_value, cast
from ..registration import op


def _power_of_two(g, n, dt):
    n64 = cast(g, as_value(g, n, torch.int64), torch.uint64)
    one = g.constant(1, torch.uint64)
    return cast(g, g.op("BitShift", one, n64, direction_s="LEFT"), dt)


def _shift(g, x, y, left: bool):
    dt = eh.out_dtype(g, x, y)
    run = forms.arith_dtype(g, dt) if dt != torch.uint8 else torch.int64
    a = as_value(g, x, run)
    p = _power_of_two(g, y, run)
    out = eh.op2(g, "Mul", a, p) if left else eh.floor_divide(g, a, p)
    return cast(g, out, dt)


@op("aten::bitwise_left_shift.Tensor", "aten::bitwise_left_shift.Tensor_Scalar",
    "aten::bitwise_left_shift.Scalar_Tensor", "aten::__lshift__.Tensor", "aten::__lshift__.Scalar")
def left_shift(g, x, y):
    return _shift(g, x, y, True)


@op("aten::bitwise_right_shift.Tensor", "aten::bitwise_right_shift.Tensor_Scalar",
    "aten::bitwise_right_shift.Scalar_Tensor", "aten::__rshift__.Tensor", "aten::__rshift__.Scalar")
def right_shift(g, x, y):
    return _shift(g, x, y, False)

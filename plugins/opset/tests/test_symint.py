"""Arithmetic on dynamic sizes lowers to small int64 subgraphs that stay correct at other sizes.

Every model is exported with a dynamic first dim and run at another size. The forms change at
opset 9 (integer Less/Greater) and 12 (integer Max/Min), so the opsets around them run as well as the
lowest (7) and the newest.
"""

from __future__ import annotations

import math

import pytest
import torch

from onnxplug.testing import NEWEST_OPSET as NEWEST
from onnxplug.testing import export_and_compare

OPSETS = (7, 8, 9, 11, 12, 13, NEWEST)

CASES = {
    # name: function of x, where n = x.shape[0] is dynamic
    "add_sub_mul": lambda x: x.reshape(x.shape[0] * 2, -1) + (x.shape[0] + 1 - 3),
    "floordiv_mod": lambda x: x.reshape(x.shape[0] * 2, -1) + (x.shape[0] // 2 + x.shape[0] % 3 - 1),
    "neg": lambda x: x + (-x.shape[0]),
    "truediv_float": lambda x: (x / x.shape[0] + torch.tensor(x.shape[0]).float()
                               + torch.sym_float(x.shape[0])),
    "ceil_floor_trunc": lambda x: (x + math.ceil(x.shape[0] / 4) * 100 + math.floor(x.shape[0] / 4) * 10
                                  + math.trunc(x.shape[0] / 3)),
    "compare": lambda x: (x * (x.shape[0] > 5), x * (x.shape[0] < 5), x * (x.shape[0] == 4),
                          x * (x.shape[0] != 4), x * (x.shape[0] >= 5), x * (x.shape[0] <= 4)),
    "not": lambda x: x + torch.sym_not(x.shape[0] > 5),
    "max_min": lambda x: x * torch.sym_max(x.shape[0], 5) + torch.sym_min(x.shape[0] * 2, 9),
    "numel": lambda x: x.view(x.numel()) * 2,
}


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name", CASES)
def test_size_arithmetic(name, opset):
    fn = CASES[name]
    export_and_compare(fn, (torch.randn(4, 6),), opset=opset, input_names=["x"],
                       dynamic_axes={"x": {0: "n"}}, run_inputs=(torch.randn(7, 6),))

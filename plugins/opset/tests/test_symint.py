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
    # name: (function of x, where n = x.shape[0] is dynamic, lowest opset)
    "add_sub_mul": (lambda x: x.reshape(x.shape[0] * 2, -1) + (x.shape[0] + 1 - 3), 7),
    "floordiv_mod": (lambda x: x.reshape(x.shape[0] * 2, -1) + (x.shape[0] // 2 + x.shape[0] % 3 - 1), 7),
    "neg": (lambda x: x + (-x.shape[0]), 7),
    "truediv_float": (lambda x: x / x.shape[0] + torch.tensor(x.shape[0]).float()
                      + torch.sym_float(x.shape[0]), 7),
    "ceil_floor_trunc": (lambda x: x + math.ceil(x.shape[0] / 4) * 100 + math.floor(x.shape[0] / 4) * 10
                         + math.trunc(x.shape[0] / 3), 7),
    "compare": (lambda x: (x * (x.shape[0] > 5), x * (x.shape[0] < 5), x * (x.shape[0] == 4),
                           x * (x.shape[0] != 4), x * (x.shape[0] >= 5), x * (x.shape[0] <= 4)), 7),
    "not": (lambda x: x + torch.sym_not(x.shape[0] > 5), 7),
    "max_min": (lambda x: x * torch.sym_max(x.shape[0], 5) + torch.sym_min(x.shape[0] * 2, 9), 7),
    "numel": (lambda x: x.view(x.numel()) * 2, 7),
}

# Conversions that are wrong at an opset: these run as strict xfails (a fix makes them fail until
# they are taken off this list), with the reason.
KNOWN_BROKEN = {
    ("floordiv_mod", 7): "opset7.symint.sym_floordiv (and sym_mod, built on it) emits Less on int64, "
                         "which ONNX only allows from opset 9: the checker rejects the model",
    ("floordiv_mod", 8): "opset7.symint.sym_floordiv emits Less on int64 (integer Less needs opset 9)",
    ("max_min", 7): "opset7.symint.sym_max/sym_min run Max/Min in float64 below opset 12; Max-6/Min-6 "
                    "have no float64 kernel in onnxruntime (NOT_IMPLEMENTED); from opset 8 it runs",
}


def _params():
    for name, (_, lowest) in CASES.items():
        for opset in sorted({lowest, *OPSETS}):
            reason = KNOWN_BROKEN.get((name, opset))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(name, opset, id=f"{name}-{opset}", marks=marks)


@pytest.mark.parametrize("name,opset", list(_params()))
def test_size_arithmetic(name, opset):
    fn, _ = CASES[name]
    export_and_compare(fn, (torch.randn(4, 6),), opset=opset, input_names=["x"],
                       dynamic_axes={"x": {0: "n"}}, run_inputs=(torch.randn(7, 6),))

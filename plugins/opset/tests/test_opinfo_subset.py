"""A fast OpInfo subset for the default suite: the full sweep (benchmarks/opinfo.py) is a benchmark.

The ops below were chosen from those the sweep passes, over a spread of families, so a
regression in any family shows up in the ordinary test run. The cases are generated here from
OpInfo at collection time (benchmarks/opinfo_cases.py: the same wrapping, seeds and eager check as
the sweep), not read from a results file: each sample is exported, checked with onnx.checker,
run in onnxruntime and compared with eager PyTorch (rtol 1e-3, atol 1e-4, as the sweep).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import onnx
import pytest
import torch

from onnxplug.testing import export_and_compare

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))

from opinfo_cases import op_cases, op_db, op_name  # noqa: E402

NEWEST = onnx.defs.onnx_opset_version()

# (opset, samples per op): two samples at 17, the first one at the newest opset.
OPSETS = ((17, 2), (NEWEST, 1))

OPS = {
    "elementwise": [
        "abs", "acos", "add", "atan2", "ceil", "clamp", "copysign", "cos", "div.floor_rounding",
        "div.no_rounding_mode", "div.trunc_rounding", "erf", "exp", "expm1", "float_power", "floor",
        "fmod", "frac", "heaviside", "hypot", "lerp", "log", "log1p", "logaddexp", "logit", "mul",
        "nan_to_num", "neg", "pow", "reciprocal", "remainder", "round", "round.decimals_3", "rsqrt",
        "sigmoid", "sign", "sin", "sqrt", "sub", "tanh", "trunc", "where", "xlogy",
    ],
    "comparison": ["eq", "ge", "isclose", "isfinite", "isinf", "isnan", "logical_and", "logical_xor",
                   "maximum", "minimum"],
    "reduction": ["all", "amax", "any", "argmax", "count_nonzero", "cumprod", "cumsum", "logcumsumexp",
                  "logsumexp", "mean", "median", "nansum", "prod", "std", "sum", "var", "var_mean"],
    "shape": ["cat", "chunk", "expand", "flatten", "flip", "movedim", "narrow_copy", "permute", "repeat",
              "reshape", "roll", "select", "slice", "split", "squeeze", "stack", "tile", "transpose",
              "tril", "triu", "unbind", "unflatten", "unfold", "unsqueeze"],
    "indexing": ["__getitem__", "gather", "index_add", "index_put", "index_select", "masked_fill",
                 "scatter", "scatter_add", "scatter_reduce.sum", "take_along_dim"],
    "linalg": ["addmm", "bmm", "cdist", "cross", "einsum", "kron", "linalg.det", "linalg.inv",
               "linalg.vector_norm", "matmul", "mm", "outer"],
    "sort": ["argsort", "bucketize", "cummax", "kthvalue", "searchsorted", "sort", "topk"],
    "nn": [
        "nn.functional.adaptive_avg_pool2d", "nn.functional.avg_pool2d", "nn.functional.batch_norm",
        "nn.functional.binary_cross_entropy_with_logits", "nn.functional.conv1d", "nn.functional.conv2d",
        "nn.functional.conv_transpose1d", "nn.functional.cosine_similarity", "nn.functional.cross_entropy",
        "nn.functional.elu", "nn.functional.embedding", "nn.functional.gelu", "nn.functional.glu",
        "nn.functional.group_norm", "nn.functional.hardswish", "nn.functional.instance_norm",
        "nn.functional.interpolate.bilinear", "nn.functional.interpolate.nearest",
        "nn.functional.layer_norm", "nn.functional.leaky_relu", "nn.functional.linear",
        "nn.functional.max_pool2d", "nn.functional.mse_loss", "nn.functional.nll_loss",
        "nn.functional.normalize", "nn.functional.pad.constant", "nn.functional.pad.reflect",
        "nn.functional.pixel_shuffle", "nn.functional.relu", "nn.functional.rms_norm",
        "nn.functional.silu", "nn.functional.softplus", "log_softmax", "softmax",
    ],
}
ALL_OPS = {name for names in OPS.values() for name in names}


def _cases() -> list:
    warnings.filterwarnings("ignore")
    params = []
    most = max(n for _, n in OPSETS)
    for info in op_db():
        name = op_name(info)
        if name not in ALL_OPS:
            continue
        for case in op_cases(info, samples=most):
            for opset, n in OPSETS:
                if case.index < n:
                    params.append(pytest.param(case, opset, id=f"{name}-{case.index}-opset{opset}"))
    return params


CASES = _cases()


def test_every_listed_op_has_samples():
    """A renamed or vanished OpInfo entry must not silently shrink the subset."""
    found = {p.values[0].op for p in CASES}
    assert ALL_OPS - found == set()


@pytest.mark.parametrize("case,opset", CASES)
def test_opinfo_sample(case, opset):
    with torch.no_grad():
        export_and_compare(case.module, tuple(case.inputs), opset=opset, rtol=1e-3, atol=1e-4)

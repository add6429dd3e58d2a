"""Integer (and bool) inputs of the conversions whose ONNX ops take only floats at low opsets:
padding (Pad-2 before 11), sorting (TopK-1/10 before 11) and the dense scatter composition
(no Mul/Add/Where/ReduceX for narrow ints, no integer Max/Min before 12).

Each runs at its lowest opset, where the composition is used, and at the newest; int64 values
beyond 2**53 check that nothing goes through a float64 (which would round them), the narrow
ints that arithmetic wraps as PyTorch's does, and float32 that the float path still holds.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.export import Dim

from onnxplug.capture import FunctionModule as Fn  # a function as a module, for export
from onnxplug.testing import NEWEST_OPSET as NEWEST

BIG = 2**53  # the first int64 a float64 cannot tell from its neighbour (BIG + 1)
I64 = torch.iinfo(torch.int64)

# a [2, 3, 5] int64 tensor of values a float64 rounds: neighbours of 2**53 and 2**62, and the ends
HUGE = torch.tensor([[[BIG + 1, BIG, BIG + 3, -BIG - 1, 7],
                      [2**62 + 1, 2**62, 2**62 + 2, -(2**62) - 1, I64.max],
                      [I64.min, I64.min + 1, 0, -1, 1]],
                     [[5, 4, 3, 2, 1],
                      [BIG + 2, BIG + 1, BIG, BIG - 1, BIG + 5],
                      [-3, 3, -2, 2, 0]]], dtype=torch.int64)
SMALL = torch.tensor([[[3, -1, 4, 0, -5], [9, 2, -6, 5, 3], [-5, 8, 9, 7, 1]],
                      [[2, 7, -1, 8, 2], [8, 1, 8, 2, 8], [-4, 5, 9, 0, 4]]])


def _as(dt: torch.dtype) -> torch.Tensor:
    """SMALL in ``dt`` (unsigned: shifted to be non-negative)."""
    if dt == torch.bool:
        return SMALL > 2
    return (SMALL + 6).to(dt) if dt == torch.uint8 else SMALL.to(dt)


# -- padding: Concat/Gather/Slice below opset 11, Pad from 11 (int16 and bool widened) ---------
PAD_DTYPES = [torch.int64, torch.int32, torch.int16, torch.uint8, torch.bool, torch.float32]
PADS = {
    "constant": lambda x: F.pad(x, (2, 1, 0, 1), value=3),
    "constant_crop": lambda x: F.pad(x, (-1, 2, 1, -1)),
    "reflect": lambda x: F.pad(x, (2, 3, 1, 1), mode="reflect"),
    "reflect_crop": lambda x: F.pad(x, (-1, 3), mode="reflect"),
    "replicate": lambda x: F.pad(x, (1, 2, 2, 0), mode="replicate"),
    "replicate_crop": lambda x: F.pad(x, (-2, 1), mode="replicate"),
    "constant_pad_nd_3d": lambda x: torch.constant_pad_nd(x, [1, 0, 0, 2, 1, 1], 1),
}
# PyTorch reflects and replicates no bools
_NO_MODE = {("reflect", torch.bool), ("reflect_crop", torch.bool), ("replicate", torch.bool),
            ("replicate_crop", torch.bool)}


@pytest.mark.parametrize("opset", [7, 10, 11, 12, NEWEST])
@pytest.mark.parametrize("name,dt", [(n, d) for n in PADS for d in PAD_DTYPES if (n, d) not in _NO_MODE],
                         ids=lambda v: str(v))
def test_pad_dtypes(check, name, dt, opset):
    check(Fn(PADS[name]), (_as(dt),), opset=opset)


@pytest.mark.parametrize("opset", [13, NEWEST])
@pytest.mark.parametrize("name", ["constant", "reflect", "replicate"])
def test_pad_bfloat16(check, name, opset):
    """No onnxruntime Pad of bfloat16: padded as float32 (exact) and cast back."""
    x = torch.tensor([[[1.5, -2.25, 3.0, 0.125, 9.0], [7.0, -0.5, 2.0, 4.5, -6.0],
                       [0.75, 5.0, -3.5, 1.0, 2.5]]])
    check(Fn(lambda v: PADS[name](v.bfloat16()).float()), (x,), opset=opset)


@pytest.mark.parametrize("opset", [7, 9, NEWEST])
@pytest.mark.parametrize("name", list(PADS))
def test_pad_int64_beyond_float64(check, name, opset):
    """Every padded element is one of x's or the fill: int64 beyond 2**53 survives exactly."""
    check(Fn(PADS[name]), (HUGE,), opset=opset)


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_pad_value_beyond_float64(check, opset):
    # F.pad passes the value as a float: PyTorch fills 2**60, not 2**60 + 1
    check(Fn(lambda x: torch.constant_pad_nd(x, [1, 2], 2**60 + 1)), (HUGE,), opset=opset)


@pytest.mark.parametrize("opset", [7, NEWEST])
@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_pad_dynamic_dim(check, mode, opset):
    """The padded dim itself dynamic: the parts after it come from a Slice of its end."""
    x = torch.arange(12, dtype=torch.int64).reshape(2, 6) + BIG
    run = (torch.arange(21, dtype=torch.int64).reshape(3, 7) * 3 + BIG,)
    spec = {0: Dim("b", min=2, max=64), 1: Dim("n", min=4, max=64)}  # reflect needs n > 3
    check(Fn(lambda v: F.pad(v, (3, 2), mode=mode)), (x,), opset=opset,
          dynamic_shapes={"args": (spec,)}, run_inputs=run)


@pytest.mark.parametrize("opset", [8, NEWEST])
def test_pad_constant_dynamic_batch(check, opset):
    """A constant block beside a dynamic dim: an Expand to the computed shape (opset 8)."""
    x = torch.arange(12, dtype=torch.int64).reshape(2, 6) - BIG
    run = (torch.arange(21, dtype=torch.int64).reshape(3, 7) + BIG,)
    check(Fn(lambda v: F.pad(v, (1, 2), value=-4)), (x,), opset=opset, input_names=["x"],
          dynamic_axes={"x": {0: "b", 1: "n"}}, run_inputs=run)


@pytest.mark.parametrize("opset", [7, 8, NEWEST])
def test_pad_large_constant_block(check, opset):
    """Blocks over the constant size limit: an Expand of one element from opset 8."""
    x = torch.randint(-100, 100, (2, 40, 70), dtype=torch.int32)
    check(Fn(lambda v: F.pad(v, (0, 0, 0, 0, 2, 1), value=9)), (x,), opset=opset)


@pytest.mark.parametrize("opset", [7, NEWEST])
@pytest.mark.parametrize("dt", [torch.int64, torch.float32], ids=str)  # no int32 avg_pool3d in PyTorch
def test_local_response_norm_int(check, dt, opset):
    x = (torch.arange(2 * 6 * 3 * 4).reshape(2, 6, 3, 4) % 7 - 3).to(dt)
    check(Fn(lambda v: F.local_response_norm(v, 3)), (x,), opset=opset)


# -- sorting: float keys before opset 11, int64 by a two-key radix sort ----------------------------
# HUGE holds no ties along any dim (topk/kthvalue promise no order among ties); TIES does
DISTINCT = HUGE
TIES = torch.tensor([[BIG + 1, BIG, BIG + 1, BIG, 5, 5, -BIG, BIG + 1, -BIG, 5],
                     [3, 3, 3, 1, 1, 2, 2, 3, 1, 2]])

SORTS = {
    "sort": lambda x: torch.sort(x),
    "sort_descending_dim1": lambda x: torch.sort(x, dim=1, descending=True),
    "sort_stable": lambda x: torch.sort(x, stable=True, descending=True),
    "argsort_dim0": lambda x: torch.argsort(x, dim=0),
    "argsort_stable_descending": lambda x: torch.argsort(x, dim=-1, descending=True, stable=True),
    "msort": lambda x: torch.msort(x),
    "topk": lambda x: torch.topk(x, 3),
    "topk_smallest": lambda x: torch.topk(x, 2, dim=-1, largest=False),
    "kthvalue": lambda x: torch.kthvalue(x, 2),
    "kthvalue_keepdim": lambda x: torch.kthvalue(x, 4, 2, True),
}
# where SMALL has ties (the sorts of test_sort_dtypes), the stable order: TopK breaks ties by the
# lower index, as PyTorch's stable sort does


@pytest.mark.parametrize("opset", [7, 10, 11, NEWEST])
@pytest.mark.parametrize("name", list(SORTS))
def test_sort_int64_beyond_float64(check, name, opset):
    check(Fn(SORTS[name]), (DISTINCT,), opset=opset)


@pytest.mark.parametrize("opset", [7, 10, NEWEST])
@pytest.mark.parametrize("descending", [False, True])
def test_stable_sort_int64_ties(check, descending, opset):
    """Equal values keep their input order, also among neighbours float64 cannot tell apart."""
    check(Fn(lambda x: torch.sort(x, stable=True, descending=descending)), (TIES,), opset=opset)


SORT_DTYPES = [torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool, torch.float32]


@pytest.mark.parametrize("opset", [7, 10, NEWEST])
@pytest.mark.parametrize("dt", SORT_DTYPES, ids=str)
@pytest.mark.parametrize("name", ["sort_stable", "argsort_stable_descending", "msort"])
def test_sort_dtypes(check, name, dt, opset):
    check(Fn(SORTS[name]), (_as(dt),), opset=opset)


@pytest.mark.parametrize("opset", [7, 10, NEWEST])
@pytest.mark.parametrize("dt", [torch.int32, torch.int16, torch.int8, torch.uint8, torch.float32], ids=str)
@pytest.mark.parametrize("name", ["topk", "topk_smallest", "kthvalue"])
def test_topk_dtypes(check, name, dt, opset):
    x = torch.tensor([[9, 2, 7, 4, 0], [1, 8, 3, 6, 5]])  # distinct per row
    check(Fn(SORTS[name]), (x.to(dt),), opset=opset)


@pytest.mark.parametrize("opset", [7, 10, NEWEST])
def test_sort_int32_beyond_float32(check, opset):
    """int32 neighbours a float32 cannot tell apart: ordered by a float64 key."""
    x = torch.tensor([[2**24 + 1, 2**24, 2**31 - 1, -(2**31), 2**24 + 3, -(2**24) - 1]], dtype=torch.int32)
    check(Fn(lambda v: torch.sort(v, descending=True, stable=True)), (x,), opset=opset)


@pytest.mark.parametrize("opset", [10, NEWEST])
def test_sort_int_dynamic_dim(check, opset):
    """Narrow ints need no Gather, so a dynamic dim sorts from opset 10 (TopK's k input)."""
    x = torch.tensor([[5, -3, 9, 0], [2, 2, -7, 1]], dtype=torch.int32)
    run = (torch.tensor([[4, 1, -2, 8, 0, 3]], dtype=torch.int32),)
    check(Fn(lambda v: torch.sort(v, stable=True)), (x,), opset=opset, input_names=["x"],
          dynamic_axes={"x": {0: "b", 1: "n"}}, run_inputs=run)


# -- dense scatter: integers reduce in int64 (opsets 7-15; amax/amin to 17) ----------------------
IDX = torch.tensor([[0, 1, 1, 3], [2, 2, 0, 0]])
X_BIG = torch.tensor([[BIG, -BIG, 2**62, 5], [BIG + 1, 7, -(2**62), I64.max - 3]])
S_BIG = torch.tensor([[1, 1, 3, -2], [2, BIG + 1, 1, 1]])

SCATTERS = {
    "scatter_add": lambda x, i, s: x.scatter_add(1, i, s),
    "scatter_src": lambda x, i, s: x.scatter(1, i, s),
    "scatter_value": lambda x, i, s: x.scatter(1, i, 4),
    "scatter_reduce_add": lambda x, i, s: x.scatter(1, i, s, reduce="add"),
    "scatter_reduce_multiply": lambda x, i, s: x.scatter(1, i, s, reduce="multiply"),
    "sum": lambda x, i, s: x.scatter_reduce(1, i, s, "sum"),
    "sum_no_self": lambda x, i, s: x.scatter_reduce(1, i, s, "sum", include_self=False),
    "prod": lambda x, i, s: x.scatter_reduce(1, i, s, "prod"),
    "prod_no_self": lambda x, i, s: x.scatter_reduce(1, i, s, "prod", include_self=False),
    "mean": lambda x, i, s: x.scatter_reduce(1, i, s, "mean"),
    "mean_no_self": lambda x, i, s: x.scatter_reduce(1, i, s, "mean", include_self=False),
    "amax": lambda x, i, s: x.scatter_reduce(1, i, s, "amax"),
    "amax_no_self": lambda x, i, s: x.scatter_reduce(1, i, s, "amax", include_self=False),
    "amin": lambda x, i, s: x.scatter_reduce(1, i, s, "amin"),
    "amin_no_self": lambda x, i, s: x.scatter_reduce(1, i, s, "amin", include_self=False),
    "index_reduce_prod": lambda x, i, s: x.index_reduce(1, i[0, :3], s[:, :3], "prod"),
    "index_reduce_mean": lambda x, i, s: x.index_reduce(1, i[1], s, "mean"),
    "index_reduce_amax": lambda x, i, s: x.index_reduce(1, i[0], s, "amax", include_self=False),
    "index_reduce_amin": lambda x, i, s: x.index_reduce(1, i[1], s, "amin"),
}
# the dense composition serves 7-15 (ScatterElements reduces from 16); amax/amin to 17
SCATTER_OPSETS = [7, 9, 11, 15, 16, 17, NEWEST]


@pytest.mark.parametrize("opset", SCATTER_OPSETS)
@pytest.mark.parametrize("name", list(SCATTERS))
def test_scatter_int64_beyond_float64(check, name, opset):
    """Sums and extremes of int64 beyond 2**53 are exact (int64 arithmetic, no float64)."""
    check(Fn(SCATTERS[name]), (X_BIG, IDX, S_BIG), opset=opset)


def _scatter_inputs(dt):
    """x and src in ``dt``: negative values and products/sums that wrap the narrow ints."""
    x = torch.tensor([[100, -7, 3, 120], [-128, 9, 0, 64]])
    s = torch.tensor([[90, 3, -5, 2], [-3, 100, 7, 127]])
    if dt == torch.uint8:
        x, s = x.abs() + 100, s.abs() + 50
    if dt == torch.bool:
        return x > 5, s > 5
    return x.to(dt), s.to(dt)


@pytest.mark.parametrize("opset", [7, 9, 15, 17, NEWEST])
@pytest.mark.parametrize("dt", [torch.int32, torch.int16, torch.int8, torch.uint8, torch.float32], ids=str)
@pytest.mark.parametrize("name", list(SCATTERS))
def test_scatter_dtypes(check, name, dt, opset):
    x, s = _scatter_inputs(dt)
    check(Fn(SCATTERS[name]), (x, IDX, s), opset=opset)


@pytest.mark.parametrize("opset", [7, 9, NEWEST])
@pytest.mark.parametrize("name", ["scatter_src", "scatter_add", "amax", "amin_no_self", "prod"])
def test_scatter_bool(check, name, opset):
    x, s = _scatter_inputs(torch.bool)
    check(Fn(SCATTERS[name]), (x, IDX, s), opset=opset)


@pytest.mark.parametrize("opset", [7, 8, 9, 15])
@pytest.mark.parametrize("name", ["amax", "amin", "amax_no_self"])
def test_scatter_extremes_float64(check, name, opset):
    """float64 amax/amin with x included: one ReduceX over x and the sources at opset 7
    (onnxruntime's Max-6/Min-6 take only float32)."""
    x = torch.tensor([[1.5, -2.0, 3.0, 0.25], [-1.0, 8.0, 2.0, -3.5]], dtype=torch.float64)
    s = torch.tensor([[2.0, -9.0, 0.5, 4.0], [-7.0, 1.0, 6.0, 3.0]], dtype=torch.float64)
    check(Fn(SCATTERS[name]), (x, IDX, s), opset=opset)

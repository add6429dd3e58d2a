"""Bool inputs to the ops whose ONNX form has no bool version (onnxplug_opset.bool_helpers).

ONNX's ``Mul``/``Add``/``Max``/``Min`` reject bool and onnxruntime has no bool kernel for
``Where``, ``TopK``, ``Unique`` or the max/min reductions of ``ScatterElements``; PyTorch's bool
maths is logic (a sum is ``or``, a product ``and``). Each case runs at the lowest opset of the
conversions it reaches, at the opsets where their form changes, and at the newest.
"""

from __future__ import annotations

import pytest
import torch

from onnxplug.capture import FunctionModule as Fn  # a function as a module, for export
from onnxplug.testing import NEWEST_OPSET as NEWEST
from onnxplug_opset.bool_helpers import logical_addr, logical_outer

B = torch.tensor([[True, False, True, True, False],
                  [False, False, True, False, True],
                  [True, True, False, False, False]])
M = torch.tensor([[False, True, True, False, False],
                  [True, False, False, False, True],
                  [False, False, False, True, True]])
LONG = torch.tensor([1, 1, 0, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 1, 0,
                     1, 1, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 1, 1], dtype=torch.bool)


def _run(check, fn, inputs, opset, **kwargs):
    check(Fn(fn), inputs, opset=opset, **kwargs)


# -- sorting: TopK of float32 0/1 (TopK-1/10 take only floats); ties keep their input order --------
SORTS = {
    "sort_stable_rows": (lambda b: torch.sort(b, dim=-1, stable=True), (B,)),
    "sort_descending_stable_cols": (lambda b: torch.sort(b, dim=0, descending=True, stable=True), (B,)),
    # up to 16 values PyTorch's default (unstable) CPU sort keeps ties in order too
    "sort_default_small": (lambda b: torch.sort(b), (B,)),
    "argsort": (lambda b: (torch.argsort(b, dim=1, stable=True), torch.argsort(b, dim=0, descending=True)), (B,)),
    "msort": (lambda b: torch.msort(b), (B,)),
    "many_ties_stable": (lambda v: (torch.sort(v, stable=True), torch.sort(v, descending=True, stable=True)),
                         (LONG,)),
    "zero_d": (lambda v: torch.sort(v), (torch.tensor(True),)),
}


# one conversion from 7 (TopK's k an input from 10, ascending TopK from 11): both sides of each
@pytest.mark.parametrize("opset", [7, 10, 11, NEWEST])
@pytest.mark.parametrize("name", list(SORTS))
def test_sort_bool(check, name, opset):
    _run(check, *SORTS[name], opset)


# -- unique: onnxruntime's Unique has no bool kernel (int64 0/1) --------------------------------------
UNIQUES = {
    "flat": (lambda b: torch.unique(b, return_inverse=True, return_counts=True), (B,)),
    "one_value": (lambda b: torch.unique(b, return_inverse=True, return_counts=True),
                  (torch.ones(2, 3, dtype=torch.bool),)),
    "dim0": (lambda b: torch.unique(b, dim=0, return_inverse=True, return_counts=True),
             (torch.cat([B, B[:1]]),)),
    "dim1": (lambda b: torch.unique(b, dim=1, return_inverse=True, return_counts=True), (B,)),
}


@pytest.mark.parametrize("opset", [11, NEWEST])
@pytest.mark.parametrize("name", list(UNIQUES))
def test_unique_bool(check, name, opset):
    _run(check, *UNIQUES[name], opset)


# -- adding into bools is or: int32 sums cast back -------------------------------------------------
IDX = torch.tensor([1, 0, 1, 4])  # a duplicate
SRC_ROWS = torch.tensor([[True, False, False, True, False],
                         [False, False, False, False, True],
                         [True, True, False, False, False],
                         [False, False, True, False, False]])
ADDS = {
    "index_add_dim1": (lambda x, i, s: x.index_add(1, i, s), (B, IDX, SRC_ROWS[:3, :4])),
    "index_add_dim0": (lambda x, i, s: x.index_add(0, i, s), (B, torch.tensor([2, 0, 2]), SRC_ROWS[:3])),
    "index_add_alpha_true": (lambda x, i, s: x.index_add(0, i, s, alpha=True), (B, torch.tensor([1, 1]),
                                                                               SRC_ROWS[:2])),
    "index_add_alpha_false": (lambda x, i, s: x.index_add(0, i, s, alpha=False), (B, torch.tensor([1]),
                                                                                 SRC_ROWS[:1])),
    "index_add_zero_d": (lambda x, i, s: x.index_add(0, i, s), (torch.tensor(False), torch.tensor([0]),
                                                                torch.tensor(True))),
    "index_put_accumulate": (lambda x, i, v: x.index_put((i,), v, accumulate=True),
                             (B, torch.tensor([2, 0, 2]), SRC_ROWS[:3])),
    "index_put_accumulate_2d": (lambda x, i, j, v: x.index_put((i, j), v, accumulate=True),
                                (B, torch.tensor([0, 1, 0, 2]), torch.tensor([1, 1, 1, 4]),
                                 torch.tensor([True, False, True, False]))),
}


# index_put's dense composition before 11 (16 to accumulate), ScatterND add from 16: both sides
@pytest.mark.parametrize("opset", [7, 15, 16, NEWEST])
@pytest.mark.parametrize("name", list(ADDS))
def test_bool_accumulate(check, name, opset):
    _run(check, *ADDS[name], opset)


# -- scatters: float32 0/1 in the dense composition, int32 with ScatterElements reductions ------------
SC_IDX = torch.tensor([[0, 2, 2, 0, 1], [2, 2, 1, 0, 1]])
SC_SRC = torch.tensor([[True, True, False, False, True], [False, True, False, True, False]])


@pytest.mark.parametrize("opset", [7, 11, 15, 16, 17, 18, NEWEST])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_bool(check, include_self, opset):
    def f(x, idx, src):
        return tuple(x.scatter_reduce(0, idx, src, r, include_self=include_self)
                     for r in ("sum", "prod", "amax", "amin"))
    _run(check, f, (B, SC_IDX, SC_SRC), opset)


# scatter: the dense composition until 10; scatter_add: until 15 (ScatterElements add from 16)
@pytest.mark.parametrize("opset", [7, 10, 11, 15, 16, NEWEST])
def test_scatter_bool(check, opset):
    idx = torch.tensor([[0, 2, 1, 0, 1], [2, 1, 0, 1, 2]])  # no duplicate target per column

    def f(x, idx, src):
        return x.scatter(0, idx, src), x.scatter(1, idx[:, :2], True), x.scatter_add(0, SC_IDX, src)
    _run(check, f, (B, idx, SC_SRC), opset)


# -- selections: And/Or, no Where on bools -------------------------------------------------------
SELECTS = {
    "masked_fill_true": (lambda x, m: x.masked_fill(m, True), (B, M)),
    "masked_fill_false": (lambda x, m: x.masked_fill(m, False), (B, M)),
    "masked_fill_nonzero_scalar": (lambda x, m: x.masked_fill(m, 0.5), (B, M)),
    "masked_fill_tensor_value": (lambda x, m, v: x.masked_fill(m, v), (B, M, torch.tensor(True))),
    "masked_fill_broadcast_mask": (lambda x, m: x.masked_fill(m, True), (B, M[0])),
    "tril_triu": (lambda x: (torch.tril(x), torch.triu(x, 1), torch.tril(x, -1)), (B,)),
}


# masked_fill from 7 (Where from 9), tril/triu from 7 (Trilu from 14): both sides of each
@pytest.mark.parametrize("opset", [7, 9, 13, 14, NEWEST])
@pytest.mark.parametrize("name", list(SELECTS))
def test_select_bool(check, name, opset):
    _run(check, *SELECTS[name], opset)


@pytest.mark.parametrize("opset", [11, NEWEST])
def test_masked_scatter_bool(check, opset):
    src = torch.tensor([True, False, True, True, False, True, False, True, True, False, True, True,
                        False, True, True])
    _run(check, lambda x, m, s: (x.masked_scatter(m, s), x.masked_scatter(m[1], s)), (B, M, src), opset)


# PyTorch decomposes these into clamp, index/index_put and masked_fill (opset 9 for the clamp)
@pytest.mark.parametrize("opset", [9, NEWEST])
def test_unsafe_masked_index_bool(check, opset):
    i, j = torch.tensor([[0], [2], [5]]), torch.tensor([[1, 4, -2]])
    mask = torch.tensor([[True, False, True], [True, True, True], [False, True, True]])
    values = torch.tensor([[True, False, False], [False, False, True], [True, True, True]])

    def f(x, mask, i, j, values):
        return (torch.ops.aten._unsafe_masked_index(x, mask, [i.clamp(0, 2), j.clamp(0, 4)], True),
                torch.ops.aten._unsafe_masked_index(x, mask, [i.clamp(0, 2), j.clamp(0, 4)], False),
                torch.ops.aten._unsafe_masked_index_put_accumulate(x, mask, [i.clamp(0, 2), j.clamp(0, 4)],
                                                                    values))
    _run(check, f, (B, mask, i, j, values), opset)


# -- outer/addr helpers (the linalg conversions' bool forms), through custom symbolics --------------
def _outer(g, x, y):
    return logical_outer(g, x, y)


def _addr(g, bias, x, y, *, beta=1, alpha=1):
    return logical_addr(g, bias, x, y, beta, alpha)


V1 = torch.tensor([True, False, True])
V2 = torch.tensor([True, True, False, False, True])
BIAS = torch.tensor([[False, True, False, False, False], [True, False, False, False, False],
                     [False, False, False, True, False]])


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_logical_outer(check, opset):
    _run(check, lambda a, b: (torch.outer(a, b), torch.ger(b, a)), (V1, V2), opset,
         custom_symbolics={"aten::outer": _outer, "aten::ger": _outer})


# PyTorch's bool addr: (beta and bias) or (alpha and outer); a false beta ignores bias
@pytest.mark.parametrize("opset", [7, NEWEST])
@pytest.mark.parametrize("beta,alpha", [(1, 1), (True, False), (False, True), (0, 0), (2, 3)])
def test_logical_addr(check, beta, alpha, opset):
    def f(bias, a, b):
        return torch.addr(bias, a, b, beta=beta, alpha=alpha), torch.addr(bias[0], a, b, beta=beta, alpha=alpha)
    _run(check, f, (BIAS, V1, V2), opset, custom_symbolics={"aten::addr": _addr})

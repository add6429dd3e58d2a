"""Indexing, gather/scatter, sorting, cumulative and triangular ops, at their lowest opset and the newest."""

from __future__ import annotations

import pytest
import torch

from onnxplug.testing import NEWEST_OPSET as NEWEST

X = torch.randn(4, 5)

# Conversions that are wrong at an opset: strict xfails (a fix makes them fail until the entry is
# taken off this list), with the reason.
IDX = torch.tensor([[0, 1, 2, 0, 3], [3, 2, 1, 0, 0]])
SRC = torch.randn(2, 5)


class Gathers(torch.nn.Module):
    def forward(self, x, idx, src):
        return (
            torch.gather(x, 0, idx),
            torch.gather(x, 1, idx[:, :3]),
            x.scatter(0, idx, src),
            x.scatter(1, idx[:, :2], 2.5),
            x.scatter_add(0, idx, src),
            x.scatter(0, idx, src, reduce="multiply"),
        )


# GatherElements/ScatterElements take over at 11, their reductions at 16: both sides of each.
@pytest.mark.parametrize("opset", [7, 10, 11, 15, 16, NEWEST])
def test_gather_scatter(check, opset):
    idx = torch.tensor([[0, 1, 2, 3, 3], [3, 2, 1, 0, 1]])  # no duplicates per column for scatter
    check(Gathers(), (X, idx, SRC), opset=opset)


# ScatterElements reductions: add/mul from 16, max/min from 18; both sides of each.
@pytest.mark.parametrize("opset", [7, 15, 16, 17, 18, NEWEST])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce(check, opset, include_self):
    def f(x, idx, src):
        return tuple(x.scatter_reduce(0, idx, src, r, include_self=include_self)
                     for r in ("sum", "prod", "mean", "amax", "amin"))
    check(f, (X, IDX, SRC), opset=opset)


# As scatter_reduce: ScatterElements reductions mul from 16, max/min from 18; both sides of each.
@pytest.mark.parametrize("opset", [7, 15, 16, 17, 18, NEWEST])
def test_index_reduce(check, opset):
    def f(x, src):
        idx = torch.tensor([0, 2, 0])
        return tuple(x.index_reduce(0, idx, src, r) for r in ("prod", "mean", "amax", "amin"))
    check(f, (X, torch.randn(3, 5)), opset=opset)


class Advanced(torch.nn.Module):
    def forward(self, x, i, j):
        return (
            x[i],
            x[:, j],
            x[i, j],
            x[..., -1],
            x[i[:, None], j[None, :2]],
            x[:, :, None][:, j],
            torch.index_select(x, 1, j),
            torch.take(x, i),
        )


@pytest.mark.parametrize("opset", [7, 11, NEWEST])
def test_advanced_indexing(check, opset):
    x = torch.randn(4, 5, 3)
    check(Advanced(), (x, torch.tensor([0, -1, 2]), torch.tensor([4, 0, 1])), opset=opset)


@pytest.mark.parametrize("opset", [9, NEWEST])
def test_bool_mask_indexing(check, opset):
    def f(x, m):
        return x[m], x[m[:, 0]], torch.masked_select(x, m), torch.nonzero(m), torch.argwhere(x > 0)
    x = torch.randn(4, 3)
    check(f, (x, x > 0), opset=opset)


class Puts(torch.nn.Module):
    def forward(self, x, i, v):
        a = x.index_put((i,), v[:1])
        b = x.index_put((i, i), v[:, 0], accumulate=True)
        c = x.index_copy(0, i, v)
        d = x.index_add(1, i, v.t(), alpha=2.0)
        e = x.index_fill(1, i, -1.0)
        f = x.masked_fill(x > 0, 0.5)
        g = x.put(i, v[0, :3], accumulate=True)
        h = x.put(i, v[1, :3])
        return a, b, c, d, e, f, g, h


@pytest.mark.parametrize("opset", [7, 11, 16, NEWEST])
def test_index_put_family(check, opset):
    x = torch.randn(4, 4)
    check(Puts(), (x, torch.tensor([0, 2, 2]), torch.randn(3, 4)), opset=opset)


@pytest.mark.parametrize("opset", [11, NEWEST])
def test_index_put_dynamic_batch(check, opset):
    def f(x, i):
        return (x.index_fill(1, i, 1.0), x.index_copy(1, i, x[:, :2] * 2), x[:, i],
                torch.gather(x, 1, i.expand(x.shape[0], -1)))
    check(f, (torch.randn(3, 5), torch.tensor([1, 3])), opset=opset, input_names=["x", "i"],
          dynamic_axes={"x": {0: "batch"}}, run_inputs=(torch.randn(6, 5), torch.tensor([1, 3])))


class Sorts(torch.nn.Module):
    def forward(self, x):
        return (
            torch.sort(x, dim=1),
            torch.sort(x, dim=0, descending=True),
            torch.argsort(x, dim=-1),
            torch.topk(x, 2, dim=1),
            torch.topk(x, 2, dim=0, largest=False),
            torch.kthvalue(x, 2, dim=1),
            torch.kthvalue(x, 3, dim=0, keepdim=True),
            torch.msort(x),
        )


@pytest.mark.parametrize("opset", [7, 10, 11, NEWEST])
def test_sorting(check, opset):
    check(Sorts(), (torch.randn(4, 6),), opset=opset)


@pytest.mark.parametrize("opset", [11, NEWEST])
def test_sort_dynamic_length(check, opset):
    check(lambda x: torch.sort(x, dim=0), (torch.randn(5, 3),), opset=opset, input_names=["x"],
          dynamic_axes={"x": {0: "n"}}, run_inputs=(torch.randn(8, 3),))


class Cumulative(torch.nn.Module):
    def forward(self, x, i):
        return (
            torch.cumsum(x, 1),
            torch.cumsum(i, 0),
            torch.cumsum(x, 0, dtype=torch.float64),
        )


@pytest.mark.parametrize("opset", [7, 10, 11, NEWEST])
def test_cumsum(check, opset):
    check(Cumulative(), (torch.randn(3, 4), torch.tensor([3, 1, 2])), opset=opset)


class Scans(torch.nn.Module):
    def forward(self, x):
        return (
            torch.cumprod(x, 1),
            torch.logcumsumexp(x, 0),
            torch.cummax(x, 1),
            torch.cummin(x, 0),
        )


@pytest.mark.parametrize("opset", [9, NEWEST])
def test_composed_scans(check, opset):
    x = torch.tensor([[1.0, 3.0, 3.0, -2.0], [0.5, -1.0, 4.0, 4.0], [2.0, 2.0, 0.0, 1.0]])
    check(Scans(), (x,), opset=opset)


@pytest.mark.parametrize("opset", [9, NEWEST])
def test_search(check, opset):
    def f(seq, v, rows):
        return (torch.searchsorted(seq, v), torch.searchsorted(seq, v, right=True),
                torch.bucketize(v, seq), torch.bucketize(v, seq, right=True, out_int32=True),
                torch.searchsorted(rows, v[:2].expand(2, 2)))
    seq = torch.tensor([0.0, 1.0, 1.0, 2.5, 4.0])
    check(f, (seq, torch.tensor([-1.0, 1.0, 3.0, 5.0]), torch.sort(torch.randn(2, 4)).values), opset=opset)


@pytest.mark.parametrize("opset", [7, 13, 14, NEWEST])
def test_triangles_and_one_hot(check, opset):
    def f(x, i):
        return (torch.tril(x), torch.triu(x, 1), torch.tril(x, -1), torch.nn.functional.one_hot(i, 5))
    check(f, (torch.randn(2, 3, 4), torch.tensor([0, 4, 2])), opset=opset)


@pytest.mark.parametrize("opset", [9, 11, 14, NEWEST])
def test_trilu_dynamic(check, opset):
    check(lambda x: torch.triu(x, -1), (torch.randn(3, 4),), opset=opset, input_names=["x"],
          dynamic_axes={"x": {0: "n"}}, run_inputs=(torch.randn(6, 4),))


class Diagonals(torch.nn.Module):
    def forward(self, x, v):
        return (
            torch.diagonal(x),
            torch.diagonal(x, 1, 1, 2),
            torch.diagonal(x, -1, -1, 0),
            torch.diag_embed(v),
            torch.diag_embed(v, 1, 0, 2),
            torch.diag(v[0]),
            torch.diag(x[0], -1),
            torch.diagflat(v),
        )


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_diagonals(check, opset):
    check(Diagonals(), (torch.randn(3, 4, 5), torch.randn(2, 3)), opset=opset)


class Scatters(torch.nn.Module):
    def forward(self, x, row, col, diag):
        return (
            torch.select_scatter(x, row, 0, -1),
            torch.slice_scatter(x, col, 1, 1, 5, 2),
            torch.diagonal_scatter(x, diag, 1),
        )


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_view_scatters(check, opset):
    x = torch.randn(4, 5)
    check(Scatters(), (x, torch.randn(5), torch.randn(4, 2), torch.randn(4)), opset=opset)


@pytest.mark.parametrize("opset", [11, NEWEST])
def test_opset11_natives(check, opset):
    def f(x, m, src, i):
        return (torch.take_along_dim(x, i, dim=1), torch.take_along_dim(x, i),
                torch.take_along_dim(x, i[:1], dim=1), torch.take_along_dim(x[:1], i, dim=1),
                x.masked_scatter(m, src), torch.unique(i, return_inverse=True, return_counts=True),
                torch.unique(i, dim=0, return_inverse=True, return_counts=True))
    x = torch.randn(3, 4)
    check(f, (x, x > 0, torch.randn(12), torch.tensor([[0, 3], [1, 1], [2, 0]])), opset=opset,)


@pytest.mark.parametrize("opset", [9, NEWEST])
def test_negative_indices_on_dynamic_dim(check, opset):
    def f(x, i):
        return x[i], x.select(0, -1), x[i, 1:]
    check(f, (torch.randn(4, 3), torch.tensor([-1, 0, -2])), opset=opset, input_names=["x", "i"],
          dynamic_axes={"x": {0: "batch"}}, run_inputs=(torch.randn(7, 3), torch.tensor([-1, 0, -2])))


@pytest.mark.parametrize("opset", [11, NEWEST])
def test_unique_consecutive(check, opset):
    def f(x):
        return torch.unique_consecutive(x, return_inverse=True, return_counts=True)
    check(f, (torch.tensor([[1.0, 1.0, 2.0], [2.0, 3.0, 1.0]]),), opset=opset)


@pytest.mark.parametrize("opset", [11, NEWEST])
def test_mask_assignment_dynamic(check, opset):
    def f(x):
        y = x.clone()
        y[y > 0] = 0.0
        return y, torch.nonzero_static(x > 0, size=20, fill_value=-1), x.masked_fill(x < 0, 1.0)
    check(f, (torch.randn(3, 4),), opset=opset, run_inputs=(torch.randn(5, 4),), input_names=["x"],
          dynamic_axes={"x": {0: "batch"}})


@pytest.mark.parametrize("opset", [9, 10, 11, NEWEST])
def test_nonzero_static_and_sorter(check, opset):
    def f(x, seq, v):
        return (torch.nonzero_static(x > 0, size=5), torch.nonzero_static(x > 0, size=30, fill_value=7),
                torch.searchsorted(seq, v, sorter=torch.argsort(seq)))
    check(f, (torch.randn(3, 4), torch.tensor([3.0, -1.0, 2.0, 0.5]), torch.tensor([0.0, 2.5, -3.0])),
          opset=opset)


@pytest.mark.parametrize("opset", [9, NEWEST])
@pytest.mark.parametrize("value", [0.0, 2.5])
def test_nonzero_of_a_0d_tensor(check, opset, value):
    check(lambda x: torch.nonzero(x), (torch.tensor(value),), opset=opset)

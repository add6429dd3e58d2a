"""Linear algebra: each conversion at the lowest opset it claims and at the newest."""

from __future__ import annotations

import pytest
import torch

from onnxplug.testing import NEWEST_OPSET as NEWEST


from onnxplug.capture import FunctionModule as Fn  # a function as a module, for export


torch.manual_seed(0)
V3, W3 = torch.randn(3), torch.randn(3)
M = torch.randn(3, 4)
B1, B2 = torch.randn(2, 3, 4), torch.randn(2, 4, 5)
SQ = torch.randn(4, 4) + 4 * torch.eye(4)
BSQ = torch.randn(2, 3, 3, 3)
PIVOT = torch.tensor([[0.0, 2.0, 1.0], [1.0, 0.0, 3.0], [4.0, 1.0, 0.0]])  # needs row swaps
SINGULAR = torch.tensor([[1.0, 2.0], [2.0, 4.0]])

CASES = {
    "dot": (torch.dot, (V3, W3), 7),
    "vdot": (torch.vdot, (V3, W3), 7),
    "mv": (torch.mv, (M, torch.randn(4)), 7),
    "outer": (torch.outer, (V3, torch.randn(4)), 7),
    "addmv": (lambda b, m, v: torch.addmv(b, m, v, beta=0.5, alpha=2), (V3, M, torch.randn(4)), 7),
    "addr": (lambda b, x, y: torch.addr(b, x, y, alpha=3), (M, V3, torch.randn(4)), 7),
    "baddbmm": (lambda b, x, y: torch.baddbmm(b, x, y, beta=0), (torch.randn(2, 3, 5), B1, B2), 7),
    "addbmm": (lambda b, x, y: torch.addbmm(b, x, y, beta=2, alpha=0.5), (torch.randn(3, 5), B1, B2), 7),
    "trace": (torch.trace, (M,), 7),
    "trace_int": (torch.trace, (torch.randint(-4, 4, (3, 3)),), 7),
    "cross": (lambda a, b: torch.linalg.cross(a, b), (torch.randn(2, 3), torch.randn(1, 3)), 7),
    "cross_dim0": (lambda a, b: torch.cross(a, b, dim=0), (torch.randn(3, 2), torch.randn(3, 2)), 7),
    "cdist": (torch.cdist, (torch.randn(2, 4, 3), torch.randn(2, 5, 3)), 7),
    "cdist_p1": (lambda a, b: torch.cdist(a, b, p=1.0), (torch.randn(4, 3), torch.randn(5, 3)), 7),
    "det": (torch.linalg.det, (SQ,), 7),
    "det_batched": (torch.linalg.det, (BSQ,), 7),
    "det_pivot": (torch.det, (PIVOT,), 7),
    "det_singular": (torch.linalg.det, (SINGULAR,), 7),
    "inv": (torch.linalg.inv, (SQ,), 7),
    "inv_pivot_batched": (torch.linalg.inv, (torch.stack([PIVOT, PIVOT.t() + torch.eye(3)]),), 7),
    "inv_ex": (torch.linalg.inv_ex, (BSQ + 3 * torch.eye(3),), 7),
    "matrix_power_5": (lambda x: torch.linalg.matrix_power(x, 5), (SQ / 4,), 7),
    "matrix_power_0": (lambda x: torch.linalg.matrix_power(x, 0), (BSQ,), 7),
    "matrix_power_neg": (lambda x: torch.linalg.matrix_power(x, -2), (SQ,), 7),
    "einsum": (lambda a, b: torch.einsum("bij, bjk -> bik", a, b), (B1, B2), 12),
    "einsum_implicit": (lambda a: torch.einsum("ii", a), (SQ,), 12),
    "einsum_ellipsis": (lambda a, b: torch.einsum("...ij,...jk", a, b), (B1, B2), 12),
}


def _params():
    for name, (_, _, lowest) in CASES.items():
        for opset in sorted({lowest, NEWEST}):
            yield pytest.param(name, opset, id=f"{name}-{opset}")


@pytest.mark.parametrize("name,opset", list(_params()))
def test_linalg(check, name, opset):
    fn, inputs, _ = CASES[name]
    check(Fn(fn), inputs, opset=opset, atol=1e-4)


def test_einsum_is_one_node(check):
    result = check(Fn(lambda a, b: torch.einsum("bij,bjk->bik", a, b)), (B1, B2), opset=12)
    assert [n.op_type for n in result.model.graph.node] == ["Einsum"]

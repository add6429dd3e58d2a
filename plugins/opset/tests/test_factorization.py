"""Factorizations and solves: each conversion at the lowest opset it claims (11) and the newest.

Inputs are small and well conditioned (SPD matrices for Cholesky, diagonally dominated ones
for solves), batched and not; some need row swaps, so the pivoting itself is checked.
"""

from __future__ import annotations

import pytest
import torch

from onnxplug.testing import NEWEST_OPSET as NEWEST

from onnxplug.capture import FunctionModule as Fn  # a function as a module, for export

torch.manual_seed(0)
LOWEST = 11


def _spd(*shape):
    x = torch.randn(*shape)
    return x @ x.mT + shape[-1] * torch.eye(shape[-1])


SPD, BSPD = _spd(4, 4), _spd(2, 3, 3)
SQ = torch.randn(4, 4) + 4 * torch.eye(4)
BSQ = torch.randn(2, 3, 3) + 3 * torch.eye(3)
PIVOT = torch.tensor([[0.0, 2.0, 1.0], [1.0, 0.0, 3.0], [4.0, 1.0, 0.0]])  # needs row swaps
NEG = torch.tensor([[0.0, 1.0], [1.0, 0.0]]) * 2  # negative determinant
LOWER = torch.tril(torch.randn(2, 4, 4)) + 3 * torch.eye(4)
UPPER = torch.triu(torch.randn(4, 4)) + 3 * torch.eye(4)
B42, B43 = torch.randn(4, 2), torch.randn(2, 4, 3)
TALL, WIDE = torch.randn(5, 3), torch.randn(2, 3, 5)
RANK2 = torch.randn(4, 2) @ torch.randn(2, 4)
SINGULAR = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 1.0]])  # an exact zero pivot


RA, RTAU = torch.geqrf(TALL)  # Householder reflectors for householder_product and ormqr

CASES = {
    # Cholesky
    "cholesky": (torch.linalg.cholesky, (SPD,)),
    "cholesky_upper_batched": (lambda a: torch.linalg.cholesky(a, upper=True), (BSPD,)),
    "cholesky_legacy": (torch.cholesky, (SPD,)),
    "cholesky_ex": (torch.linalg.cholesky_ex, (BSPD,)),
    "cholesky_ex_not_pd": (torch.linalg.cholesky_ex, (torch.stack([BSPD[0], -BSPD[1]]),)),
    "cholesky_solve": (torch.cholesky_solve, (torch.randn(2, 3, 2), torch.linalg.cholesky(BSPD))),
    "cholesky_solve_upper": (lambda b, u: torch.cholesky_solve(b, u, upper=True),
                             (B42, torch.linalg.cholesky(SPD, upper=True))),
    "cholesky_inverse": (torch.cholesky_inverse, (torch.linalg.cholesky(SPD),)),
    # triangular solves
    "solve_triangular_lower": (lambda a, b: torch.linalg.solve_triangular(a, b, upper=False), (LOWER, B42)),
    "solve_triangular_upper_right": (
        lambda a, b: torch.linalg.solve_triangular(a, b, upper=True, left=False), (UPPER, B42.mT)),
    "solve_triangular_unit": (
        lambda a, b: torch.linalg.solve_triangular(a, b, upper=False, unitriangular=True), (LOWER, B43)),
    "triangular_solve": (lambda b, a: torch.triangular_solve(b, a), (B43, UPPER)),
    "triangular_solve_transpose": (
        lambda b, a: torch.triangular_solve(b, a, upper=False, transpose=True), (B42, LOWER)),
    # general solves
    "solve": (torch.linalg.solve, (SQ, B42)),
    "solve_vector": (torch.linalg.solve, (BSQ, torch.randn(2, 3))),
    "solve_broadcast": (torch.linalg.solve, (BSQ, torch.randn(3, 4))),
    "solve_pivot_right": (lambda a, b: torch.linalg.solve(a, b, left=False), (PIVOT, torch.randn(2, 3))),
    "solve_ex": (torch.linalg.solve_ex, (BSQ, torch.randn(2, 3, 1))),
    # LU
    "lu_factor": (torch.linalg.lu_factor, (PIVOT,)),
    "lu_factor_batched": (torch.linalg.lu_factor, (BSQ,)),
    "lu_factor_ex": (torch.linalg.lu_factor_ex, (torch.stack([PIVOT, torch.zeros(3, 3)]),)),
    "lu_with_info": (lambda a: torch.lu(a, get_infos=True), (SQ,)),
    "lu_tall": (torch.linalg.lu, (TALL,)),
    "lu_wide_batched": (torch.linalg.lu, (WIDE,)),
    "lu_unpack": (lambda lu, p: torch.lu_unpack(lu, p), torch.linalg.lu_factor(torch.randn(2, 4, 4))),
    "lu_solve": (lambda lu, p, b: torch.linalg.lu_solve(lu, p, b), (*torch.linalg.lu_factor(SQ), B42)),
    "lu_solve_adjoint": (lambda lu, p, b: torch.linalg.lu_solve(lu, p, b, adjoint=True),
                         (*torch.linalg.lu_factor(BSQ), torch.randn(3, 2))),
    "lu_solve_right": (lambda lu, p, b: torch.linalg.lu_solve(lu, p, b, left=False),
                       (*torch.linalg.lu_factor(PIVOT), torch.randn(2, 3))),
    "lu_solve_legacy": (lambda b, lu, p: torch.lu_solve(b, lu, p),
                        (torch.randn(2, 3, 4), *torch.linalg.lu_factor(BSQ))),
    # determinants
    "slogdet": (torch.linalg.slogdet, (torch.stack([NEG, NEG + 3 * torch.eye(2)]),)),
    "slogdet_pivot": (torch.linalg.slogdet, (PIVOT,)),
    "logdet": (torch.logdet, (torch.stack([SPD[:2, :2], NEG]),)),
    # QR
    "qr": (torch.linalg.qr, (TALL,)),
    "qr_wide_batched": (torch.linalg.qr, (WIDE,)),
    "qr_complete": (lambda a: torch.linalg.qr(a, mode="complete"), (TALL,)),
    "qr_r": (lambda a: torch.linalg.qr(a, mode="r")[1], (WIDE,)),
    "geqrf": (torch.geqrf, (torch.randn(2, 4, 3),)),
    "householder_product": (torch.linalg.householder_product, (RA, RTAU)),
    "ormqr": (lambda a, t, c: torch.ormqr(a, t, c), (RA, RTAU, torch.randn(5, 2))),
    "ormqr_right_transpose": (lambda a, t, c: torch.ormqr(a, t, c, left=False, transpose=True),
                              (RA, RTAU, torch.randn(2, 5))),
    # others
    "matrix_exp": (torch.linalg.matrix_exp, (SQ / 8,)),
    "matrix_exp_large_batched": (torch.linalg.matrix_exp, (torch.stack([PIVOT * 3, PIVOT / 10]),)),
    "tensorinv": (lambda a: torch.linalg.tensorinv(a, ind=2), (SQ.reshape(2, 2, 2, 2),)),
    "tensorsolve_dims": (lambda a, b: torch.linalg.tensorsolve(a, b, dims=(0,)),
                         (SQ.reshape(2, 2, 4).permute(2, 0, 1).contiguous(), torch.randn(2, 2))),
    # singular values and eigenvalues (iterative Jacobi)
    "svdvals": (torch.linalg.svdvals, (TALL,)),
    "svdvals_wide_batched": (torch.linalg.svdvals, (WIDE,)),
    "matrix_rank": (torch.linalg.matrix_rank, (torch.stack([RANK2, SQ]),)),
    "matrix_rank_tols": (lambda a: torch.linalg.matrix_rank(a, atol=0.5, rtol=0.1), (WIDE,)),
    "matrix_rank_hermitian": (lambda a: torch.linalg.matrix_rank(a, hermitian=True), (SPD,)),
    # the legacy tol= / rcond= overloads, which ordinary calls do not reach (called as ATen ops)
    "matrix_rank_tol": (lambda a: (torch.ops.aten.linalg_matrix_rank.default(a, 0.5),
                                   torch.ops.aten.linalg_matrix_rank.tol_tensor(a, torch.tensor(0.5), True)),
                        (torch.stack([RANK2, SPD]),)),
    "pinv": (torch.linalg.pinv, (TALL,)),
    "pinv_wide_rank_deficient": (torch.linalg.pinv, (torch.stack([RANK2[:3], WIDE[0, :, :4]]),)),
    "pinv_hermitian": (lambda a: torch.linalg.pinv(a, hermitian=True), (BSPD,)),
    "pinverse": (lambda a: torch.pinverse(a, rcond=1e-3), (RANK2,)),
    "pinv_rcond": (lambda a: (torch.ops.aten.linalg_pinv.default(a, 1e-3),
                              torch.ops.aten.linalg_pinv.rcond_tensor(a, torch.tensor([1e-3, 0.2]))),
                   (torch.stack([RANK2, SQ]),)),
    "cond": (torch.linalg.cond, (WIDE,)),
    "cond_fro": (lambda a: torch.linalg.cond(a, "fro"), (BSQ,)),
    "cond_nuc": (lambda a: torch.linalg.cond(a, "nuc"), (SQ,)),
    "cond_1_singular": (lambda a: torch.linalg.cond(a, 1), (torch.stack([PIVOT, SINGULAR]),)),
    "cond_minus_inf": (lambda a: torch.linalg.cond(a, float("-inf")), (SQ,)),
    "eigvalsh": (torch.linalg.eigvalsh, (BSPD - 3 * torch.eye(3),)),
    "eigvalsh_upper": (lambda a: torch.linalg.eigvalsh(a, UPLO="U"), (SQ,)),
}


def _params():
    for name in CASES:
        for opset in (LOWEST, NEWEST):
            yield pytest.param(name, opset, id=f"{name}-{opset}")


@pytest.mark.parametrize("name,opset", list(_params()))
def test_factorization(check, name, opset):
    fn, inputs = CASES[name]
    check(Fn(fn), tuple(inputs), opset=opset, atol=1e-4)


def test_matrix_exp_squares_at_run_time(check):
    """The squaring count comes from the input's norm when the model runs, not at export."""
    small = torch.randn(2, 3, 3) / 10
    big = torch.stack([PIVOT * 4, PIVOT / 5])
    result = check(Fn(torch.linalg.matrix_exp), (small,), opset=17, run_inputs=(big,), rtol=1e-3, atol=1e-3)
    assert "Loop" in [n.op_type for n in result.model.graph.node]


def test_cholesky_reads_one_triangle(check):
    """A non-symmetric input: lower reads the lower triangle, upper the upper one (as LAPACK)."""
    a = SPD + torch.triu(torch.randn(4, 4), 1)
    check(Fn(lambda x: (torch.linalg.cholesky(x), torch.linalg.cholesky(x.mT, upper=True))), (a,),
          opset=17, atol=1e-4)


def test_cholesky_ex_failure_in_a_later_column(check):
    """info and the partial factor LAPACK leaves when a later leading minor is not PD."""
    a = SPD.clone()
    a[2, 2] = -5.0
    check(Fn(torch.linalg.cholesky_ex), (torch.stack([a, SPD]),), opset=17, atol=1e-4)


@pytest.mark.parametrize("fn", [
    lambda a, b: torch.linalg.solve(a, b),
    lambda a, b: torch.cholesky_solve(b, torch.linalg.cholesky(a @ a.mT + 3 * torch.eye(3))),
    lambda a, b: torch.linalg.qr(a)[0] @ b,
    lambda a, b: torch.linalg.pinv(a) @ b,
], ids=["solve", "cholesky_solve", "qr", "pinv"])
def test_dynamic_batch(check, fn):
    """Only the matrix size must be static: the batch dim may change at run time."""
    a, b = BSQ, torch.randn(2, 3, 2)
    run = (torch.randn(4, 3, 3) + 3 * torch.eye(3), torch.randn(4, 3, 2))
    check(Fn(fn), (a, b), opset=17, atol=1e-4, input_names=["a", "b"],
          dynamic_axes={"a": {0: "batch"}, "b": {0: "batch"}}, run_inputs=run)


def test_float64(check):
    a = SQ.double()
    check(Fn(lambda x: (torch.linalg.lu_factor(x), torch.linalg.qr(x), torch.linalg.matrix_exp(x / 4),
                        torch.linalg.eigvalsh(x + x.mT))), (a,), opset=17, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("fn", [torch.linalg.matrix_exp, torch.linalg.slogdet, torch.linalg.cholesky_ex,
                                torch.linalg.svdvals, torch.linalg.lu_factor_ex, torch.linalg.qr],
                         ids=["matrix_exp", "slogdet", "cholesky_ex", "svdvals", "lu_factor_ex", "qr"])
def test_empty_matrices(check, fn):
    """0 x 0 matrices: empty factors, info 0, det 1 (the empty product)."""
    check(Fn(fn), (torch.zeros(2, 0, 0),), opset=17)

"""Special functions composed from standard ops (``opset9/special.py``): Bessel functions,
orthogonal polynomials, Hurwitz zeta, mvlgamma, frexp and nextafter.

Inputs cover every branch (negative, near zero, the switch points of the fits, large values,
+-inf, NaN); each model returns a family at once to keep exports few, at the lowest opset the
conversions claim (9) and the newest.
"""

from __future__ import annotations

import pytest
import torch

from onnxplug.testing import NEWEST_OPSET as NEWEST
from onnxplug.testing.harness import export_and_run

NAN, INF = float("nan"), float("inf")
OPSETS = [9, NEWEST]
sp = torch.special


def _bessel_inputs(dt):
    return torch.tensor([-INF, -30.0, -8.0, -5.0, -4.9, -2.0, -1.0, -1e-3, -0.0, 0.0, 1e-4, 0.3, 1.0,
                         1.99, 2.0, 2.01, 4.99, 5.0, 5.01, 7.5, 12.0, 40.0, 300.0, INF, NAN], dtype=dt)


class Bessel(torch.nn.Module):
    def forward(self, x):
        return (sp.bessel_j0(x), sp.bessel_j1(x), sp.bessel_y0(x), sp.bessel_y1(x),
                sp.modified_bessel_i0(x), sp.modified_bessel_i1(x), sp.modified_bessel_k0(x),
                sp.modified_bessel_k1(x), sp.scaled_modified_bessel_k0(x),
                sp.scaled_modified_bessel_k1(x), sp.spherical_bessel_j0(x))


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("dt", [torch.float32, torch.float64])
def test_bessel(check, opset, dt):
    check(Bessel(), (_bessel_inputs(dt),), opset=opset, rtol=1e-4, atol=1e-6)


def test_bessel_int(check):
    """Integer inputs give float32 results."""
    check(Bessel(), (torch.tensor([-3, 0, 1, 2, 6, 10]),), opset=NEWEST, rtol=1e-4, atol=1e-6)


class Polynomials(torch.nn.Module):
    def forward(self, x, n):
        return (sp.chebyshev_polynomial_t(x, n), sp.chebyshev_polynomial_u(x, n),
                sp.chebyshev_polynomial_v(x, n), sp.chebyshev_polynomial_w(x, n),
                sp.shifted_chebyshev_polynomial_t(x, n), sp.shifted_chebyshev_polynomial_u(x, n),
                sp.shifted_chebyshev_polynomial_v(x, n), sp.shifted_chebyshev_polynomial_w(x, n),
                sp.hermite_polynomial_h(x, n), sp.hermite_polynomial_he(x, n),
                sp.laguerre_polynomial_l(x, n), sp.legendre_polynomial_p(x, n))


class PolynomialsScalarN(torch.nn.Module):
    """``n`` a Python number (the ``.n_scalar`` overloads), beyond any small unrolled bound."""

    def forward(self, x):
        return (sp.chebyshev_polynomial_t(x, 23), sp.hermite_polynomial_he(x, 9),
                sp.legendre_polynomial_p(x, 31), sp.laguerre_polynomial_l(x, 0),
                sp.chebyshev_polynomial_u(x, -2))


@pytest.mark.parametrize("opset", OPSETS)
def test_polynomials(check, opset):
    # every x against every degree: negative, 0, 1, small, and 40 (a long dynamic recurrence).
    # No NaN x: PyTorch's U, W, Legendre and Laguerre kernels return uninitialised memory
    # for it (the export gives NaN).
    x = torch.tensor([-1.0, -0.7, -0.0, 0.3, 0.5, 1.0, 1.1, -1.3]).reshape(-1, 1)
    n = torch.tensor([-1, 0, 1, 2, 5, 12, 40])
    check(Polynomials(), (x, n), opset=opset, rtol=1e-3, atol=1e-4)
    # float degrees are truncated like PyTorch's int64 cast; float64 runs in float64
    check(Polynomials(), (x.double(), torch.tensor([0.0, 2.9, 7.5]).double()), opset=opset)
    check(PolynomialsScalarN(), (x.reshape(-1),), opset=opset, rtol=1e-3, atol=1e-4)


class Zeta(torch.nn.Module):
    def forward(self, x, q):
        return sp.zeta(x, q), sp.zeta(x, 2.5), sp.zeta(3.0, q)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("dt", [torch.float32, torch.float64])
def test_zeta(check, opset, dt):
    # x == 1, x < 1, q a non-positive integer, q negative (extra Loop terms), large x and q
    x = torch.tensor([2.0, 3.0, 1.0, 0.5, 2.5, 4.0, 2.0, 3.0, 30.0, 1.5, NAN, 2.0, 10.0, 2.0], dtype=dt)
    q = torch.tensor([1.0, 0.3, 2.0, 2.0, -1.5, -12.5, -3.0, 20.0, 0.9, 1e-3, 1.0, NAN, 1e4, 0.0], dtype=dt)
    check(Zeta(), (x, q), opset=opset, rtol=1e-4, atol=1e-6)


class Mvlgamma(torch.nn.Module):
    def forward(self, x):
        return torch.mvlgamma(x, 1), torch.mvlgamma(x + 1.0, 3), torch.mvlgamma(x + 2.0, 5)


@pytest.mark.parametrize("opset", OPSETS)
def test_mvlgamma(check, opset):
    x = torch.tensor([0.1, 0.5, 1.0, 2.5, 7.0, 30.0, INF])
    check(Mvlgamma(), (x,), opset=opset, rtol=1e-4, atol=1e-5)


def _assert_bitwise(actual, expected):
    """Equal values (NaN to NaN) and equal signs of zeros: these ops are exact."""
    actual = torch.as_tensor(actual)
    assert actual.dtype == expected.dtype
    assert torch.equal(actual.nan_to_num(7.0), expected.nan_to_num(7.0)), (actual, expected)
    assert torch.equal(torch.signbit(actual), torch.signbit(expected)), (actual, expected)


class Frexp(torch.nn.Module):
    def forward(self, x):
        return torch.frexp(x)


class Nextafter(torch.nn.Module):
    def forward(self, x, y):
        return torch.nextafter(x, y)


def _float_edges(dt):
    fi = torch.finfo(dt)
    tiny_sub = fi.smallest_normal * fi.eps
    vals = [0.0, -0.0, 1.0, -1.0, 0.75, 3.0, -3.0, 0.1, 1.5, 1e30, 2.0 ** 100, fi.max, -fi.max,
            fi.smallest_normal, -fi.smallest_normal, tiny_sub, -tiny_sub, 1e3 * tiny_sub, INF, -INF, NAN]
    gen = torch.Generator().manual_seed(0)
    scale = torch.logspace(-30, 30, 24, dtype=torch.float64)
    rand = torch.randn(24, generator=gen, dtype=torch.float64) * scale
    return torch.cat([torch.tensor(vals, dtype=dt), rand.to(dt)])


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("dt", [torch.float32, torch.float64])
def test_frexp(opset, dt):
    x = _float_edges(dt)
    _, (m, e) = export_and_run(Frexp(), (x,), opset=opset)
    em, ee = torch.frexp(x)
    _assert_bitwise(m, em)
    _assert_bitwise(e, ee)


def test_frexp_half():
    x = torch.tensor([0.0, -0.0, 1.0, -3.0, 6e-8, 65504.0, INF, NAN], dtype=torch.float16)
    _, (m, e) = export_and_run(Frexp(), (x,), opset=NEWEST)
    em, ee = torch.frexp(x)
    _assert_bitwise(m, em)
    _assert_bitwise(e, ee)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("dt", [torch.float32, torch.float64])
def test_nextafter(opset, dt):
    x = _float_edges(dt)
    ys = [torch.full_like(x, INF), torch.full_like(x, -INF), torch.zeros_like(x), -torch.zeros_like(x),
          x.clone(), torch.full_like(x, NAN), x.flip(0)]
    y = torch.stack(ys)
    xs = x.expand_as(y).contiguous()
    _, (out,) = export_and_run(Nextafter(), (xs, y), opset=opset)
    _assert_bitwise(out, torch.nextafter(xs, y))


class IncompleteGamma(torch.nn.Module):
    def forward(self, a, x):
        return torch.igamma(a, x), torch.igammac(a, x), torch.igamma(a, x[:1]), torch.igammac(a[2:3], x)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("dt", [torch.float32, torch.float64])
def test_incomplete_gamma(check, opset, dt):
    # series (x < a + 1) and continued fraction, large a near x, tiny a, and every edge value
    a = torch.tensor([0.5, 1.0, 3.0, 10.0, 25.0, 150.0, 1e3, 1e4, 0.0, 0.0, 2.0, INF, INF, 2.0,
                      -1.0, 2.0, NAN, 1e-3, 0.1, 5.0, 100.0], dtype=dt)
    x = torch.tensor([0.3, 2.0, 3.5, 9.0, 26.0, 140.0, 1010.0, 1e4 + 50, 1.0, 0.0, 0.0, 3.0, INF, INF,
                      1.0, -1.0, 1.0, 0.5, 30.0, 1e-3, 60.0], dtype=dt)
    check(IncompleteGamma(), (a, x), opset=opset, rtol=1e-4, atol=1e-6)


class Airy(torch.nn.Module):
    def forward(self, x):
        return sp.airy_ai(x)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("dt", [torch.float32, torch.float64])
def test_airy_ai(check, opset, dt):
    # the three pieces and their switch points (+-8, 2), decay to underflow, oscillation, +-inf, NaN;
    # float32 stays within |x| <= 30, where the phase of the oscillation still fits float32
    far = 60.0 if dt == torch.float64 else 30.0
    x = torch.cat([torch.linspace(-far, far, 121, dtype=dt),
                   torch.tensor([-8.0, -7.999, 2.0, 2.001, 7.999, 8.0, 110.0, INF, -INF, NAN], dtype=dt)])
    check(Airy(), (x,), opset=opset, rtol=1e-4, atol=1e-6)

"""``torch.special`` functions ONNX lacks, composed from standard ops (``Where``: opset 9).

Bessel functions use Chebyshev fits of their smooth parts (see ``special_helpers``);
orthogonal polynomials run their three-term recurrence in a ``Loop`` whose trip count is
the largest degree, computed at run time; Hurwitz zeta and the incomplete gamma functions
also loop as long as the data needs. Everything is computed in float32 (float64 for float64
results; always float64 for the incomplete gamma) and cast to PyTorch's result dtype.
lgamma, digamma, polygamma, i0/i1(e), erfcx, ndtri and log_ndtr live in ``elementwise``.
"""

from __future__ import annotations

import math

import onnx_ir as ir
import torch

from .. import elementwise_helpers as eh
from .. import special_helpers as sh
from ..elementwise_helpers import c, float_math, op1, op2, out_dtype
from ..helpers import as_value, cast
from ..registration import op


# -- Bessel functions ---------------------------------------------------------------------------------
def _unary(name: str, build, doc: str):
    @op(f"aten::{name}")
    def convert(g, x):
        return float_math(g, x, build(g))
    convert.__name__ = convert.__qualname__ = name
    convert.__doc__ = doc
    return convert


special_bessel_j0 = _unary("special_bessel_j0", lambda g: lambda v, d: sh.bessel_j(g, v, 0),
                           "Bessel J0: even fit in x^2 up to |x| = 5, the Hankel form beyond.")
special_bessel_j1 = _unary("special_bessel_j1", lambda g: lambda v, d: sh.bessel_j(g, v, 1),
                           "Bessel J1: x times a fit in x^2 up to |x| = 5, the Hankel form beyond.")
special_bessel_y0 = _unary("special_bessel_y0", lambda g: lambda v, d: sh.bessel_y(g, v, 0),
                           "Bessel Y0: the log singularity split off near 0, the Hankel form beyond 5.")
special_bessel_y1 = _unary("special_bessel_y1", lambda g: lambda v, d: sh.bessel_y(g, v, 1),
                           "Bessel Y1: the log and 1/x singularities split off near 0, Hankel beyond 5.")
special_modified_bessel_i0 = _unary(
    "special_modified_bessel_i0", lambda g: lambda v, d: eh.bessel(g, v, 0, False),
    "Modified Bessel I0 (the same function as ``torch.i0``).")
special_modified_bessel_i1 = _unary(
    "special_modified_bessel_i1", lambda g: lambda v, d: eh.bessel(g, v, 1, False),
    "Modified Bessel I1 (the same function as ``torch.special.i1``).")


def _k(name: str, order: int, scaled: bool):
    def build(g):
        return lambda v, d: sh.bessel_k(g, v, order, scaled, lambda a: eh.bessel(g, a, order, False))
    return _unary(name, build, f"Modified Bessel K{order}{', times exp(x)' if scaled else ''}: "
                               "log singularity split off up to 2, asymptotic fit beyond.")


special_modified_bessel_k0 = _k("special_modified_bessel_k0", 0, False)
special_modified_bessel_k1 = _k("special_modified_bessel_k1", 1, False)
special_scaled_modified_bessel_k0 = _k("special_scaled_modified_bessel_k0", 0, True)
special_scaled_modified_bessel_k1 = _k("special_scaled_modified_bessel_k1", 1, True)


@op("aten::special_spherical_bessel_j0")
def special_spherical_bessel_j0(g, x):
    """``sin(x)/x``: 1 at 0 and 0 at +-inf, as PyTorch gives."""
    def build(v, d):
        y = op2(g, "Div", op1(g, "Sin", v), v)
        y = eh.where(g, eh.compare(g, "eq", v, c(g, 0.0, d)), c(g, 1.0, d), y, d)
        return eh.where(g, eh.isinf(g, v), c(g, 0.0, d), y, d)
    return float_math(g, x, build)


# -- orthogonal polynomials ------------------------------------------------------------------------------
def _degree(g, n, d: torch.dtype):
    """The degree as a float value of dtype ``d``, truncated to an integer like PyTorch's int64 cast."""
    if not isinstance(n, ir.Value):
        return c(g, float(math.trunc(n)), d)
    if g.dtype(n).is_floating_point:
        n = cast(g, n, torch.int64)
    return cast(g, n, d)


def _polynomial(name: str, first, step, shifted: bool = False):
    keys = [f"aten::{name}", f"aten::{name}.x_scalar", f"aten::{name}.n_scalar"]

    @op(*keys)
    def convert(g, x, n):
        out = out_dtype(g, x, n)
        d = torch.float64 if out == torch.float64 else torch.float32
        xv = as_value(g, x, d)
        if shifted:  # P*(x) = P(2x - 1)
            xv = op2(g, "Sub", op2(g, "Add", xv, xv), c(g, 1.0, d))
        y = sh.polynomial(g, xv, _degree(g, n, d), lambda v: first(g, v, d), step)
        return cast(g, y, out)
    convert.__name__ = convert.__qualname__ = name
    convert.__doc__ = f"``{name}``: its three-term recurrence in a Loop (see ``special_helpers.polynomial``)."
    return convert


def _two_x(g, v):
    return op2(g, "Add", v, v)


def _cheb_step(b, k, x, p, q):
    """``P_{k+1} = 2x P_k - P_{k-1}`` (all four Chebyshev kinds)."""
    return op2(b, "Sub", op2(b, "Mul", _two_x(b, x), q), p)


def _hermite_step(b, k, x, p, q):
    """``H_{k+1} = 2x H_k - 2k H_{k-1}``."""
    return op2(b, "Sub", op2(b, "Mul", _two_x(b, x), q), op2(b, "Mul", _two_x(b, k), p))


def _hermite_e_step(b, k, x, p, q):
    """``He_{k+1} = x He_k - k He_{k-1}``."""
    return op2(b, "Sub", op2(b, "Mul", x, q), op2(b, "Mul", k, p))


def _laguerre_step(b, k, x, p, q):
    """``L_{k+1} = ((2k + 1 - x) L_k - k L_{k-1}) / (k + 1)``."""
    d = b.dtype(x)
    a = op2(b, "Sub", op2(b, "Add", _two_x(b, k), c(b, 1.0, d)), x)
    num = op2(b, "Sub", op2(b, "Mul", a, q), op2(b, "Mul", k, p))
    return op2(b, "Div", num, op2(b, "Add", k, c(b, 1.0, d)))


def _legendre_step(b, k, x, p, q):
    """``P_{k+1} = ((2k + 1) x P_k - k P_{k-1}) / (k + 1)``."""
    d = b.dtype(x)
    a = op2(b, "Add", _two_x(b, k), c(b, 1.0, d))
    num = op2(b, "Sub", op2(b, "Mul", op2(b, "Mul", a, x), q), op2(b, "Mul", k, p))
    return op2(b, "Div", num, op2(b, "Add", k, c(b, 1.0, d)))


def _first(p1):
    """``(P_0, P_1)`` with ``P_0 = 1`` and ``P_1 = p1(g, x, d)``."""
    return lambda g, x, d: (c(g, 1.0, d), p1(g, x, d))


_T1 = _first(lambda g, x, d: x)
_U1 = _first(lambda g, x, d: _two_x(g, x))
_V1 = _first(lambda g, x, d: op2(g, "Sub", _two_x(g, x), c(g, 1.0, d)))
_W1 = _first(lambda g, x, d: op2(g, "Add", _two_x(g, x), c(g, 1.0, d)))
_L1 = _first(lambda g, x, d: op2(g, "Sub", c(g, 1.0, d), x))

special_chebyshev_polynomial_t = _polynomial("special_chebyshev_polynomial_t", _T1, _cheb_step)
special_chebyshev_polynomial_u = _polynomial("special_chebyshev_polynomial_u", _U1, _cheb_step)
special_chebyshev_polynomial_v = _polynomial("special_chebyshev_polynomial_v", _V1, _cheb_step)
special_chebyshev_polynomial_w = _polynomial("special_chebyshev_polynomial_w", _W1, _cheb_step)
special_shifted_chebyshev_polynomial_t = _polynomial("special_shifted_chebyshev_polynomial_t", _T1,
                                                     _cheb_step, shifted=True)
special_shifted_chebyshev_polynomial_u = _polynomial("special_shifted_chebyshev_polynomial_u", _U1,
                                                     _cheb_step, shifted=True)
special_shifted_chebyshev_polynomial_v = _polynomial("special_shifted_chebyshev_polynomial_v", _V1,
                                                     _cheb_step, shifted=True)
special_shifted_chebyshev_polynomial_w = _polynomial("special_shifted_chebyshev_polynomial_w", _W1,
                                                     _cheb_step, shifted=True)
special_hermite_polynomial_h = _polynomial("special_hermite_polynomial_h", _U1, _hermite_step)
special_hermite_polynomial_he = _polynomial("special_hermite_polynomial_he", _T1, _hermite_e_step)
special_laguerre_polynomial_l = _polynomial("special_laguerre_polynomial_l", _L1, _laguerre_step)
special_legendre_polynomial_p = _polynomial("special_legendre_polynomial_p", _T1, _legendre_step)


# -- gamma family -------------------------------------------------------------------------------------
@op("aten::mvlgamma")
def mvlgamma(g, x, p):
    """Multivariate log-gamma: ``sum_i lgamma(x - i/2) + p (p - 1)/4 log(pi)`` for ``i < p``.

    PyTorch raises for ``x <= (p - 1)/2``; an exported graph cannot, and gives the sum there.
    """
    from .elementwise import lgamma  # the element-wise family owns lgamma

    out = out_dtype(g, x)
    xv = as_value(g, x, out)
    total = c(g, p * (p - 1) / 4 * math.log(math.pi), out)
    for i in range(p):
        arg = xv if i == 0 else op2(g, "Sub", xv, c(g, i / 2, out))
        total = op2(g, "Add", total, lgamma(g, arg))
    return total


# -- floating-point representation -----------------------------------------------------------------------
def _ieee_dtype(dt: torch.dtype) -> torch.dtype:
    return torch.float64 if dt == torch.float64 else torch.float32


@op("aten::frexp.Tensor")
def frexp(g, x):
    """Mantissa and int32 exponent (see ``special_helpers.frexp``); half types run in float32."""
    dt = g.dtype(x)
    m, e = sh.frexp(g, cast(g, x, _ieee_dtype(dt)))
    return cast(g, m, dt), g.op("Cast", e, to_i=6)


@op("aten::nextafter")
def nextafter(g, x, y):
    """Float32 and float64 only: the unit in the last place depends on the exact dtype."""
    dt = out_dtype(g, x, y)
    if dt not in (torch.float32, torch.float64):
        raise NotImplementedError(f"nextafter of {dt} is not converted")
    return sh.nextafter(g, as_value(g, x, dt), as_value(g, y, dt))


@op("aten::special_zeta", "aten::special_zeta.self_scalar", "aten::special_zeta.other_scalar")
def special_zeta(g, x, q):
    """Hurwitz zeta ``sum_k (q + k)^-x`` (see ``special_helpers.hurwitz_zeta``)."""
    out = out_dtype(g, x, q)
    d = torch.float64 if out == torch.float64 else torch.float32
    return cast(g, sh.hurwitz_zeta(g, as_value(g, x, d), as_value(g, q, d)), out)


def _incomplete_gamma(name: str, upper: bool):
    @op(f"aten::{name}")
    def convert(g, a, x):
        out = out_dtype(g, a, x)
        d = torch.float64  # the prefactor exp(a log x - x - lgamma(a)) cancels heavily
        return cast(g, sh.incomplete_gamma(g, as_value(g, a, d), as_value(g, x, d), upper), out)
    convert.__name__ = convert.__qualname__ = name
    kind = "upper" if upper else "lower"
    convert.__doc__ = f"Regularized {kind} incomplete gamma (see ``special_helpers.incomplete_gamma``)."
    return convert


igamma = _incomplete_gamma("igamma", False)
igammac = _incomplete_gamma("igammac", True)


special_airy_ai = _unary("special_airy_ai", lambda g: lambda v, d: sh.airy_ai(g, v),
                         "Airy Ai: fits near the origin, the asymptotic series beyond |x| = 8.")

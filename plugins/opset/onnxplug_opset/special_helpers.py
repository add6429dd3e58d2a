"""Maths for the special functions (``torch.special``) that ONNX has no op for.

Bessel functions are evaluated the way Cephes does (a power series near zero, the
Hankel asymptotic form ``sqrt(2/(pi x)) (P cos - Q sin)`` beyond), but the smooth parts
(``P``, ``Q`` and the entire remainders once the ``log`` singularity is split off) are
Chebyshev fits computed once, in float64, from PyTorch itself: no coefficient tables to
copy or mistype, and Clenshaw's recurrence keeps them accurate in float32. Airy Ai adds its
asymptotic series. Iterations whose length depends on the data (polynomial recurrences,
Hurwitz zeta's terms for negative ``q``, the incomplete gamma series and continued fraction)
run in ``Loop``s with run-time trip counts or convergence tests, never a fixed cut-off.
``frexp``/``nextafter`` rebuild the exponent from ``log2`` and correct it exactly.
"""

from __future__ import annotations

import math

import torch

from . import elementwise_helpers as eh
from .elementwise_helpers import c, chebyshev, compare, op1, op2, where
from .helpers import Value

# -- fits -----------------------------------------------------------------------------------------
_FITS: dict[str, tuple] = {}


def _interp(fn, lo: float, hi: float, deg: int):
    """Chebyshev coefficients of ``fn(u)`` for ``u`` in ``[lo, hi]`` (``t = (2u - lo - hi)/(hi - lo)``)."""
    from numpy.polynomial import chebyshev as cheb

    def f(t):
        u = torch.from_numpy((t * (hi - lo) + lo + hi) / 2.0)
        return fn(u).numpy()
    return tuple(float(v) for v in cheb.chebinterpolate(f, deg))


def _hankel(j, y, phase: float):
    """``P(u)`` and ``Q(u)`` (``u = 5/x``) with ``J = sqrt(2/(pi x)) (P cos(x - phase) - Q sin(...))``."""
    def parts(u):
        x = 5.0 / u
        s = torch.sqrt(math.pi * x / 2.0)
        cs, sn = torch.cos(x - phase), torch.sin(x - phase)
        jx, yx = j(x), y(x)
        return s * (jx * cs + yx * sn), s * (yx * cs - jx * sn)
    return parts


def _compute_fits() -> dict[str, tuple]:
    sp = torch.special
    two_pi = 2.0 / math.pi
    j0p = _hankel(sp.bessel_j0, sp.bessel_y0, math.pi / 4)
    j1p = _hankel(sp.bessel_j1, sp.bessel_y1, 3 * math.pi / 4)

    def sq(u):
        return torch.sqrt(u)
    return {
        # |x| <= 5, in u = x^2
        "j0": _interp(lambda u: sp.bessel_j0(sq(u)), 0.0, 25.0, 26),
        "j1": _interp(lambda u: sp.bessel_j1(sq(u)) / sq(u), 0.0, 25.0, 26),
        "y0": _interp(lambda u: sp.bessel_y0(sq(u)) - two_pi * torch.log(sq(u)) * sp.bessel_j0(sq(u)),
                      0.0, 25.0, 26),
        "y1": _interp(lambda u: (sp.bessel_y1(sq(u)) - two_pi * (sp.bessel_j1(sq(u)) * torch.log(sq(u))
                                                                 - 1.0 / sq(u))) / sq(u), 0.0, 25.0, 26),
        # x > 5, in u = 5/x
        "j0p": _interp(lambda u: j0p(u)[0], 0.0, 1.0, 24),
        "j0q": _interp(lambda u: j0p(u)[1], 0.0, 1.0, 24),
        "j1p": _interp(lambda u: j1p(u)[0], 0.0, 1.0, 24),
        "j1q": _interp(lambda u: j1p(u)[1], 0.0, 1.0, 24),
        # x <= 2, in u = x^2: the entire parts of K0 and K1
        "k0": _interp(lambda u: sp.modified_bessel_k0(sq(u))
                      + torch.log(sq(u) / 2) * sp.modified_bessel_i0(sq(u)), 0.0, 4.0, 16),
        "k1": _interp(lambda u: (sp.modified_bessel_k1(sq(u)) - 1.0 / sq(u)
                                 - torch.log(sq(u) / 2) * sp.modified_bessel_i1(sq(u))) / sq(u),
                      0.0, 4.0, 16),
        # x > 2, in u = 2/x: sqrt(x) exp(x) K(x)
        "k0e": _interp(lambda u: sp.scaled_modified_bessel_k0(2.0 / u) * torch.sqrt(2.0 / u), 0.0, 1.0, 24),
        "k1e": _interp(lambda u: sp.scaled_modified_bessel_k1(2.0 / u) * torch.sqrt(2.0 / u), 0.0, 1.0, 24),
        # Airy Ai itself on [-8, 2], and exp(zeta) x^(1/4) Ai(x) on [2, 8] (zeta = 2/3 x^(3/2))
        "ai": _interp(sp.airy_ai, -8.0, 2.0, 48),
        "aie": _interp(lambda x: sp.airy_ai(x) * torch.exp(2.0 / 3.0 * x ** 1.5) * x ** 0.25, 2.0, 8.0, 24),
    }


def fit(name: str) -> tuple:
    if not _FITS:
        with torch.no_grad():
            _FITS.update(_compute_fits())
    return _FITS[name]


def cheb_at(g, u: Value, name: str, lo: float, hi: float) -> Value:
    """The fit ``name`` evaluated at ``u`` (mapped from ``[lo, hi]`` onto ``[-1, 1]``)."""
    dt = g.dtype(u)
    t = op2(g, "Sub", op2(g, "Mul", u, c(g, 2.0 / (hi - lo), dt)), c(g, (lo + hi) / (hi - lo), dt))
    return chebyshev(g, t, fit(name))


# -- Bessel functions of the first and second kind ---------------------------------------------------
def _hankel_form(g, a: Value, order: int) -> Value:
    """``J_order(a)`` for ``a > 5`` (and, with the roles of P and Q swapped, ``Y_order``); returns (J, Y)."""
    dt = g.dtype(a)
    u = op2(g, "Div", c(g, 5.0, dt), a)
    p = cheb_at(g, u, f"j{order}p", 0.0, 1.0)
    q = cheb_at(g, u, f"j{order}q", 0.0, 1.0)
    xn = op2(g, "Sub", a, c(g, (0.25 if order == 0 else 0.75) * math.pi, dt))
    cs, sn = op1(g, "Cos", xn), op1(g, "Sin", xn)
    scale = op1(g, "Sqrt", op2(g, "Div", c(g, 2.0 / math.pi, dt), a))
    j = op2(g, "Mul", scale, op2(g, "Sub", op2(g, "Mul", p, cs), op2(g, "Mul", q, sn)))
    y = op2(g, "Mul", scale, op2(g, "Add", op2(g, "Mul", p, sn), op2(g, "Mul", q, cs)))
    return j, y


def bessel_j(g, x: Value, order: int) -> Value:
    """``J0`` (even) / ``J1`` (odd): fit in ``x^2`` up to 5, the Hankel form beyond (NaN at inf)."""
    dt = g.dtype(x)
    a = op1(g, "Abs", x)
    near = cheb_at(g, op2(g, "Mul", x, x), f"j{order}", 0.0, 25.0)
    far, _ = _hankel_form(g, a, order)
    if order == 1:
        near = op2(g, "Mul", near, x)
        far = op2(g, "Mul", far, op1(g, "Sign", x))
    return where(g, compare(g, "gt", a, c(g, 5.0, dt)), far, near, dt)


def bessel_y(g, x: Value, order: int) -> Value:
    """``Y0``/``Y1``: ``(2/pi) log(x) J(x)`` (and ``-2/(pi x)``) plus a fit, Hankel beyond 5.

    Negative x gives NaN (from the log), zero ``-inf``, like PyTorch.
    """
    dt = g.dtype(x)
    x2 = op2(g, "Mul", x, x)
    rest = cheb_at(g, x2, f"y{order}", 0.0, 25.0)
    jn = cheb_at(g, x2, f"j{order}", 0.0, 25.0)
    log_x = op1(g, "Log", x)
    if order == 0:
        near = op2(g, "Add", rest, op2(g, "Mul", op2(g, "Mul", jn, log_x), c(g, 2.0 / math.pi, dt)))
    else:
        j1 = op2(g, "Mul", jn, x)
        sing = op2(g, "Sub", op2(g, "Mul", j1, log_x), op1(g, "Reciprocal", x))
        near = op2(g, "Add", op2(g, "Mul", rest, x), op2(g, "Mul", sing, c(g, 2.0 / math.pi, dt)))
    _, far = _hankel_form(g, x, order)
    y = where(g, compare(g, "gt", x, c(g, 5.0, dt)), far, near, dt)
    return where(g, compare(g, "eq", x, c(g, 0.0, dt)), c(g, -math.inf, dt), y, dt)


# -- modified Bessel functions of the second kind -------------------------------------------------------
def bessel_k(g, x: Value, order: int, scaled: bool, i_of) -> Value:
    """``K0``/``K1`` (``scaled``: times ``exp(x)``): ``-log(x/2) I(x)`` (``+ 1/x``) plus a fit up
    to 2, ``exp(-x) F(2/x) / sqrt(x)`` beyond; ``i_of(v)`` builds ``I_order(v)``.

    Negative x gives NaN (from the log or the square root), zero ``inf``, ``inf`` zero.
    """
    dt = g.dtype(x)
    rest = cheb_at(g, op2(g, "Mul", x, x), f"k{order}", 0.0, 4.0)
    log_half = op1(g, "Log", op2(g, "Mul", x, c(g, 0.5, dt)))
    if order == 0:
        near = op2(g, "Sub", rest, op2(g, "Mul", log_half, i_of(x)))
    else:
        near = op2(g, "Add", op2(g, "Add", op2(g, "Mul", rest, x), op1(g, "Reciprocal", x)),
                   op2(g, "Mul", log_half, i_of(x)))
    if scaled:
        near = op2(g, "Mul", near, op1(g, "Exp", x))
    fitted = cheb_at(g, op2(g, "Div", c(g, 2.0, dt), x), f"k{order}e", 0.0, 1.0)
    far = op2(g, "Div", fitted, op1(g, "Sqrt", x))
    if not scaled:
        far = op2(g, "Mul", far, op1(g, "Exp", op1(g, "Neg", x)))
    y = where(g, compare(g, "gt", x, c(g, 2.0, dt)), far, near, dt)
    return where(g, compare(g, "eq", x, c(g, 0.0, dt)), c(g, math.inf, dt), y, dt)


# -- orthogonal polynomials ------------------------------------------------------------------------------
def _broadcast_pair(g, x: Value, n: Value) -> tuple[Value, Value]:
    """``x`` and ``n`` expanded to their common shape (Expand broadcasts both ways)."""
    xb = g.op("Expand", x, g.op("Shape", n))
    nb = g.op("Expand", n, g.op("Shape", xb))
    return xb, nb


def polynomial(g, x: Value, n: Value, first, step) -> Value:
    """``P_n(x)`` of a three-term recurrence, for a degree tensor ``n`` of any size.

    ``first(x) -> (P_0, P_1)``; ``step(body, k, x, P_{k-1}, P_k) -> P_{k+1}`` with ``k`` a float
    scalar. A ``Loop`` runs ``max(n) - 1`` times (its trip count is computed at run time,
    so no degree is cut off) and keeps, per element, the value whose index is that
    element's ``n``; negative degrees give 0, as in PyTorch. ``n`` arrives truncated to an
    integer and converted to ``x``'s float dtype.
    """
    dt = g.dtype(x)
    xb, nb = _broadcast_pair(g, x, n)
    p0, p1 = first(xb)
    ones = g.op("Expand", c(g, 1.0, dt), g.op("Shape", xb))
    p0 = op2(g, "Mul", ones, p0)
    p1 = op2(g, "Mul", ones, p1)
    res = where(g, compare(g, "eq", nb, c(g, 1.0, dt)), p1, op2(g, "Mul", ones, c(g, 0.0, dt)), dt)
    res = where(g, compare(g, "eq", nb, c(g, 0.0, dt)), ones, res, dt)
    top = g.op("ReduceMax", nb, keepdims_i=0)
    trips = g.op("Cast", op1(g, "Relu", op2(g, "Sub", top, c(g, 1.0, dt))), to_i=7)

    body = g.subgraph("polynomial_step")
    it = body.add_input("k", torch.int64, [])
    cond = body.add_input("cond", torch.bool, [])
    p = body.add_input("p", dt)
    q = body.add_input("q", dt)
    acc = body.add_input("acc", dt)
    k = body.op("Add", body.op("Cast", it, to_i=_onnx_float(dt)), c(body, 1.0, dt))
    r = step(body, k, xb, p, q)
    acc_out = where(body, compare(body, "eq", nb, body.op("Add", k, c(body, 1.0, dt))), r, acc, dt)
    cond_out = body.op("Identity", cond)
    graph = body.finish(cond_out, q, r, acc_out)
    outs = g.op("Loop", trips, g.constant(True, torch.bool), p0, p1, res, body_g=graph, outputs=3)
    return outs[2]


def _onnx_float(dt: torch.dtype) -> int:
    return 11 if dt == torch.float64 else 1


# -- floating-point decomposition ----------------------------------------------------------------------
def pow2(g, e: Value) -> Value:
    """``2**e`` for an integer-valued float ``e`` as two exact factors, so ``2**128`` or
    ``2**-149`` (whose float32 value overflows or is subnormal) still scales exactly."""
    dt = g.dtype(e)
    half = op1(g, "Floor", op2(g, "Mul", e, c(g, 0.5, dt)))
    two = c(g, 2.0, dt)
    return g.op("Pow", two, half), g.op("Pow", two, op2(g, "Sub", e, half))


def frexp(g, x: Value) -> tuple[Value, Value]:
    """``(m, e)`` with ``x = m 2**e`` and ``0.5 <= |m| < 1``, as floats of ``x``'s dtype.

    ``e`` starts as ``floor(log2|x|) + 1``; one correction step each way absorbs the log's
    rounding at powers of two. Zero, inf and NaN give ``(x, 0)`` like PyTorch.
    """
    dt = g.dtype(x)
    a = op1(g, "Abs", x)
    e = op2(g, "Add", op1(g, "Floor", op2(g, "Div", op1(g, "Log", a), c(g, math.log(2.0), dt))),
            c(g, 1.0, dt))
    special = eh.or_(g, eh.compare(g, "eq", x, c(g, 0.0, dt)),
                     eh.or_(g, eh.isinf(g, x), eh.isnan(g, x)))
    e = where(g, special, c(g, 0.0, dt), e, dt)
    f1, f2 = pow2(g, op1(g, "Neg", e))
    m = op2(g, "Mul", op2(g, "Mul", x, f1), f2)
    for big, factor, shift in (("ge", 0.5, 1.0), ("lt", 2.0, -1.0), ("ge", 0.5, 1.0)):
        am = op1(g, "Abs", m)
        fix = compare(g, big, am, c(g, 1.0 if big == "ge" else 0.5, dt))
        fix = eh.and_(g, fix, eh.not_(g, special))
        m = where(g, fix, op2(g, "Mul", m, c(g, factor, dt)), m, dt)
        e = where(g, fix, op2(g, "Add", e, c(g, shift, dt)), e, dt)
    return m, e


def nextafter(g, x: Value, y: Value) -> Value:
    """The float after ``x`` towards ``y``: ``x`` plus or minus one unit in the last place.

    The unit is ``2**(e - digits)`` from ``frexp`` (halved when stepping towards zero from a
    power of two), at least the smallest subnormal; zero steps to that subnormal with ``y``'s
    sign, an infinity to the largest finite float, and ``x == y`` gives ``y``.
    """
    dt = g.dtype(x)
    fi = torch.finfo(dt)
    digits = 1.0 - math.log2(float(fi.eps))  # significand bits: 24 or 53
    tiny = float(fi.smallest_normal) * float(fi.eps)  # the smallest subnormal
    m, e = frexp(g, x)
    up = compare(g, "lt", x, y)
    towards_zero = g.op("Xor", up, compare(g, "gt", x, c(g, 0.0, dt)))
    at_pow2 = compare(g, "eq", op1(g, "Abs", m), c(g, 0.5, dt))
    shift = where(g, eh.and_(g, towards_zero, at_pow2), c(g, digits + 1.0, dt), c(g, digits, dt), dt)
    f1, f2 = pow2(g, op2(g, "Sub", e, shift))
    ulp = op2(g, "Mul", f1, f2)
    ulp = g.op("Max", ulp, c(g, tiny, dt))
    step = where(g, up, ulp, op1(g, "Neg", ulp), dt)
    out = op2(g, "Add", x, step)
    sign_y = where(g, compare(g, "gt", y, c(g, 0.0, dt)), c(g, tiny, dt), c(g, -tiny, dt), dt)
    out = where(g, compare(g, "eq", x, c(g, 0.0, dt)), sign_y, out, dt)
    out = where(g, eh.isinf(g, x), op2(g, "Mul", op1(g, "Sign", x), c(g, fi.max, dt)), out, dt)
    out = where(g, _differ(g, x, y), out, y, dt)
    # zeros get their sign by arithmetic (x's when stepping off the smallest subnormal, else
    # y's) and stay in Where's false branch: onnxruntime's Where turns a true-branch -0 into
    # +0, and fuses Not into Where by swapping branches (hence Less-or-Greater, not Not(Equal))
    signs = where(g, _differ(g, x, y), _unit_sign(g, x), _unit_sign(g, y), dt)
    out = where(g, _differ(g, out, c(g, 0.0, dt)), out, op2(g, "Mul", signs, c(g, 0.0, dt)), dt)
    return where(g, eh.or_(g, eh.isnan(g, x), eh.isnan(g, y)), op2(g, "Add", x, y), out, dt)


def _differ(g, a: Value, b: Value) -> Value:
    """``a < b or a > b`` (false for NaN)."""
    return eh.or_(g, compare(g, "lt", a, b), compare(g, "gt", a, b))


def _unit_sign(g, v: Value) -> Value:
    """-1 where the sign bit of ``v`` is set (``-0`` included), else 1."""
    dt = g.dtype(v)
    return where(g, eh.signbit(g, v), c(g, -1.0, dt), c(g, 1.0, dt), dt)


# -- Hurwitz zeta ---------------------------------------------------------------------------------------
def _euler_maclaurin_divisors() -> list[float]:
    """``(2j)! / B_2j`` for j = 1..12: the divisors of the Euler-Maclaurin correction terms."""
    from fractions import Fraction

    n = 26
    b = [Fraction(0)] * (n + 1)  # Bernoulli numbers by the Akiyama-Tanigawa algorithm
    a = [Fraction(0)] * (n + 1)
    for m in range(n + 1):
        a[m] = Fraction(1, m + 1)
        for j in range(m, 0, -1):
            a[j - 1] = j * (a[j - 1] - a[j])
        b[m] = a[0]
    return [float(Fraction(math.factorial(2 * j)) / b[2 * j]) for j in range(1, 13)]


def hurwitz_zeta(g, x: Value, q: Value) -> Value:
    """``sum_k (q + k)^-x`` as Cephes computes it: the first terms directly, up to ``q + N``
    past 9 (``N >= 9``), then the Euler-Maclaurin tail with 12 Bernoulli terms.

    Nine direct terms are unrolled; a ``Loop`` adds the ones a negative ``q`` needs (its trip
    count is computed at run time). Domain: ``x == 1`` gives inf, ``x < 1`` NaN, ``q`` a
    non-positive integer inf, and a negative ``q`` with non-integer ``x`` NaN.
    """
    dt = g.dtype(x)
    x, q = _broadcast_pair(g, x, q)
    q, x = _broadcast_pair(g, q, x)
    nx = op1(g, "Neg", x)

    def term(k):
        return g.op("Pow", op2(g, "Add", q, k), nx)
    s = g.op("Pow", q, nx)
    for i in range(1, 10):
        s = op2(g, "Add", s, term(c(g, float(i), dt)))
    nine = c(g, 9.0, dt)
    count = g.op("Max", nine, op2(g, "Add", op1(g, "Floor", op2(g, "Sub", nine, q)), c(g, 1.0, dt)))
    count = where(g, compare(g, "gt", q, c(g, 0.0, dt)), nine, count, dt)
    count = where(g, eh.isnan(g, count), nine, count, dt)
    extra = op1(g, "Relu", op2(g, "Sub", g.op("ReduceMax", count, keepdims_i=0), nine))
    trips = g.op("Cast", extra, to_i=7)

    body = g.subgraph("zeta_terms")
    it = body.add_input("k", torch.int64, [])
    cond = body.add_input("cond", torch.bool, [])
    acc = body.add_input("acc", dt)
    k = body.op("Add", body.op("Cast", it, to_i=_onnx_float(dt)), c(body, 10.0, dt))
    t = body.op("Pow", op2(body, "Add", q, k), nx)
    acc_out = op2(body, "Add", acc, where(body, compare(body, "le", k, count), t, c(body, 0.0, dt), dt))
    graph = body.finish(body.op("Identity", cond), acc_out)
    s = g.op("Loop", trips, g.constant(True, torch.bool), s, body_g=graph)

    w = op2(g, "Add", q, count)
    b = g.op("Pow", w, nx)
    one = c(g, 1.0, dt)
    s = op2(g, "Add", s, op2(g, "Div", op2(g, "Mul", b, w), op2(g, "Sub", x, one)))
    s = op2(g, "Sub", s, op2(g, "Mul", b, c(g, 0.5, dt)))
    ab, kk = b, 0.0  # a * b of Cephes, advanced by one ratio (x + k)/w at a time (no overflow)
    for div in _euler_maclaurin_divisors():
        ab = op2(g, "Mul", ab, op2(g, "Div", op2(g, "Add", x, c(g, kk, dt)), w))
        s = op2(g, "Add", s, op2(g, "Div", ab, c(g, div, dt)))
        ab = op2(g, "Mul", ab, op2(g, "Div", op2(g, "Add", x, c(g, kk + 1.0, dt)), w))
        kk += 2.0

    zero = c(g, 0.0, dt)
    q_int = eh.and_(g, compare(g, "le", q, zero), compare(g, "eq", q, op1(g, "Floor", q)))
    x_frac = eh.not_(g, compare(g, "eq", x, op1(g, "Floor", x)))
    nan, inf = c(g, math.nan, dt), c(g, math.inf, dt)
    s = where(g, eh.and_(g, compare(g, "le", q, zero), x_frac), nan, s, dt)
    s = where(g, q_int, inf, s, dt)
    s = where(g, compare(g, "lt", x, one), nan, s, dt)
    return where(g, compare(g, "eq", x, one), inf, s, dt)


# -- regularized incomplete gamma ------------------------------------------------------------------------
_LANCZOS_G7 = (0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
               -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
               1.5056327351493116e-7)
_IGAMMA_EPS = 1e-15
_IGAMMA_MAX_STEPS = 100000
_FPMIN = 1e-300


def lgamma_positive(g, a: Value) -> Value:
    """``log Gamma(a)`` for ``a > 0``: Lanczos (g = 7, n = 9), accurate to ~1e-15 in float64."""
    dt = g.dtype(a)
    am = op2(g, "Sub", a, c(g, 1.0, dt))
    s = c(g, _LANCZOS_G7[0], dt)
    for i, p in enumerate(_LANCZOS_G7[1:], start=1):
        s = op2(g, "Add", s, op2(g, "Div", c(g, p, dt), op2(g, "Add", am, c(g, float(i), dt))))
    t = op2(g, "Add", am, c(g, 7.5, dt))
    y = op2(g, "Sub", op2(g, "Mul", op2(g, "Add", am, c(g, 0.5, dt)), op1(g, "Log", t)), t)
    return op2(g, "Add", op2(g, "Add", y, c(g, 0.5 * math.log(2 * math.pi), dt)), op1(g, "Log", s))


def _until_converged(g, name: str, state: list[Value], step) -> list[Value]:
    """A ``Loop`` applying ``step(body, state) -> (state, done)`` until ``done`` holds everywhere
    (or a safety cap of ``_IGAMMA_MAX_STEPS`` iterations); returns the final state."""
    body = g.subgraph(name)
    body.add_input("i", torch.int64, [])
    body.add_input("cond", torch.bool, [])
    ins = [body.add_input(f"s{k}", g.dtype(v)) for k, v in enumerate(state)]
    outs, done = step(body, ins)
    pending = body.op("Cast", eh.not_(body, done), to_i=1)
    more = compare(body, "gt", body.op("ReduceMax", pending, keepdims_i=0),
                   c(body, 0.0, torch.float32))
    graph = body.finish(more, *outs)
    res = g.op("Loop", g.constant(_IGAMMA_MAX_STEPS, torch.int64), g.constant(True, torch.bool), *state,
               body_g=graph, outputs=len(state))
    return list(res) if isinstance(res, tuple) else [res]


def _gamma_series(g, a: Value, x: Value) -> Value:
    """``sum_n x^n / ((a+1)...(a+n))`` / a: the series of ``P(a, x) Gamma(a) e^x x^-a``."""
    dt = g.dtype(a)
    first = op1(g, "Reciprocal", a)

    def step(b, s):
        ap, term, total = s
        ap = op2(b, "Add", ap, c(b, 1.0, dt))
        term = op2(b, "Mul", term, op2(b, "Div", x, ap))
        total = op2(b, "Add", total, term)
        tol = op2(b, "Mul", op1(b, "Abs", total), c(b, _IGAMMA_EPS, dt))
        done = compare(b, "le", op1(b, "Abs", term), tol)
        return [ap, term, total], done
    return _until_converged(g, "gamma_series", [a, first, first], step)[2]


def _gamma_fraction(g, a: Value, x: Value) -> Value:
    """The continued fraction of ``Q(a, x) Gamma(a) e^x x^-a`` (modified Lentz), for ``x >= a + 1``."""
    dt = g.dtype(a)
    one = c(g, 1.0, dt)
    b0 = op2(g, "Sub", op2(g, "Add", x, one), a)
    d0 = op1(g, "Reciprocal", b0)
    c0 = op2(g, "Mul", op1(g, "Abs", b0), c(g, 0.0, dt))
    c0 = op2(g, "Add", c0, c(g, 1.0 / _FPMIN, dt))

    def nonzero(b, v):
        return where(b, compare(b, "lt", op1(b, "Abs", v), c(b, _FPMIN, dt)), c(b, _FPMIN, dt), v, dt)

    def step(b, s):
        i, bb, cc, dd, h = s
        i = op2(b, "Add", i, c(b, 1.0, dt))
        an = op2(b, "Mul", op1(b, "Neg", i), op2(b, "Sub", i, a))
        bb = op2(b, "Add", bb, c(b, 2.0, dt))
        dd = op1(b, "Reciprocal", nonzero(b, op2(b, "Add", op2(b, "Mul", an, dd), bb)))
        cc = nonzero(b, op2(b, "Add", bb, op2(b, "Div", an, cc)))
        delta = op2(b, "Mul", dd, cc)
        h = op2(b, "Mul", h, delta)
        done = compare(b, "le", op1(b, "Abs", op2(b, "Sub", delta, c(b, 1.0, dt))), c(b, _IGAMMA_EPS, dt))
        return [i, bb, cc, dd, h], done
    zero = op2(g, "Mul", d0, c(g, 0.0, dt))
    return _until_converged(g, "gamma_fraction", [zero, b0, c0, d0, d0], step)[4]


def incomplete_gamma(g, a: Value, x: Value, upper: bool) -> Value:
    """Regularized ``P(a, x)`` (``upper``: ``Q = 1 - P``), in float64 for any input dtype.

    The series where ``x < a + 1``, the continued fraction elsewhere, each in a ``Loop`` that
    stops once every element has converged; the prefactor ``x^a e^-x / Gamma(a)`` is
    ``exp(a log x - x - lgamma(a))``. Edge values follow PyTorch: NaN for negative arguments,
    ``a == 0`` gives ``P = 1`` (NaN at ``x == 0``), ``x == 0`` gives ``P = 0``, infinite ``a``
    ``P = 0`` (NaN if ``x`` is infinite too) and infinite ``x`` ``P = 1``.
    """
    dt = g.dtype(a)
    a, x = _broadcast_pair(g, a, x)
    x, a = _broadcast_pair(g, x, a)
    zero, one = c(g, 0.0, dt), c(g, 1.0, dt)
    regular = eh.and_(g, eh.and_(g, compare(g, "gt", a, zero), compare(g, "gt", x, zero)),
                      eh.not_(g, eh.or_(g, eh.isinf(g, a), eh.isinf(g, x))))
    use_series = compare(g, "lt", x, op2(g, "Add", a, one))
    # safe stand-ins where an element takes the other method or an edge value: every element converges
    sa = where(g, eh.and_(g, regular, use_series), a, one, dt)
    sx = where(g, eh.and_(g, regular, use_series), x, c(g, 0.5, dt), dt)
    fa = where(g, eh.and_(g, regular, eh.not_(g, use_series)), a, one, dt)
    fx = where(g, eh.and_(g, regular, eh.not_(g, use_series)), x, c(g, 2.0, dt), dt)

    def prefactor(av, xv):
        return op1(g, "Exp", op2(g, "Sub", op2(g, "Sub", op2(g, "Mul", av, op1(g, "Log", xv)), xv),
                                 lgamma_positive(g, av)))
    p_series = op2(g, "Mul", prefactor(sa, sx), _gamma_series(g, sa, sx))
    q_frac = op2(g, "Mul", prefactor(fa, fx), _gamma_fraction(g, fa, fx))
    if upper:
        y = where(g, use_series, op2(g, "Sub", one, p_series), q_frac, dt)
    else:
        y = where(g, use_series, p_series, op2(g, "Sub", one, q_frac), dt)
    lo, hi = (one, zero) if upper else (zero, one)  # values at P = 0 and at P = 1
    nan = c(g, math.nan, dt)
    y = where(g, eh.isinf(g, x), hi, y, dt)
    y = where(g, eh.isinf(g, a), where(g, eh.isinf(g, x), nan, lo, dt), y, dt)
    y = where(g, compare(g, "eq", x, zero), lo, y, dt)
    y = where(g, compare(g, "eq", a, zero), where(g, compare(g, "gt", x, zero), hi, nan, dt), y, dt)
    bad = eh.or_(g, eh.or_(g, compare(g, "lt", a, zero), compare(g, "lt", x, zero)),
                 eh.or_(g, eh.isnan(g, a), eh.isnan(g, x)))
    return where(g, bad, nan, y, dt)


# -- Airy function -----------------------------------------------------------------------------------------
def _airy_u(count: int) -> list[float]:
    """The coefficients ``u_k = (2k+1)(2k+3)...(6k-1) / (216^k k!)`` of Ai's asymptotic series."""
    out = [1.0]
    for k in range(1, count):
        num = 1.0
        for j in range(2 * k + 1, 6 * k, 2):
            num *= j
        out.append(num / (216.0 ** k * math.factorial(k)))
    return out


def _series(g, inv_zeta: Value, coefs: list[float]) -> Value:
    dt = g.dtype(inv_zeta)
    acc = c(g, coefs[-1], dt)
    for k in reversed(coefs[:-1]):
        acc = op2(g, "Add", op2(g, "Mul", acc, inv_zeta), c(g, k, dt))
    return acc


def airy_ai(g, x: Value) -> Value:
    """Airy ``Ai``: a fit on [-8, 2], ``exp(-zeta) x^-1/4`` times a fit on [2, 8], and the
    asymptotic series (``zeta = 2/3 |x|^(3/2) >= 15``, twelve terms) beyond; NaN at +-inf."""
    dt = g.dtype(x)
    a = op1(g, "Abs", x)
    zeta = op2(g, "Mul", op2(g, "Mul", a, op1(g, "Sqrt", a)), c(g, 2.0 / 3.0, dt))
    inv = op1(g, "Reciprocal", zeta)
    quarter = op1(g, "Sqrt", op1(g, "Sqrt", a))
    u = _airy_u(12)
    alt = [v * (-1.0) ** k for k, v in enumerate(u)]
    # x >= 8: exp(-zeta) / (2 sqrt(pi) x^1/4) sum (-1)^k u_k zeta^-k
    decay = op2(g, "Div", op1(g, "Exp", op1(g, "Neg", zeta)),
                op2(g, "Mul", quarter, c(g, 2.0 * math.sqrt(math.pi), dt)))
    right = op2(g, "Mul", decay, _series(g, inv, alt))
    # x <= -8: (sin(zeta + pi/4) sum (-1)^k u_2k zeta^-2k - cos(zeta + pi/4) sum (-1)^k u_2k+1 zeta^-2k-1)
    #          / (sqrt(pi) |x|^1/4)
    inv2 = op2(g, "Mul", inv, inv)
    even = _series(g, inv2, [v * (-1.0) ** k for k, v in enumerate(u[0::2])])
    odd = op2(g, "Mul", _series(g, inv2, [v * (-1.0) ** k for k, v in enumerate(u[1::2])]), inv)
    phase = op2(g, "Add", zeta, c(g, math.pi / 4, dt))
    wave = op2(g, "Sub", op2(g, "Mul", op1(g, "Sin", phase), even), op2(g, "Mul", op1(g, "Cos", phase), odd))
    left = op2(g, "Div", wave, op2(g, "Mul", quarter, c(g, math.sqrt(math.pi), dt)))
    mid = cheb_at(g, x, "ai", -8.0, 2.0)
    near = op2(g, "Div", op2(g, "Mul", cheb_at(g, x, "aie", 2.0, 8.0), op1(g, "Exp", op1(g, "Neg", zeta))),
               quarter)
    y = where(g, compare(g, "gt", x, c(g, 2.0, dt)), near, mid, dt)
    y = where(g, compare(g, "ge", x, c(g, 8.0, dt)), right, y, dt)
    y = where(g, compare(g, "le", x, c(g, -8.0, dt)), left, y, dt)
    return where(g, eh.isinf(g, x), c(g, math.nan, dt), y, dt)

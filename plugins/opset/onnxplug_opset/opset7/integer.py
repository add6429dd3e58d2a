"""Integer number theory (``gcd``, ``lcm``), as of opset 7.

ONNX has no gcd: Euclid's algorithm runs in a ``Loop`` whose body takes one remainder step on
every element at once, until every element is done (or a trip count no input can exceed). The
remainder is ``Mod`` from opset 10 and an exact integer ``Div`` before it
(``elementwise_helpers.fmod``); the operands are non-negative there, so truncation and floor agree.
"""

from __future__ import annotations

import torch

from ..elementwise_helpers import c, compare, fmod, op1, op2
from ..helpers import cast, onnx_type
from ..registration import op


def run_dtype(dt: torch.dtype) -> torch.dtype:
    """The dtype gcd and lcm compute in: int64 for int64, int32 for the narrower ints.

    int32 matches PyTorch's kernels: C++ promotes 8- and 16-bit operands to ``int`` before
    ``a / g * b``, and an int32 product wraps like PyTorch's.
    """
    return torch.int64 if dt == torch.int64 else torch.int32


def euclid_steps(dt: torch.dtype) -> int:
    """An upper bound on Euclid's remainder steps for values of ``dt`` (Lamé: the worst case is
    consecutive Fibonacci numbers, so the count of Fibonacci numbers up to the largest value)."""
    top = torch.iinfo(dt).max
    a, b, n = 1, 2, 1
    while b <= top:
        a, b, n = b, a + b, n + 1
    return n + 1


def _nonzero_any(g, v):
    """Whether any element of the integer ``v`` is non-zero (False for an empty ``v``), as 0-d bool."""
    flags = g.op("Cast", g.op("Cast", v, to_i=onnx_type(torch.bool)),
                 to_i=onnx_type(torch.int64))
    count = g.op("ReduceSum", flags, keepdims_i=0)
    return g.op("Cast", count, to_i=onnx_type(torch.bool))


def gcd_values(g, a, b):
    """``gcd(|a|, |b|)`` element-wise for two integer values of one dtype (int32 or int64).

    The Loop carries ``(a, b)`` starting from ``(|b|, |a|)`` and steps ``(a, b) -> (b mod a, a)``
    where ``a != 0``; a finished element (``a == 0``) holds its gcd in ``b`` and stays put, since
    ``b mod 1 == 0`` and ``0 + b * 1 == b``. The inputs are broadcast to one shape first.
    """
    dt = g.dtype(a)
    zero = c(g, 0, dt)
    a0 = op1(g, "Abs", op2(g, "Add", a, op2(g, "Mul", b, zero)))
    b0 = op1(g, "Abs", op2(g, "Add", b, op2(g, "Mul", a, zero)))

    body = g.subgraph("euclid_step")
    body.add_input("i", torch.int64, [])
    body.add_input("cond", torch.bool, [])
    x = body.add_input("a", dt)
    y = body.add_input("b", dt)
    # constants come from the outer graph: before opset 9 they are initializers, which a
    # subgraph of IR version 3 could only hold as (positional) inputs
    done = body.op("Cast", compare(body, "eq", x, zero), to_i=onnx_type(dt))
    nxt = fmod(body, y, op2(body, "Add", x, done))  # divisor 1 where a == 0: the result is 0
    keep = op2(body, "Add", x, op2(body, "Mul", y, done))  # a, or b where a == 0
    graph = body.finish(_nonzero_any(body, nxt), nxt, keep)

    _, out = g.op("Loop", g.constant(euclid_steps(dt), torch.int64), _nonzero_any(g, b0), b0, a0,
                  body_g=graph, outputs=2)
    return out


def _operands(g, a, b):
    dt = g.out_dtype() or torch.promote_types(g.dtype(a), g.dtype(b))
    run = run_dtype(dt)
    return cast(g, a, run), cast(g, b, run), dt


def _typed(g, v, dt):
    return g.set_type(cast(g, v, dt), shape=g.out_shape())


@op("aten::gcd")
def gcd(g, a, b):
    """``torch.gcd``: the non-negative greatest common divisor, ``gcd(0, 0) == 0``."""
    x, y, dt = _operands(g, a, b)
    return _typed(g, gcd_values(g, x, y), dt)


@op("aten::lcm")
def lcm(g, a, b):
    """``torch.lcm``: ``|a / gcd(a, b) * b|`` as PyTorch computes it (the product wraps in the
    compute dtype), 0 where ``gcd`` is 0; the gcd's zeros become ones so the Div is safe."""
    x, y, dt = _operands(g, a, b)
    run = g.dtype(x)
    d = gcd_values(g, x, y)
    d = op2(g, "Add", d, g.op("Cast", compare(g, "eq", d, c(g, 0, run)), to_i=onnx_type(run)))
    return _typed(g, op1(g, "Abs", op2(g, "Mul", op2(g, "Div", x, d), y)), dt)

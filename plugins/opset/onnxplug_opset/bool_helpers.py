"""Exact bool forms of ops that ONNX or onnxruntime lack for ``tensor(bool)``.

PyTorch's bool arithmetic is logic: ``a * b`` is ``a and b``, ``a + b`` is ``a or b``, ``max``
is ``or`` and ``min`` is ``and`` (a result is True when it is nonzero). ONNX's ``Mul``/``Add``
reject bool, and onnxruntime has no bool kernel for ``Where``, ``TopK``, ``Unique`` or the
max/min reductions of ``ScatterElements``. A conversion that may see bool values uses:

* :func:`select_bool` (what ``shape_helpers.where`` uses for bools): ``Where`` without a bool
  ``Where`` kernel, as ``Or(And(c, a), And(Not(c), b))``: exact at every opset from 7;
* :func:`logical_outer` / :func:`logical_addr`: ``outer``/``ger`` and ``addr`` on bools;
* :func:`from_bool` / :func:`to_bool`: compute on 0/1 numbers and cast back (nonzero -> True),
  which is exact for sums (``or``), products (``and``), max (``or``), min (``and``) and orders.
"""

from __future__ import annotations

from typing import Any

import onnx_ir as ir
import torch

from .forms import unsqueeze
from .helpers import cast

Value = ir.Value
WORK = torch.int32  # bool maths: Add/Mul/MatMul/ReduceMax/ReduceProd take int32 from opset 7


def truthy(v: Any) -> bool:
    """A Python scalar factor (``alpha``, ``beta``) as a bool kernel of PyTorch reads it: nonzero."""
    if isinstance(v, ir.Value):
        raise NotImplementedError("a symbolic alpha/beta for a bool op")
    return bool(v)


def from_bool(g, x: Value, dt: torch.dtype = WORK) -> Value:
    """A bool value as 0/1 numbers of ``dt`` (its shape kept).

    int32 by default; float32 where an op takes only floats at the opset (``Max``/``Min``
    before 12, ``TopK`` before 11).
    """
    return cast(g, x, dt)


def to_bool(g, x: Value) -> Value:
    """Integers (or floats) back to bool: nonzero is True, as PyTorch's cast to bool."""
    return cast(g, x, torch.bool)


def _bool_operand(g, v: Any) -> Value | bool:
    """A select operand as a bool value, or a Python bool for a constant (folded below)."""
    if isinstance(v, ir.Value):
        t = g.const_value(v)
        if t is not None and t.numel() == 1 and g.rank(v) == 0:
            return bool(t.item())
        return cast(g, v, torch.bool)
    return bool(v)


def _and(g, a: Value, b: Value) -> Value:
    return g.op("And", a, b)


def _or(g, a: Value, b: Value) -> Value:
    return g.op("Or", a, b)


def _not(g, a: Value) -> Value:
    return g.op("Not", a)


def select_bool(g, cond: Value, a: Any, b: Any) -> Value:
    """``where(cond, a, b)`` for bool results, without ``Where`` (onnxruntime has no bool kernel).

    ``a``/``b``: bool values (others are cast to bool, nonzero -> True) or Python scalars; the
    result broadcasts ``cond``, ``a`` and ``b`` as ``Where`` would. It is
    ``Or(And(cond, a), And(Not(cond), b))``; a constant operand folds its term away
    (``a`` True: ``Or(cond, b)``; ``b`` False: ``And(cond, a)``; ...). Works at every opset.
    """
    c = cast(g, cond, torch.bool)
    a, b = _bool_operand(g, a), _bool_operand(g, b)
    if isinstance(a, bool) and isinstance(b, bool):
        if a == b:  # a constant of cond's shape
            return _or(g, c, _not(g, c)) if a else _and(g, c, _not(g, c))
        return c if a else _not(g, c)
    if isinstance(a, bool):
        return _or(g, c, b) if a else _and(g, _not(g, c), b)
    if isinstance(b, bool):
        return _or(g, _not(g, c), a) if b else _and(g, c, a)
    return _or(g, _and(g, c, a), _and(g, _not(g, c), b))


def logical_outer(g, x: Value, y: Value) -> Value:
    """``torch.outer``/``ger`` of bool vectors: ``x[:, None] and y[None, :]`` (``Mul`` has no bool)."""
    return _and(g, unsqueeze(g, cast(g, x, torch.bool), [1]), cast(g, y, torch.bool))


def logical_addr(g, bias: Value, x: Value, y: Value, beta: Any = 1, alpha: Any = 1) -> Value:
    """``torch.addr`` on bools, PyTorch's bool kernel: ``(beta and bias) or (alpha and outer(x, y))``.

    ``beta``/``alpha`` are read as bools (nonzero -> True). A false ``beta`` ignores ``bias``
    (its shape still broadcasts into the result, as ``addr`` always has ``bias``'s broadcast
    shape with the outer product); a false ``alpha`` drops the product.
    """
    false = g.constant(False)
    bias_part = cast(g, bias, torch.bool)
    if not truthy(beta):  # all False, but still of bias's shape
        bias_part = _and(g, bias_part, false)
    prod = logical_outer(g, x, y)
    if not truthy(alpha):
        prod = _and(g, prod, false)
    return _or(g, bias_part, prod)

"""Values of FX nodes that are known at export time although the graph computes them.

``torch.export`` keeps small computations that depend on no input at all: transformers builds
an encoder's "attend everywhere" mask as ``arange(197) >= 0``, unsqueezed and expanded to the
dynamic batch. The lowering does not fold factories such as ``arange`` (they stay ``Range``
ops), so a conversion sees an ordinary value. :func:`uniform_value` answers the question a
conversion may ask of such an argument: is every element one value, and which? It evaluates
the argument's producers with PyTorch (exact, tiny tensors) and looks through ops that only
rearrange or broadcast, whose sizes may be dynamic. A conversion can then drop an all-True
attention mask, for example, instead of emitting the work of applying it.
"""

from __future__ import annotations

from typing import Any

import torch

aten = torch.ops.aten

# Ops whose output holds only values of their first input (any sizes: they may be dynamic).
REARRANGING = frozenset({
    aten.expand.default, aten.view.default, aten.reshape.default, aten._unsafe_view.default,
    aten.unsqueeze.default, aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default,
    aten.permute.default, aten.transpose.int, aten.t.default, aten.clone.default,
    aten.alias.default, aten.contiguous.default, aten.repeat.default, aten.slice.Tensor,
    aten.select.int, aten.broadcast_to.default,
})
LIMIT = 1 << 16  # elements: evaluating bigger constants is the runtime's job
_MISSING = object()


def uniform_value(arg: Any, cache: dict | None = None) -> bool | int | float | None:
    """The one value every element of FX argument ``arg`` has, when that is known at export
    time; None when it is not known, not uniform, empty, or NaN."""
    cache = {} if cache is None else cache
    while isinstance(arg, torch.fx.Node) and arg.op == "call_function" and arg.target in REARRANGING:
        arg = arg.args[0]
    t = static_value(arg, cache)
    if not isinstance(t, torch.Tensor) or t.numel() == 0:
        return None
    first = t.reshape(-1)[0]
    if bool(torch.isnan(first)) if first.is_floating_point() else False:
        return None
    return first.item() if bool((t == first).all()) else None


def static_value(arg: Any, cache: dict) -> Any:
    """``arg`` computed with PyTorch from the FX graph alone, or None when it depends on an
    input, a parameter, a symbolic size or randomness, or grows past :data:`LIMIT` elements."""
    if isinstance(arg, dict):
        items = static_value(list(arg.values()), cache)
        return None if items is None else dict(zip(arg, items))
    if isinstance(arg, (list, tuple)):
        parts = [static_value(a, cache) for a in arg]
        return None if any(p is None and a is not None for p, a in zip(parts, arg)) else type(arg)(parts)
    if not isinstance(arg, torch.fx.Node):
        return None if isinstance(arg, torch.SymInt | torch.SymFloat | torch.SymBool) else arg
    hit = cache.get(arg, _MISSING)
    if hit is not _MISSING:
        return hit
    cache[arg] = None  # until computed (and for cycles, which FX graphs do not have)
    target = arg.target
    if (arg.op != "call_function" or not isinstance(target, torch._ops.OpOverload)
            or target._schema.is_mutable or torch.Tag.nondeterministic_seeded in target.tags):
        return None
    val = arg.meta.get("val")
    if not isinstance(val, torch.Tensor) or not isinstance(val.numel(), int) or val.numel() > LIMIT:
        return None
    args, kwargs = static_value(list(arg.args), cache), static_value(dict(arg.kwargs), cache)
    if args is None or kwargs is None:
        return None
    with torch.no_grad():
        cache[arg] = target(*args, **kwargs)
    return cache[arg]

"""``dynamic_axes`` (names of inputs) -> ``torch.export`` dynamic shapes.

The reference exporter names dynamic axes by graph input name; ``torch.export`` wants a spec
per argument of ``forward``. Inputs are the tensor leaves of ``(args, kwargs)`` in order, the
same order ``input_names`` names them. One dimension name used on several inputs becomes one
``torch.export.Dim``, so those sizes are equal in the exported graph.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import torch
from torch.utils import _pytree as pytree

from .errors import OptionError
from .options import ExportOptions


def tensor_leaves(args: tuple, kwargs: dict) -> list[torch.Tensor]:
    return [x for x in pytree.tree_leaves((args, kwargs)) if isinstance(x, torch.Tensor)]


def _dim(name: str, dims: dict[str, Any]) -> Any:
    if name not in dims:
        ident = re.sub(r"\W", "_", name)
        if not ident or ident[0].isdigit():
            ident = "d_" + ident
        dims[name] = torch.export.Dim(ident)
    return dims[name]


def dynamic_shapes_from_axes(model: Any, args: tuple, kwargs: dict, options: ExportOptions) -> Any:
    """The ``dynamic_shapes=`` argument of ``torch.export.export`` for ``options.dynamic_axes``."""
    if not options.dynamic_axes:
        return options.dynamic_shapes
    names = options.input_names
    leaves, spec = pytree.tree_flatten((args, kwargs))
    dims: dict[str, Any] = {}
    per_leaf: list[Any] = []
    tensor_index = 0
    for leaf in leaves:
        if not isinstance(leaf, torch.Tensor):
            per_leaf.append(None)
            continue
        name = names[tensor_index] if tensor_index < len(names) else None
        tensor_index += 1
        axes = options.dynamic_axes.get(name) if name else None
        if not axes:
            per_leaf.append(None)
            continue
        shape_spec = {}
        for axis, dim_name in axes.items():
            if not -leaf.dim() <= axis < leaf.dim():
                raise OptionError(
                    f"dynamic_axes[{name!r}] names axis {axis}, but that input has "
                    f"{leaf.dim()} dimension(s) (shape {tuple(leaf.shape)}). Use an axis from "
                    f"{-leaf.dim()} to {leaf.dim() - 1}."
                )
            shape_spec[axis % leaf.dim()] = _dim(dim_name, dims)
        per_leaf.append(shape_spec)
    s_args, s_kwargs = pytree.tree_unflatten(per_leaf, spec)
    forward = model.forward if isinstance(model, torch.nn.Module) else model
    try:
        signature = inspect.signature(forward)
    except (TypeError, ValueError):
        return tuple(s_args) + tuple(s_kwargs.values())
    # bound arguments map *args to a tuple and **kwargs to a dict, as torch.export expects
    return dict(signature.bind(*s_args, **s_kwargs).arguments)


def axis_names(model: Any, args: tuple, kwargs: dict, options: ExportOptions) -> list[dict[int, str]]:
    """For each tensor input (in order), ``{axis: dim_param name}`` of its dynamic axes."""
    leaves = tensor_leaves(args, kwargs)
    if options.dynamic_axes:
        names = options.input_names
        return [{a % max(t.dim(), 1): n for a, n in options.dynamic_axes.get(names[i], {}).items()}
                if i < len(names) else {} for i, t in enumerate(leaves)]
    spec = options.dynamic_shapes
    if spec is None:
        return [{} for _ in leaves]
    if isinstance(spec, dict) and not isinstance(model, torch.export.ExportedProgram):
        forward = model.forward if isinstance(model, torch.nn.Module) else model
        try:
            bound = inspect.signature(forward).bind(*args, **kwargs).arguments
            values = [bound[k] for k in bound]
            spec = [spec.get(k) for k in bound]
        except (TypeError, ValueError):
            return [{} for _ in leaves]
    else:
        values = list(args) + list(kwargs.values())
    out: list[dict[int, str]] = []
    _walk(values, spec, out)
    return out if len(out) == len(leaves) else [{} for _ in leaves]


def _walk(value: Any, spec: Any, out: list[dict[int, str]]) -> None:
    if isinstance(value, torch.Tensor):
        items = spec.items() if isinstance(spec, dict) else enumerate(spec or ())
        out.append({a: d.__name__ for a, d in items if isinstance(getattr(d, "__name__", None), str)})
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _walk(v, spec[i] if isinstance(spec, (list, tuple)) and i < len(spec) else None, out)
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(v, spec.get(k) if isinstance(spec, dict) else None, out)

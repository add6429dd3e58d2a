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
                    f"{leaf.dim()} dimension(s) (shape {tuple(leaf.shape)})."
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

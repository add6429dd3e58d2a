"""``dynamic_axes`` (names of inputs) -> ``torch.export`` dynamic shapes.

The reference exporter names dynamic axes by graph input name; ``torch.export`` wants a spec
per argument of ``forward``. Inputs are the tensor leaves of ``(args, kwargs)`` in order, the
same order ``input_names`` names them.

``dynamic_axes`` means "this axis may vary", as in the reference exporter, so the model's own
limits on it (a position table's length, a patch size) are accepted rather than reported as the
user's mistake: every axis becomes ``Dim.DYNAMIC``, so torch.export infers its range and its
relations to other axes in one attempt. One dimension name used on several inputs still means one
size: those inputs get the same ``dim_param``, and equal example sizes are required. (Named
``Dim`` objects, which ``dynamic_shapes`` may pass, are refined from torch.export's suggested
fixes by capture instead.) An example size of 1 would be specialised by torch.export, so capture sees
such inputs doubled along that axis (:func:`grow_examples`); the graph is still checked at the
user's own example.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch.utils import _pytree as pytree

from .caches import tree_children
from .errors import OptionError
from .options import ExportOptions


def tensor_leaves(args: tuple, kwargs: dict) -> list[torch.Tensor]:
    return [x for x in pytree.tree_leaves((args, kwargs)) if isinstance(x, torch.Tensor)]




def dynamic_shapes_from_axes(model: Any, args: tuple, kwargs: dict, options: ExportOptions) -> Any:
    """The ``dynamic_shapes=`` argument of ``torch.export.export`` for ``options.dynamic_axes``."""
    if not options.dynamic_axes:
        return options.dynamic_shapes
    names = options.input_names
    leaves, spec = pytree.tree_flatten((args, kwargs))
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
        for axis in axes:
            if not -leaf.dim() <= axis < leaf.dim():
                raise OptionError(
                    f"dynamic_axes[{name!r}] names axis {axis}, but that input has "
                    f"{leaf.dim()} dimension(s) (shape {tuple(leaf.shape)}). Use an axis from "
                    f"{-leaf.dim()} to {leaf.dim() - 1}."
                )
            shape_spec[axis % leaf.dim()] = torch.export.Dim.DYNAMIC
        per_leaf.append(shape_spec)
    s_args, s_kwargs = _spec_tree(spec, iter(per_leaf))
    forward = model.forward if isinstance(model, torch.nn.Module) else model
    try:
        signature = inspect.signature(forward)
    except (TypeError, ValueError):
        return tuple(s_args) + tuple(s_kwargs.values())
    # bound arguments map *args to a tuple and **kwargs to a dict, as torch.export expects
    return dict(signature.bind(*s_args, **s_kwargs).arguments)


def _spec_tree(spec: pytree.TreeSpec, leaf_specs: Any) -> Any:
    """The ``dynamic_shapes`` structure torch.export expects for a value of tree ``spec``: the
    same tuples, lists and dicts, and a list of the children's specs for any other pytree node
    (a decoder cache, a dataclass)."""
    if spec.is_leaf():
        return next(leaf_specs)
    children = [_spec_tree(c, leaf_specs) for c in tree_children(spec)]
    if spec.type in (tuple, list):
        return spec.type(children)
    if spec.type is dict:
        return dict(zip(spec.context, children))
    return children


def axis_names(model: Any, args: tuple, kwargs: dict, options: ExportOptions) -> list[dict[int, str]]:
    """For each tensor input (in order), ``{axis: dim_param name}`` of its named dynamic axes."""
    return [{a: n for a, n in axes.items() if n is not None}
            for axes in dynamic_leaf_axes(model, args, kwargs, options)]


def dynamic_leaf_axes(model: Any, args: tuple, kwargs: dict,
                      options: ExportOptions) -> list[dict[int, str | None]]:
    """For each tensor input (in order), ``{axis: name}`` of every axis marked dynamic; the name
    is None for ``Dim.AUTO``/``Dim.DYNAMIC`` in ``dynamic_shapes``."""
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
        out.append({a: d.__name__ if isinstance(getattr(d, "__name__", None), str) else None
                    for a, d in items if _is_dynamic(d)})
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _walk(v, spec[i] if isinstance(spec, (list, tuple)) and i < len(spec) else None, out)
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(v, spec.get(k) if isinstance(spec, dict) else None, out)


def _is_dynamic(d: Any) -> bool:
    """A ``dynamic_shapes`` entry that lets the axis vary (a Dim or Dim.AUTO/DYNAMIC)."""
    if isinstance(d, torch.export.Dim):
        return True
    hint = getattr(torch.export.dynamic_shapes, "_DimHint", None)
    return hint is not None and isinstance(d, hint) and d != torch.export.Dim.STATIC


def input_labels(options: ExportOptions, n: int) -> list[str]:
    """How errors name the ``n`` tensor inputs: their ``input_names``, else ``input i``."""
    names = list(options.input_names)
    return [names[i] if i < len(names) else f"input {i}" for i in range(n)]


def grow_examples(args: tuple, kwargs: dict, axes: list[dict[int, str | None]],
                  labels: list[str]) -> tuple[tuple, dict]:
    """The example inputs capture should see: every tensor doubled along each dynamic axis whose
    example size is 1 (torch.export specialises sizes 0 and 1; values do not matter to capture).

    Raises :class:`OptionError` for an example size of 0 on a dynamic axis, and for one
    dimension name given different example sizes.
    """
    leaves, spec = pytree.tree_flatten((args, kwargs))
    sizes: dict[str, tuple[int, str]] = {}
    out, k = [], 0
    for leaf in leaves:
        if not isinstance(leaf, torch.Tensor):
            out.append(leaf)
            continue
        leaf_axes, label = (axes[k] if k < len(axes) else {}), labels[k]
        k += 1
        for axis, name in sorted(leaf_axes.items()):
            size = leaf.shape[axis]
            where = f"axis {axis} of {label!r}" + (f" (dynamic name {name!r})" if name else "")
            if size == 0:
                raise OptionError(
                    f"{where} is marked dynamic but its example size is 0: torch.export cannot "
                    "keep an empty axis symbolic. Give an example of size 2 or more on that axis.")
            if name is not None:
                seen = sizes.setdefault(name, (size, where))
                if seen[0] != size:
                    raise OptionError(
                        f"dynamic axis name {name!r} means one size, but {seen[1]} has example size "
                        f"{seen[0]} and {where} has {size}. Use equal example sizes, or different "
                        "names for axes that may differ.")
            if size == 1:
                leaf = torch.cat([leaf, leaf], dim=axis)
        out.append(leaf)
    g_args, g_kwargs = pytree.tree_unflatten(out, spec)
    return tuple(g_args), dict(g_kwargs)


def second_sizes(ep: torch.export.ExportedProgram, args: tuple, kwargs: dict,
                 axes: list[dict[int, str | None]]) -> dict[tuple[int, int], tuple[int, str]]:
    """A second size for every dynamic axis, within the range torch.export inferred:
    ``{(tensor input index, axis): (size, label)}``. One name gets one size.

    Twice the example size (which keeps any divisibility the model needs, such as a patch or
    window size), else the size plus one, else minus one, whichever the range admits first.
    """
    from .guards import user_input_values

    ranges = ep.range_constraints
    vals = user_input_values(ep)
    leaves = tensor_leaves(args, kwargs)
    chosen: dict[Any, int] = {}
    out: dict[tuple[int, int], tuple[int, str]] = {}
    for i, (leaf, leaf_axes) in enumerate(zip(leaves, axes)):
        for axis, name in leaf_axes.items():
            axis %= max(leaf.dim(), 1)
            size = int(leaf.shape[axis])
            key = name if name is not None else (i, axis)
            if key not in chosen:
                upper = None
                if i < len(vals) and isinstance(vals[i].shape[axis], torch.SymInt):
                    vr = ranges.get(vals[i].shape[axis].node.expr)
                    if vr is not None and str(vr.upper) not in ("oo", "int_oo"):
                        upper = int(vr.upper)
                fits = [c for c in (2 * size, size + 1, size - 1)
                        if c >= 1 and (upper is None or c <= upper)]
                chosen[key] = fits[0] if fits else size
            label = f"{name}={chosen[key]}" if name else f"axis {axis} of input {i} = {chosen[key]}"
            out[(i, axis)] = (chosen[key], label)
    return out


def resized_inputs(args: tuple, kwargs: dict,
                   sizes: dict[tuple[int, int], tuple[int, str]]) -> tuple[tuple, dict]:
    """The example inputs at other sizes: each resized axis takes the example's own slices in
    turn (index ``j % old``), so token ids, masks and value ranges stay those of the example."""
    leaves, spec = pytree.tree_flatten((args, kwargs))
    out, k = [], 0
    for leaf in leaves:
        if isinstance(leaf, torch.Tensor):
            for (i, axis), (size, _) in sizes.items():
                if i == k and leaf.shape[axis] != size:
                    index = torch.arange(size) % max(int(leaf.shape[axis]), 1)
                    leaf = leaf.index_select(axis, index.to(leaf.device))
            k += 1
        out.append(leaf)
    new_args, new_kwargs = pytree.tree_unflatten(out, spec)
    return tuple(new_args), dict(new_kwargs)

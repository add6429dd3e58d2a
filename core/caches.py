"""Decoder caches (transformers' ``DynamicCache``, ``EncoderDecoderCache``) as inputs and outputs.

torch.export only accepts containers it can flatten. A transformers cache is a list of layer
objects holding ``keys`` and ``values`` tensors, so :func:`cache_pytrees` registers each cache
class as a pytree node for the duration of one export (scoped: registered on entry, removed on
exit, reference-counted across threads), and leaves a registration someone else made alone.

A cache flattens to its tensors, layer by layer, named ``0.key``, ``0.value``, ``1.key``...
(``0.decoder.key``, ``0.encoder.key``... for an encoder-decoder cache). The graph's inputs are
then named ``past_key_values.0.key`` and its outputs ``present.0.key`` unless the user names
them: :func:`default_input_names` and :func:`default_output_names` make those names.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import sys
import threading
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils import _pytree as pytree

INPUT_PREFIX = "past_key_values"
OUTPUT_PREFIX = "present"
_TENSORS = ("keys", "values")
_LOCK = threading.Lock()
_USERS: dict[type, int] = {}


def _layer_slots(layer: Any) -> list[str]:
    """The tensor attributes of one cache layer, keys and values first. Private ones (a sliding
    layer's ``_sliding_window_tensor``) are the layer's settings and stay with it."""
    extra = sorted(k for k, v in vars(layer).items()
                   if isinstance(v, torch.Tensor) and k not in _TENSORS and not k.startswith("_"))
    return [k for k in _TENSORS if isinstance(getattr(layer, k, None), torch.Tensor)] + extra


def _slot_name(index: int, attr: str, part: str = "") -> str:
    short = {"keys": "key", "values": "value"}.get(attr, attr)
    return f"{index}.{part + '.' if part else ''}{short}"


def _flatten_cache(cache: Any) -> tuple[list[torch.Tensor], Any]:
    slots = [[(i, attr) for attr in _layer_slots(layer)] for i, layer in enumerate(cache.layers)]
    flat = [(i, a) for layer in slots for i, a in layer]
    leaves = [getattr(cache.layers[i], a) for i, a in flat]
    skeleton = copy.copy(cache)
    skeleton.layers = [copy.copy(layer) for layer in cache.layers]
    for i, a in flat:
        setattr(skeleton.layers[i], a, None)
    return leaves, _Context(skeleton, tuple(flat), tuple(_slot_name(i, a) for i, a in flat))


def _unflatten_cache(leaves: Any, context: "_Context") -> Any:
    cache = copy.copy(context.skeleton)
    cache.layers = [copy.copy(layer) for layer in context.skeleton.layers]
    for (i, attr), value in zip(context.slots, leaves):
        setattr(cache.layers[i], attr, value)
    held = _global_length(cache.layers)
    for layer in cache.layers:
        _follow_length(layer, held)
    return cache


def _global_length(layers: list[Any]) -> Any:
    """The tokens a global (not sliding-window) layer holds, which every layer has seen; None
    where all layers slide (Mistral) or none holds tensors."""
    for layer in layers:
        keys = getattr(layer, "keys", None)
        if getattr(layer, "sliding_window", None) is None and isinstance(keys, torch.Tensor) \
                and keys.dim() >= 2:
            return keys.shape[-2]
    return None


def _follow_length(layer: Any, held: Any = None) -> None:
    """A sliding-window layer counts the tokens it has seen in ``cumulative_length``, a Python
    int: left at the example's count it would fix the past length (and, once the window is
    full, the positions). Where the cache has a global layer (Gemma 2/3), that layer's length
    is the count, full window or not; otherwise, until the window is full, the count is the
    length of the layer's own keys. Either is a symbol while capturing."""
    keys, seen = getattr(layer, "keys", None), getattr(layer, "cumulative_length", None)
    window = getattr(layer, "sliding_window", None)
    if not (isinstance(keys, torch.Tensor) and isinstance(seen, int) and keys.dim() >= 2
            and isinstance(window, int)):
        return
    if held is not None:
        layer.cumulative_length = held
    elif seen < window:
        layer.cumulative_length = keys.shape[-2]


def _flatten_encoder_decoder(cache: Any) -> tuple[list[torch.Tensor], Any]:
    """Layer by layer: the decoder's (self-attention) tensors, then the encoder's (cross)."""
    parts = [("decoder", *_flatten_cache(cache.self_attention_cache)),
             ("encoder", *_flatten_cache(cache.cross_attention_cache))]
    order = sorted((ctx.slots[j][0], p, j)
                   for p, (_, _, ctx) in enumerate(parts) for j in range(len(ctx.slots)))
    leaves = [parts[p][1][j] for _, p, j in order]
    names = tuple(_slot_name(parts[p][2].slots[j][0], parts[p][2].slots[j][1], parts[p][0])
                  for _, p, j in order)
    skeleton = copy.copy(cache)
    return leaves, _Context(skeleton, tuple((p, j) for _, p, j in order), names,
                            parts=tuple(x[2] for x in parts))


def _unflatten_encoder_decoder(leaves: Any, context: "_Context") -> Any:
    per_part: list[list[Any]] = [[None] * len(c.slots) for c in context.parts]
    for (p, j), value in zip(context.slots, leaves):
        per_part[p][j] = value
    cache = copy.copy(context.skeleton)
    cache.self_attention_cache = _unflatten_cache(per_part[0], context.parts[0])
    cache.cross_attention_cache = _unflatten_cache(per_part[1], context.parts[1])
    return cache


class _Context:
    """What a flattened cache needs to be rebuilt: its tensor-free skeleton and the slots."""

    def __init__(self, skeleton: Any, slots: tuple, names: tuple[str, ...], parts: tuple = ()):
        self.skeleton, self.slots, self.names, self.parts = skeleton, slots, names, parts

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Context) and type(self.skeleton) is type(other.skeleton) \
            and self.names == other.names

    def __hash__(self) -> int:
        return hash((type(self.skeleton), self.names))

    def __repr__(self) -> str:
        return f"{type(self.skeleton).__name__}{list(self.names)}"


def _with_keys(flatten):
    def flatten_with_keys(cache: Any):
        leaves, context = flatten(cache)
        return [(pytree.MappingKey(n), leaf) for n, leaf in zip(context.names, leaves)], context

    return flatten_with_keys


def _cache_classes() -> list[tuple[type, Any, Any]]:
    if "transformers" not in sys.modules:
        return []
    try:
        from transformers import cache_utils
    except Exception:  # noqa: BLE001 - a broken transformers install is not our export's problem
        return []
    out = []
    encdec = getattr(cache_utils, "EncoderDecoderCache", None)
    if encdec is not None:
        out.append((encdec, _flatten_encoder_decoder, _unflatten_encoder_decoder))
    for name in ("DynamicCache", "StaticCache"):
        cls = getattr(cache_utils, name, None)
        if cls is not None:
            out += [(c, _flatten_cache, _unflatten_cache) for c in [cls, *_subclasses(cls)]]
    return out


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


@contextlib.contextmanager
def cache_pytrees() -> Iterator[None]:
    """Register transformers' cache classes as pytree nodes while the block runs."""
    mine = []
    with _LOCK:
        for cls, flatten, unflatten in _cache_classes():
            if _USERS.get(cls):
                _USERS[cls] += 1
                mine.append(cls)
            elif cls not in pytree.SUPPORTED_NODES:
                pytree.register_pytree_node(
                    cls, flatten, unflatten, flatten_with_keys_fn=_with_keys(flatten),
                    serialized_type_name=f"onnxplug.{cls.__module__}.{cls.__qualname__}")
                _USERS[cls] = 1
                mine.append(cls)
    try:
        yield
    finally:
        with _LOCK:
            for cls in mine:
                _USERS[cls] -= 1
                if not _USERS[cls]:
                    del _USERS[cls]
                    pytree._deregister_pytree_node(cls)


def is_cache(value: Any) -> bool:
    return type(value) in _USERS


def _path_name(path: tuple, cache_prefix: str, value: Any, root: str) -> str:
    """The dotted name of the leaf at ``path`` inside ``value`` (the argument ``root``); a
    path through a cache restarts at ``cache_prefix``."""
    parts, node = [root], value
    for key in path:
        if is_cache(node):
            parts, node = [cache_prefix, str(getattr(key, "key", key))], None
            continue
        if isinstance(key, pytree.MappingKey):
            parts.append(str(key.key))
            node = node.get(key.key) if isinstance(node, dict) else None
        elif isinstance(key, pytree.SequenceKey):
            parts.append(str(key.idx))
            node = node[key.idx] if isinstance(node, (list, tuple)) else None
        elif isinstance(key, pytree.GetAttrKey):
            parts.append(key.name)
            node = getattr(node, key.name, None)
        else:
            parts.append(str(key))
            node = None
    if is_cache(value) and len(path) == 1:
        parts = [cache_prefix, str(getattr(path[0], "key", path[0]))]
    return ".".join(parts)


def _parameters(model: Any) -> list[inspect.Parameter] | None:
    forward = model.forward if isinstance(model, torch.nn.Module) else model
    try:
        return list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):
        return None


def renamed_cache_kwargs(model: Any, kwargs: dict) -> dict:
    """``kwargs`` with ``past_key_values=`` renamed to ``cache=`` where ``forward`` only takes the
    new name (transformers 5 renamed the argument and keeps the old one as a deprecated
    ``**kwargs`` alias, which torch.export cannot match against dynamic shapes)."""
    params = {p.name for p in _parameters(model) or ()}
    if INPUT_PREFIX in kwargs and INPUT_PREFIX not in params and "cache" in params \
            and "cache" not in kwargs:
        return {("cache" if k == INPUT_PREFIX else k): v for k, v in kwargs.items()}
    return kwargs


def default_input_names(model: Any, args: tuple, kwargs: dict) -> list[str]:
    """For each tensor input, in order, its name from the argument path: ``input_ids``,
    ``x.0``, and ``past_key_values.<layer>.key`` for cache tensors."""
    params = _parameters(model)
    if params is None:
        return []
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names: list[str] = []
    for path, leaf in pytree.tree_flatten_with_path((args, kwargs))[0]:
        if not isinstance(leaf, torch.Tensor):
            continue
        where, first, rest = path[0].idx, path[1], path[2:]
        if where == 0:
            index = first.idx
            root = positional[index] if index < len(positional) else f"args.{index}"
            value = args[index]
        else:
            root, value = str(first.key), kwargs[first.key]
        names.append(_path_name(rest, INPUT_PREFIX, value, root))
    return names


def default_output_names(out_spec: Any) -> list[str | None]:
    """For each output leaf of a program's ``out_spec``: ``present.<layer>.key``-style names for
    cache tensors, the key for a leaf of a dict-like output (``logits``), else None."""
    names: list[str | None] = []
    _walk_spec(out_spec, None, names)
    return names


def _walk_spec(spec: Any, name: str | None, out: list[str | None]) -> None:
    if spec.is_leaf():
        out.append(name)
        return
    if isinstance(spec.context, _Context):
        out.extend(f"{OUTPUT_PREFIX}.{n}" for n in spec.context.names)
        return
    keys = spec.context if isinstance(spec.context, (list, tuple)) \
        and len(spec.context) == len(tree_children(spec)) \
        and all(isinstance(k, str) for k in spec.context) else None
    for i, child in enumerate(tree_children(spec)):
        _walk_spec(child, keys[i] if keys else None, out)


def is_default_cache_name(name: str) -> bool:
    """Could ``name`` be a default cache input or output name (``past_key_values.0.key``)?"""
    head, _, rest = name.partition(".")
    return head in (INPUT_PREFIX, OUTPUT_PREFIX) and rest[:1].isdigit()


def tree_children(spec: pytree.TreeSpec) -> list:
    children = getattr(spec, "children", None)
    return list(children()) if callable(children) else list(spec.children_specs)

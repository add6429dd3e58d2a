"""``RotaryEmbedding``: transformers' ``q * cos + rotate_half(q) * sin``."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from ..patterns import MS, attr, const, dims, initializer, node, producer, single_use, substitute


def _half_slice(v: ir.Value, x: ir.Value, half: int, first: bool) -> bool:
    """Is ``v`` ``x[..., :half]`` (``first``) or ``x[..., half:]``, sliced on the last axis?"""
    sl = producer(v, "Slice")
    if sl is None or sl.inputs[0] is not x:
        return False
    if len(sl.inputs) == 1:  # before opset 10: attributes
        starts, ends, axes = (np.array(attr(sl, a) or []) for a in ("starts", "ends", "axes"))
        steps = None
    elif len(sl.inputs) >= 4:
        starts, ends, axes = (const(i) for i in sl.inputs[1:4])
        steps = const(sl.inputs[4]) if len(sl.inputs) > 4 else None
    else:
        return False
    if starts is None or ends is None or axes is None or (steps is not None and steps.tolist() != [1]):
        return False
    rank = len(dims(x) or ())
    if axes.tolist() not in ([-1], [rank - 1]):
        return False
    if first:
        return starts.tolist() == [0] and ends.tolist() == [half]
    return starts.tolist() == [half] and int(ends[0]) >= 2 * half


def _rotate_half_of(v: ir.Value):
    """``x`` when ``v = cat(-x[..., h/2:], x[..., :h/2])`` (transformers' ``rotate_half``)."""
    cat = producer(v, "Concat")
    if cat is None or len(cat.inputs) != 2 or not single_use(v):
        return None
    neg = producer(cat.inputs[0], "Neg")
    if neg is None:
        return None
    x = neg.inputs[0]
    x = producer(x, "Slice").inputs[0] if producer(x, "Slice") is not None else None
    shape = dims(x)
    if x is None or shape is None or len(shape) != 4 or not isinstance(shape[-1], int) or shape[-1] % 2:
        return None
    if attr(cat, "axis") not in (-1, 3):
        return None
    half = shape[-1] // 2
    if _half_slice(neg.inputs[0], x, half, False) and _half_slice(cat.inputs[1], x, half, True):
        return x
    return None


def _cache(table: np.ndarray | None, seq, head: int) -> np.ndarray | None:
    """``(S, H/2)`` when ``table`` is ``(1, 1, S, H)`` (or ``(1, S, H)``) with equal halves."""
    if table is None or not isinstance(seq, int) or table.shape[-2:] != (seq, head) \
            or table.size != seq * head:
        return None
    t = table.reshape(seq, head)
    half = head // 2
    return t[:, :half] if np.array_equal(t[:, :half], t[:, half:]) else None


def fuse_rotary_embedding(graph: ir.Graph) -> int:
    """``x * cos + rotate_half(x) * sin`` on ``(B, N, S, H)`` -> ``RotaryEmbedding``.

    ``cos``/``sin`` must be constants of shape ``(1, 1, S, H)`` built as ``cat(f, f)`` (as
    transformers builds them; with the positions known at export time they fold to constants):
    their first halves become the caches, and ``position_ids`` is the offset 0 (positions
    ``0 .. S-1`` for every batch entry).
    """
    count = 0
    for n in list(graph):
        if n.op_type != "Add" or n.domain != "":
            continue
        done = False
        for plain_v, rot_v in (n.inputs, n.inputs[::-1]):
            plain, rot = producer(plain_v, "Mul"), producer(rot_v, "Mul")
            if plain is None or rot is None or not (single_use(plain_v) and single_use(rot_v)):
                continue
            for ri in (0, 1):
                x = _rotate_half_of(rot.inputs[ri])
                if x is None:
                    continue
                sin_v = rot.inputs[1 - ri]
                cos_v = next((plain.inputs[1 - i] for i in (0, 1) if plain.inputs[i] is x), None)
                _, _, seq, head = dims(x)
                cos, sin = _cache(const(cos_v), seq, head), _cache(const(sin_v), seq, head)
                if cos_v is None or cos is None or sin is None:
                    continue
                ids = initializer(graph, np.zeros(1, dtype=np.int64), "rotary_position_offset")
                cos_c = initializer(graph, cos, "rotary_cos_cache")
                sin_c = initializer(graph, sin, "rotary_sin_cache")
                fused = node(MS, "RotaryEmbedding", [x, ids, cos_c, sin_c], interleaved=0)
                substitute(graph, n, fused, n.outputs[0], fused.outputs[0])
                count += 1
                done = True
                break
            if done:
                break
    return count

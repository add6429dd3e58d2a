"""``GroupQueryAttention``: Llama's attention over repeated key/value heads, rotary included."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from ..patterns import (MS, attr, const, dims, initializer, node, producer, set_shape, single_use,
                        substitute)


def _repeated_kv(v: ir.Value):
    """``(kv, rep)`` when ``v`` is ``MultiHeadAttention``'s 3-D key or value laid out from
    ``repeat_kv(kv)`` (``(B, Nkv, L, H)`` unsqueezed at 2, expanded ``rep`` times, merged)."""
    r = producer(v, "Reshape")
    t = producer(r.inputs[0] if r else None, "Transpose")
    if t is None or list(attr(t, "perm") or ()) != [0, 2, 1, 3]:
        return None
    rep_v = t.inputs[0]
    merged = producer(rep_v, "Reshape")
    expand = producer(merged.inputs[0] if merged else None, "Expand")
    unsq = producer(expand.inputs[0] if expand else None, "Unsqueeze")
    if unsq is None:
        return None
    axes = const(unsq.inputs[1]) if len(unsq.inputs) > 1 else np.array(attr(unsq, "axes") or [])
    if axes is None or axes.tolist() != [2]:
        return None
    kv, target = unsq.inputs[0], const(expand.inputs[1])
    kd, rd = dims(kv), dims(rep_v)
    if kd is None or rd is None or len(kd) != 4 or len(rd) != 4 or target is None or len(target) != 5:
        return None
    b, nk, length, h = kd
    if not isinstance(nk, int) or rd[0] != b or rd[2:] != (length, h) or rd[1] != nk * int(target[2]):
        return None
    if int(target[1]) not in (1, nk) or int(target[3]) not in (1, length) or int(target[4]) not in (1, h):
        return None
    return kv, int(target[2])


def _causal(mask: np.ndarray | None, length) -> bool:
    """Is ``mask`` a ``(1, 1, L, L)`` additive causal mask (0 on and below the diagonal, at most
    -1e9 above, where softmax weights are exactly 0 in float32)?"""
    if mask is None or not isinstance(length, int) or mask.size != length * length:
        return False
    m = mask.reshape(length, length).astype(np.float64)
    lower = np.tril(np.ones((length, length), dtype=bool))
    return bool(np.all(m[lower] == 0) and np.all(m[~lower] <= -1e9))


def _heads_last(graph_nodes: list, kv: ir.Value, nk: int) -> ir.Value:
    b, _, length, h = dims(kv)
    t = node("", "Transpose", [kv], perm=[0, 2, 1, 3])
    set_shape(t.outputs[0], [b, length, nk, h], like=kv)
    shape = ir.Value(name=None, const_value=ir.tensor(np.array([0, 0, nk * h], dtype=np.int64)))
    c = node("", "Constant", [], value=shape.const_value)
    r = node("", "Reshape", [t.outputs[0], c.outputs[0]])
    set_shape(r.outputs[0], [b, length, nk * h], like=kv)
    graph_nodes += [t, c, r]
    return r.outputs[0]


def fuse_group_query_attention(graph: ir.Graph) -> int:
    """``MultiHeadAttention`` over repeated key/value heads with a constant causal mask (how
    transformers' Llama calls attention) -> ``GroupQueryAttention`` over the unrepeated heads.

    onnxruntime's kernel is causal by construction; ``seqlens_k`` (``L - 1`` per batch entry)
    and ``total_sequence_length`` (``L``) are constants, so batch and length must be static.
    """
    count = 0
    for n in list(graph):
        if n.op_type != "MultiHeadAttention" or n.domain != MS or len(n.inputs) != 6:
            continue
        if any(v is not None for v in n.inputs[3:5]) or attr(n, "unidirectional", 0):
            continue
        q = n.inputs[0]
        k, v = _repeated_kv(n.inputs[1]), _repeated_kv(n.inputs[2])
        qd = dims(q)
        if k is None or v is None or k[1] != v[1] or qd is None or dims(k[0]) != dims(v[0]):
            continue
        (kv_k, rep), (kv_v, _) = k, v
        b, nk, length, _ = dims(kv_k)
        if not (isinstance(b, int) and qd[1] == length) or not _causal(const(n.inputs[5]), length):
            continue
        new_nodes: list = []
        key, value = _heads_last(new_nodes, kv_k, nk), _heads_last(new_nodes, kv_v, nk)
        seqlens = initializer(graph, np.full((b,), length - 1, dtype=np.int32), "gqa_seqlens_k")
        total = initializer(graph, np.array(length, dtype=np.int32), "gqa_total_sequence_length")
        fused = node(MS, "GroupQueryAttention", [q, key, value, None, None, seqlens, total],
                     num_outputs=3, num_heads=nk * rep, kv_num_heads=nk,
                     scale=attr(n, "scale"))
        substitute(graph, n, [*new_nodes, fused], n.outputs[0], fused.outputs[0])
        count += 1
    return count


def _unrotated(v: ir.Value):
    """``(x, cos_cache, sin_cache)`` when ``v = Reshape(Transpose(RotaryEmbedding(x)))`` laid out
    ``(B, S, N*H)`` from ``(B, N, S, H)``, with position offset 0 and non-interleaved halves."""
    r = producer(v, "Reshape")
    t = producer(r.inputs[0] if r else None, "Transpose")
    rot = producer(t.inputs[0] if t else None, "RotaryEmbedding", MS)
    if rot is None or list(attr(t, "perm") or ()) != [0, 2, 1, 3] or attr(rot, "interleaved", 0):
        return None
    offset = const(rot.inputs[1])
    if offset is None or offset.size != 1 or int(offset.reshape(-1)[0]) != 0 or not single_use(t.inputs[0]):
        return None
    return rot.inputs[0], rot.inputs[2], rot.inputs[3]


def fuse_group_query_attention_rotary(graph: ir.Graph) -> int:
    """``GroupQueryAttention`` of rotated queries and keys -> one with ``do_rotary=1`` and the
    caches, so the rotation (positions ``0 .. S-1``, as for the prompt) happens inside it.

    onnxruntime rotates inside the kernel only for head sizes that are multiples of 16.
    """
    count = 0
    for n in list(graph):
        if n.op_type != "GroupQueryAttention" or n.domain != MS or len(n.inputs) != 7 \
                or attr(n, "do_rotary", 0):
            continue
        q, k = _unrotated(n.inputs[0]), _unrotated(n.inputs[1])
        if q is None or k is None or not (np.array_equal(const(q[1]), const(k[1]))
                                          and np.array_equal(const(q[2]), const(k[2]))):
            continue
        if dims(q[0])[-1] % 16:
            continue
        new_nodes: list = []
        nq = dims(q[0])[1]
        query, key = _heads_last(new_nodes, q[0], nq), _heads_last(new_nodes, k[0], dims(k[0])[1])
        attrs = {a.name: a.value for a in n.attributes.values()}
        fused = node(MS, "GroupQueryAttention", [query, key, *n.inputs[2:7], q[1], q[2]], num_outputs=3,
                     **attrs, do_rotary=1)
        substitute(graph, n, [*new_nodes, fused], n.outputs[0], fused.outputs[0])
        count += 1
    return count

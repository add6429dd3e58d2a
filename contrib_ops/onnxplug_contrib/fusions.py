"""IR-level fusions into onnxruntime's ``com.microsoft`` ops.

Each ``fuse_*`` function rewrites one pattern everywhere in a graph and returns how many it
rewrote. The plugin runs them as IR passes (``plugin.py``) only when the user names
``com.microsoft`` in ``custom_opsets``, in the order of :data:`FUSIONS`, then deletes the nodes
left without users and records the domain's version in ``opset_import``.

Every rewrite is exact (the fused kernel computes the same formula), and every one checks what
it relies on: constants where the fused op takes parameters, a single use of each value it folds
away (or, for the residual sum of a skip norm, the extra output that gives it back), and known
shapes where the fused op has shape requirements.
"""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from .patterns import (MS, attr, const, dims, initializer, last_axis, node, producer,
                       reduce_axes, scalar, set_shape, single_use, substitute)


def _identity(perm) -> bool:
    return list(perm) == list(range(len(perm)))


# -- layout cleanup ---------------------------------------------------------------------------------
def cancel_transposes(graph: ir.Graph) -> int:
    """``Transpose(Transpose(x, p1), p2)`` -> ``x`` (composition is the identity) or one Transpose.

    The attention conversion lays heads out for onnxruntime and back; the model split them the
    other way: the pairs cancel.
    """
    count = 0
    for n in list(graph):
        if n.op_type != "Transpose" or n.domain != "":
            continue
        first = producer(n.inputs[0], "Transpose")
        p2 = attr(n, "perm")
        if first is None or p2 is None or attr(first, "perm") is None:
            continue
        p1 = attr(first, "perm")
        composed = [p1[i] for i in p2]
        out, src = n.outputs[0], first.inputs[0]
        if _identity(composed):
            if out.is_graph_output():
                continue
            out.replace_all_uses_with(src)
        else:
            new = node("", "Transpose", [src], perm=composed)
            substitute(graph, n, new, out, new.outputs[0])
        count += 1
    return count


def _same(a: tuple | None, b: tuple | None) -> bool:
    return a is not None and b is not None and a == b


def merge_reshapes(graph: ir.Graph) -> int:
    """``Reshape(Reshape(x, s1), s2)`` -> ``Reshape(x, s2)``; a Reshape to its input's shape -> input.

    A 0 in ``s2`` copies a dim of the intermediate value: it is kept only where that dim is known
    to equal ``x``'s, replaced by the dim when it is a static int, and the rewrite is skipped
    otherwise.
    """
    count = 0
    for n in list(graph):
        if n.op_type != "Reshape" or n.domain != "" or attr(n, "allowzero", 0):
            continue
        out = n.outputs[0]
        src = n.inputs[0]
        if _same(dims(src), dims(out)) and not out.is_graph_output():
            out.replace_all_uses_with(src)
            count += 1
            continue
        first = producer(src, "Reshape")
        target = const(n.inputs[1]) if len(n.inputs) > 1 else None
        if first is None or target is None or attr(first, "allowzero", 0):
            continue
        x, mid = first.inputs[0], dims(src)
        xs = dims(x)
        new_target = []
        for i, t in enumerate(int(d) for d in target.reshape(-1)):
            if t != 0:
                new_target.append(t)
            elif mid is not None and i < len(mid) and xs is not None and i < len(xs) and mid[i] == xs[i]:
                new_target.append(0)
            elif mid is not None and i < len(mid) and isinstance(mid[i], int):
                new_target.append(mid[i])
            else:
                break
        else:
            if _same(xs, dims(out)) and not out.is_graph_output():
                out.replace_all_uses_with(x)
            else:
                shape = initializer(graph, np.array(new_target, dtype=np.int64), "reshape_shape")
                new = node("", "Reshape", [x, shape])
                substitute(graph, n, new, out, new.outputs[0])
            count += 1
    return count


# -- normalisations ---------------------------------------------------------------------------------
def _residual_add(x: ir.Value):
    """``(a, b)`` when ``x = Add(a, b)`` with both of ``x``'s shape (the skip ops do not broadcast)."""
    add = producer(x, "Add")
    if add is None:
        return None
    a, b = add.inputs
    shape = dims(x)
    if shape is None or len(shape) not in (2, 3) or dims(a) != shape or dims(b) != shape:
        return None
    return a, b


def _skip_norm(graph: ir.Graph, anchor: ir.Node, x: ir.Value, params: list, eps: float,
               op_type: str, slots: int) -> bool:
    """Replace ``anchor`` (a norm of ``x``) by ``op_type(a, b, *params)`` when ``x = a + b``.

    ``slots`` is the number of parameter inputs before the op's ``bias`` input (2 for
    SkipLayerNormalization's gamma and beta, 1 for the simplified form's gamma).

    A constant bias added to ``a`` or ``b`` (a projection's) goes to the ``bias`` input; the sum's
    other users read the fused node's ``input_skip_bias_sum`` output.
    """
    pair = _residual_add(x)
    if pair is None:
        return False
    a, b = pair
    bias = None
    for i, side in enumerate((a, b)):
        found = _bias_of(side) if bias is None else None
        if found is not None:
            bias = found[1]
            a, b = (found[0], b) if i == 0 else (a, found[0])
    if bias is not None:
        params = [*params, *[None] * (slots - len(params))]  # bias comes after the params
    fused = node(MS, op_type, [a, b, *params, bias], num_outputs=4, epsilon=float(eps))
    out = fused.outputs[0]
    substitute(graph, anchor, fused, anchor.outputs[0], out)
    others = [u for u in x.uses() if u.node is not anchor]
    if others or x.is_graph_output():
        total = fused.outputs[3]
        total.type, total.shape = x.type, x.shape
        name = x.name if x.is_graph_output() else None
        x.replace_all_uses_with(total, replace_graph_outputs=True)
        if name is not None:
            x.name = None
            total.name = name
    return True


def fuse_skip_layer_norm(graph: ir.Graph) -> int:
    """``Add`` + layer norm -> ``SkipLayerNormalization`` (with the sum as its 4th output).

    The layer norm is the standard ``LayerNormalization`` over the last axis (opset 17 on), or
    the contrib conversion's ``SkipLayerNormalization(x, x, eps * 4)`` (below 17).
    """
    count = 0
    for n in list(graph):
        if n.op_type == "LayerNormalization" and n.domain == "" and len(n.inputs) >= 2:
            x = n.inputs[0]
            rank = len(dims(x) or ())
            if attr(n, "axis", -1) not in (-1, rank - 1) or len(n.outputs) > 1 and any(
                    o.uses() for o in n.outputs[1:]):
                continue
            gamma = n.inputs[1]
            beta = n.inputs[2] if len(n.inputs) > 2 else None
            eps = attr(n, "epsilon", 1e-5)
        elif n.op_type == "SkipLayerNormalization" and n.domain == MS and n.inputs[0] is n.inputs[1]:
            x, gamma = n.inputs[0], n.inputs[2]
            beta = n.inputs[3] if len(n.inputs) > 3 else None
            eps = attr(n, "epsilon") / 4.0
        else:
            continue
        params = [gamma] if beta is None else [gamma, beta]
        count += _skip_norm(graph, n, x, params, eps, "SkipLayerNormalization", 2)
    return count


def _rms_of(v: ir.Value):
    """``(x, eps)`` when ``v = Reciprocal(Sqrt(ReduceMean(x*x or x^2, last axis) + eps))``."""
    recip = producer(v, "Reciprocal")
    sqrt = producer(recip.inputs[0] if recip else None, "Sqrt")
    add = producer(sqrt.inputs[0] if sqrt else None, "Add")
    if add is None:
        return None
    for mean_v, eps_v in (add.inputs, add.inputs[::-1]):
        mean = producer(mean_v, "ReduceMean")
        eps = scalar(eps_v)
        if mean is None or eps is None or not attr(mean, "keepdims", 1):
            continue
        sq = producer(mean.inputs[0], ("Mul", "Pow"))
        if sq is None:
            continue
        x = sq.inputs[0]
        if sq.op_type == "Mul" and sq.inputs[1] is not x:
            continue
        if sq.op_type == "Pow" and scalar(sq.inputs[1]) != 2.0:
            continue
        if not last_axis(reduce_axes(mean), len(dims(x) or ()) or None):
            continue
        return x, eps
    return None


def fuse_rms_norm(graph: ir.Graph) -> int:
    """RMSNorm (Llama's ``w * (x * rsqrt(mean(x^2) + eps))``) -> ``SkipSimplifiedLayerNormalization``.

    With a residual ``x = a + b`` it is ``SkipSimplifiedLayerNormalization(a, b, w)``, the sum
    given back as the 4th output; otherwise ``SkipSimplifiedLayerNormalization(x, x, w)`` with
    epsilon times 4, which is exactly the plain RMSNorm (``SimplifiedLayerNormalization`` itself
    is registered by onnxruntime in the default domain, which the ONNX checker rejects).
    """
    count = 0
    for n in list(graph):
        if n.op_type != "Mul" or n.domain != "":
            continue
        for x_side, r_side in ((0, 1), (1, 0)):
            found = _rms_of(n.inputs[r_side])
            if found is None or found[0] is not n.inputs[x_side]:
                continue
            x, eps = found
            shape = dims(x)
            if shape is None or len(shape) not in (2, 3) or not isinstance(shape[-1], int):
                break
            anchor, weight = n, None
            out = n.outputs[0]
            if single_use(out):
                (use,) = out.uses()
                scale = use.node
                if scale.op_type == "Mul" and scale.domain == "":
                    w = scale.inputs[1 - use.idx]
                    wc = const(w)
                    if wc is not None and wc.shape == (shape[-1],):
                        anchor, weight = scale, w
            if weight is None:
                weight = initializer(graph, np.ones(shape[-1], dtype=_np_dtype(x)), "rms_weight")
            if _skip_norm(graph, anchor, x, [weight], eps, "SkipSimplifiedLayerNormalization", 1):
                count += 1
            else:
                fused = node(MS, "SkipSimplifiedLayerNormalization", [x, x, weight], epsilon=4.0 * eps)
                substitute(graph, anchor, fused, anchor.outputs[0], fused.outputs[0])
                count += 1
            break
    return count


def _np_dtype(v: ir.Value):
    return v.dtype.numpy() if v.dtype is not None else np.float32


# -- activations ------------------------------------------------------------------------------------
def _bias_of(v: ir.Value):
    """``(y, bias)`` when ``v = Add(y, bias)`` with a constant 1-D bias over the last axis.

    ``y`` must already have ``v``'s shape (the bias must not broadcast it): known from its
    shape, or because ``y`` is a ``MatMul`` by a constant whose last dim is the bias's size.
    """
    add = producer(v, "Add")
    shape = dims(v)
    if add is None or not single_use(v) or not shape:
        return None
    for y, b in (add.inputs, add.inputs[::-1]):
        c = const(b)
        if c is None or c.ndim != 1 or c.shape[0] != shape[-1]:
            continue
        mm = producer(y, "MatMul")
        w = const(mm.inputs[1]) if mm is not None else None
        if dims(y) == shape or (w is not None and w.ndim == 2 and w.shape[1] == c.shape[0]):
            return y, b
    return None


def fuse_bias_gelu(graph: ir.Graph) -> int:
    """``Gelu(y + bias)`` -> ``BiasGelu(y, bias)``; ``FastGelu(y + bias)`` -> ``FastGelu(y, bias)``."""
    count = 0
    for n in list(graph):
        if n.domain != MS or n.op_type not in ("Gelu", "FastGelu") or len(n.inputs) != 1:
            continue
        found = _bias_of(n.inputs[0])
        if found is None:
            continue
        fused = node(MS, "BiasGelu" if n.op_type == "Gelu" else "FastGelu", list(found))
        substitute(graph, n, fused, n.outputs[0], fused.outputs[0])
        count += 1
    return count


def fuse_quick_gelu(graph: ir.Graph) -> int:
    """``x * Sigmoid(alpha * x)`` (QuickGELU, 1.702; SiLU, 1) -> ``QuickGelu(x, alpha)``."""
    count = 0
    for n in list(graph):
        if n.op_type != "Mul" or n.domain != "":
            continue
        for xi in (0, 1):
            x = n.inputs[xi]
            sig = producer(n.inputs[1 - xi], "Sigmoid")
            if sig is None or not single_use(n.inputs[1 - xi]):
                continue
            arg = sig.inputs[0]
            alpha = None
            if arg is x:
                alpha = 1.0
            else:
                scale = producer(arg, "Mul")
                if scale is not None and single_use(arg):
                    for a, b in (scale.inputs, scale.inputs[::-1]):
                        if a is x and scalar(b) is not None:
                            alpha = scalar(b)
            if alpha is None:
                continue
            fused = node(MS, "QuickGelu", [x], alpha=float(alpha))
            substitute(graph, n, fused, n.outputs[0], fused.outputs[0])
            count += 1
            break
    return count


# -- matrix products ------------------------------------------------------------------------------
def _swapped_last(perm) -> bool:
    r = len(perm)
    return r >= 2 and list(perm) == list(range(r - 2)) + [r - 1, r - 2]


def fuse_matmul_transpose(graph: ir.Graph) -> int:
    """``MatMul(Transpose(a), b)`` (last two axes swapped) -> ``FusedMatMul(a, b, transA=1)``,
    likewise for ``b``; a scalar ``Mul`` of the product becomes ``alpha``."""
    count = 0
    for n in list(graph):
        if n.op_type != "MatMul" or n.domain != "":
            continue
        ins, flags = list(n.inputs), [0, 0]
        for i in (0, 1):
            t = producer(ins[i], "Transpose")
            if t is not None and single_use(ins[i]) and _swapped_last(attr(t, "perm") or []):
                ins[i], flags[i] = t.inputs[0], 1
        if not any(flags):
            continue
        fused = node(MS, "FusedMatMul", ins, transA=flags[0], transB=flags[1], alpha=1.0)
        substitute(graph, n, fused, n.outputs[0], fused.outputs[0])
        count += 1
    return count


# -- rotary embeddings ------------------------------------------------------------------------------
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
    if table is None or not isinstance(seq, int) or table.shape[-2:] != (seq, head) or table.size != seq * head:
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


# -- attention ------------------------------------------------------------------------------------
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
        if n.op_type != "GroupQueryAttention" or n.domain != MS or len(n.inputs) != 7 or attr(n, "do_rotary", 0):
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


FUSIONS = [
    ("cancel_transposes", cancel_transposes),
    ("merge_reshapes", merge_reshapes),
    ("fuse_skip_layer_norm", fuse_skip_layer_norm),
    ("fuse_rms_norm", fuse_rms_norm),
    ("fuse_bias_gelu", fuse_bias_gelu),
    ("fuse_quick_gelu", fuse_quick_gelu),
    ("fuse_matmul_transpose", fuse_matmul_transpose),
    ("fuse_rotary_embedding", fuse_rotary_embedding),
    ("fuse_group_query_attention", fuse_group_query_attention),
    ("fuse_group_query_attention_rotary", fuse_group_query_attention_rotary),
]

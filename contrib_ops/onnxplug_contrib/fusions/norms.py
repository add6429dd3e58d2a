"""Skip and simplified layer norms: Add + LayerNorm, RMSNorm (Llama's), their residual forms."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from ..patterns import (MS, attr, bias_add, const, dims, initializer, last_axis, node, producer,
                        reduce_axes, scalar, single_use, substitute)


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
        found = bias_add(side) if bias is None else None
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

"""Layout cleanup: cancelling transposes and merging reshapes around the attention ops."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from ..patterns import attr, const, dims, initializer, node, producer, substitute


def _identity(perm) -> bool:
    return list(perm) == list(range(len(perm)))


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

"""Activations: bias + Gelu/FastGelu, and QuickGelu (``x * sigmoid(alpha * x)``)."""

from __future__ import annotations

import onnx_ir as ir

from ..patterns import MS, bias_add, node, producer, scalar, single_use, substitute


def fuse_bias_gelu(graph: ir.Graph) -> int:
    """``Gelu(y + bias)`` -> ``BiasGelu(y, bias)``; ``FastGelu(y + bias)`` -> ``FastGelu(y, bias)``."""
    count = 0
    for n in list(graph):
        if n.domain != MS or n.op_type not in ("Gelu", "FastGelu") or len(n.inputs) != 1:
            continue
        found = bias_add(n.inputs[0])
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

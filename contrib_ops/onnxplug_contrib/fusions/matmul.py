"""``FusedMatMul``: matrix products of transposed operands."""

from __future__ import annotations

import onnx_ir as ir

from ..patterns import MS, attr, node, producer, scalar, single_use, substitute


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

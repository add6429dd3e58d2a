"""Write the erf form of GELU the way onnxruntime recognises it.

Below opset 20 (no ``Gelu`` op) GELU is ``0.5 * x * (1 + Erf(x / sqrt(2)))``. onnxruntime fuses
that chain into one ``Gelu`` kernel only when the ``Erf`` reads ``Div(x, sqrt(2))``; the same
maths written ``Mul(x, 1/sqrt(2))`` stays five kernels (about 10% of BERT-base's time on one
thread). This pass rewrites that ``Mul`` into the ``Div``, which differs from it only in float
rounding (one ulp at most).
"""

from __future__ import annotations

import math

import numpy as np
import onnx_ir as ir

from .rewrite import ExportPass, constant_array, copy_meta, is_default_domain, new_constant

FLOATS = (ir.DataType.FLOAT, ir.DataType.DOUBLE, ir.DataType.FLOAT16)


class CanonicalGeluPass(ExportPass):
    """``Erf(Mul(x, 1/sqrt(2)))`` -> ``Erf(Div(x, sqrt(2)))`` in the main graph."""


    def call(self, model: ir.Model) -> ir.passes.PassResult:
        graph = model.graph
        modified = False
        for erf in list(graph):
            if erf.op_type != "Erf" or not is_default_domain(erf) or erf.inputs[0] is None:
                continue
            mul = erf.inputs[0].producer()
            if (mul is None or mul.op_type != "Mul" or not is_default_domain(mul) or mul.graph is not graph
                    or len(erf.inputs[0].uses()) != 1 or erf.inputs[0].is_graph_output()):
                continue
            for k in (0, 1):
                x, c = mul.inputs[1 - k], constant_array(mul.inputs[k], self.options)
                if (c is None or c.size != 1 or x is None or x.dtype not in FLOATS
                        or mul.inputs[k].dtype != x.dtype
                        or not np.isclose(float(c.reshape(-1)[0]), math.sqrt(0.5), rtol=1e-6, atol=0)):
                    continue
                sqrt2 = new_constant(graph, np.full(c.shape, math.sqrt(2.0), dtype=c.dtype),
                                     "sqrt2", self.options, mul)
                if sqrt2 is None:
                    break
                div = ir.Node("", "Div", [x, sqrt2])
                copy_meta(mul, div)
                graph.insert_before(mul, div)
                out = div.outputs[0]
                out.type, out.shape = erf.inputs[0].type, erf.inputs[0].shape
                erf.replace_input_with(0, out)
                graph.remove(mul, safe=True)
                modified = True
                break
        return ir.passes.PassResult(model, modified=modified)

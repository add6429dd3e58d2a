"""Write the residual sum before a layer norm as ``Sum``, so onnxruntime keeps its fast kernels.

A transformer block ends in ``LayerNorm(x + sublayer(x))``. At ``ORT_ENABLE_ALL``, onnxruntime's
CPU provider fuses an ``Add`` of two equally shaped tensors feeding ``LayerNormalization`` (or the
``ReduceMean``/``Sub`` head of a decomposed layer norm, which it first fuses into one) into
``com.microsoft.SkipLayerNormalization``, whose CPU kernel is about 8x slower than the two kernels
it replaces: 835 us against 104 us at 2 x 128 x 768 in float32 on onnxruntime 1.32, one thread.
On BERT-base that is 20 of 248 ms. The fusion looks for ``Add`` only, so the same sum written
``Sum`` (exactly the same float addition) leaves ``LayerNormalization`` as it is.

Graphs meant for a runtime whose fused kernel is the fast one (onnxruntime's CUDA provider) get
``SkipLayerNormalization`` explicitly from the ``com.microsoft`` plugin (``onnxplug-contrib``),
whose fusion runs before this pass (order 500 against 860) and so still sees the ``Add``.
RMS norms need nothing: onnxruntime does not fuse the ``Add`` before them.
"""

from __future__ import annotations

import onnx_ir as ir

from .rewrite import ExportPass, copy_meta, is_default_domain, replace_value

FLOATS = (ir.DataType.FLOAT, ir.DataType.DOUBLE, ir.DataType.FLOAT16)


class ResidualSumsPass(ExportPass):
    """``Add(a, b)`` of equally shaped float tensors whose result starts a layer norm ->
    ``Sum(a, b)``, in the main graph."""

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        graph = model.graph
        modified = False
        if self.options.export_modules_as_functions:
            # calls of one module must stay alike to become one function; whether a sum's two
            # shapes are provably equal can differ between them (the first call reads a graph input)
            return ir.passes.PassResult(model, modified=False)
        for add in list(graph):
            if add.op_type == "Add" and is_default_domain(add) and _same_shape_floats(add) \
                    and any(_starts_layer_norm(add.outputs[0], use.node) for use in add.outputs[0].uses()):
                total = ir.Node("", "Sum", list(add.inputs))
                copy_meta(add, total)
                graph.insert_before(add, total)
                out, old = total.outputs[0], add.outputs[0]
                out.type, out.shape = old.type, old.shape
                if not replace_value(old, out):
                    graph.remove(total, safe=True)
                    continue
                graph.remove(add, safe=True)
                modified = True
        return ir.passes.PassResult(model, modified=modified)


def _same_shape_floats(add: ir.Node) -> bool:
    """Both inputs are floats of one known shape (Sum broadcasts only from opset 8, and
    onnxruntime's fusion wants equal shapes anyway)."""
    a, b = add.inputs
    if a is None or b is None or a.dtype not in FLOATS or a.dtype != b.dtype:
        return False
    if a.shape is None or b.shape is None or len(a.shape) != len(b.shape):
        return False
    # a dimension of unknown size (no name either) proves nothing
    return all(isinstance(d, int) or getattr(d, "value", None) is not None for d in a.shape) \
        and all(x == y for x, y in zip(a.shape, b.shape))


def _starts_layer_norm(x: ir.Value, user: ir.Node) -> bool:
    """``user`` is a LayerNormalization of ``x``, or ``Sub(x, ReduceMean(x))``: the head of a
    decomposed layer norm (below opset 17)."""
    if not is_default_domain(user):
        return False
    if user.op_type == "LayerNormalization":
        return user.inputs[0] is x
    if user.op_type == "Sub" and user.inputs[0] is x and user.inputs[1] is not None:
        mean = user.inputs[1].producer()
        return mean is not None and mean.op_type == "ReduceMean" and mean.inputs[0] is x
    return False

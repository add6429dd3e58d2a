"""A weight used both as it is and transposed is stored once, with a ``Transpose`` node.

A ``Linear`` weight ``W`` is multiplied as ``W.T``; the lowering stores that transposed view
(``<name>_T``, written without a whole contiguous copy). When the same tensor is also used as
it is, which is what tied weights are (a language model's token embedding ``Gather``-ed by the
ids and used as the output projection), the file would hold the weights twice: for a 128k
vocabulary at hidden 2048 in float16, 525 MB more to write and to load. This pass replaces the
transposed initializer by ``Transpose(W)``, which onnxruntime folds once when it loads the
model. The values are the same bits (a transpose moves elements, nothing else).

Recognised: an initializer whose tensor is a lazy 2-D transpose of the very torch storage
another initializer of the main graph holds contiguously, and that other initializer has users
of its own; checkpoint weights that are not in memory (``weights=``) are matched by the meta
storage their views share, so a meta-device export gets the same graph. Not run when initializers become graph inputs (each must stay a separate input).
"""

from __future__ import annotations

import onnx_ir as ir
import torch

from ..checkpoint import TensorView, is_deferred
from .rewrite import ExportPass, initializers_are_constant


class ShareTiedTransposesPass(ExportPass):
    """Replace a transposed copy of another used initializer by a ``Transpose`` node."""

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        if not initializers_are_constant(self.options):
            return ir.passes.PassResult(model, modified=False)
        graph = model.graph
        plain: dict[tuple, ir.Value] = {}
        for value in graph.initializers.values():
            raw = getattr(value.const_value, "raw", None)
            if (isinstance(raw, torch.Tensor) and raw.dim() == 2 and raw.device.type == "cpu"
                    and raw.is_contiguous() and not value.is_graph_input()):
                plain.setdefault((*_storage(raw), tuple(raw.shape), raw.dtype), value)
        modified = False
        first = next(iter(graph), None)
        for value in list(graph.initializers.values()):
            tensor = value.const_value
            if not isinstance(tensor, TensorView) or value.is_graph_input() or value.is_graph_output():
                continue
            t = tensor.raw
            if not isinstance(t, torch.Tensor) or t.dim() != 2 or t.device.type != "cpu" \
                    or t.stride() != (1, t.shape[0]):
                continue
            source = plain.get((*_storage(t), (t.shape[1], t.shape[0]), t.dtype))
            if source is None or source is value or not source.uses() or first is None:
                continue
            node = ir.Node("", "Transpose", [source], [ir.AttrInt64s("perm", [1, 0])])
            graph.insert_before(first, node)
            out = node.outputs[0]
            out.name = f"{value.name}_shared"
            out.type, out.shape = value.type, value.shape
            value.replace_all_uses_with(out)
            del graph.initializers[value.name]
            modified = True
        return ir.passes.PassResult(model, modified=modified)


def _storage(t: torch.Tensor) -> tuple:
    """Where ``t``'s first element lives: its address, or for a checkpoint weight not in memory
    (``checkpoint.Deferred``) the identity of the meta storage it and its views share, and
    its offset there."""
    if is_deferred(t):
        meta = t._meta
        return ("meta", meta.untyped_storage()._cdata, meta.storage_offset())
    return ("cpu", t.data_ptr(), 0)

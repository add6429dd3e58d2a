"""Fold an eval-mode ``BatchNormalization`` into the ``Conv`` that feeds it.

``BN(Conv(x, W, b))`` with constant statistics is ``Conv(x, W * s, (b - mean) * s + beta)`` where
``s = gamma / sqrt(var + eps)`` per output channel. The new weights are computed in float64 and
stored in the weight's dtype; the original initializers are left for the unused-value cleanup
(another node may share them).
"""

from __future__ import annotations


import numpy as np
import onnx_ir as ir

from .rewrite import (ExportPass, constant_array, folds, is_default_domain, may_merge, new_constant,
                      replace_value)

FLOATS = (ir.DataType.FLOAT, ir.DataType.DOUBLE, ir.DataType.FLOAT16)


class FoldConvBatchNormPass(ExportPass):
    """Fold ``Conv -> BatchNormalization`` pairs of the main graph (eval mode, constant weights).

    Nothing is folded with ``do_constant_folding=False``, in training mode, when the weights
    are graph inputs (``export_params=False``, ``keep_initializers_as_inputs``), when the Conv's
    output has other users, or when the BatchNormalization computes batch statistics.
    """


    def call(self, model: ir.Model) -> ir.passes.PassResult:
        if not folds(self.options):
            return ir.passes.PassResult(model, modified=False)
        modified = False
        for bn in list(model.graph):
            if bn.op_type == "BatchNormalization" and is_default_domain(bn):
                modified |= self._fold(model.graph, bn)
        return ir.passes.PassResult(model, modified=modified)

    def _fold(self, graph: ir.Graph, bn: ir.Node) -> bool:
        """Fold ``bn`` into the Conv that feeds it, if the pair qualifies (see the class)."""
        conv = self._foldable_conv(graph, bn)
        if conv is None:
            return False
        folded = _folded_weights(conv, bn, self.options)
        if folded is None:
            return False
        base = conv.inputs[1].name or "conv"
        w_value = new_constant(graph, folded[0], f"{base}_bn_folded", self.options, conv)
        b_value = new_constant(graph, folded[1], f"{base}_bn_folded_bias", self.options, conv)
        if w_value is None or b_value is None:
            return False
        return _rewire(graph, conv, bn, w_value, b_value)

    def _foldable_conv(self, graph: ir.Graph, bn: ir.Node) -> ir.Node | None:
        """The Conv whose only use is ``bn``, when ``bn`` is an eval-mode, per-channel
        BatchNormalization whose other outputs nobody reads; else None."""
        if len(bn.inputs) != 5 or any(o.uses() or o.is_graph_output() for o in bn.outputs[1:]):
            return None
        mode = bn.attributes.get("training_mode")
        if mode is not None and mode.as_int() != 0:
            return None
        spatial = bn.attributes.get("spatial")  # opsets 7-8: per-element statistics if 0
        if spatial is not None and spatial.as_int() != 1:
            return None
        x = bn.inputs[0]
        conv = x.producer() if x is not None else None
        if (conv is None or conv.op_type != "Conv" or not is_default_domain(conv)
                or conv.graph is not graph or x.is_graph_output() or len(x.uses()) != 1
                or not may_merge(conv, bn, self.options, self.fx_nodes)):
            return None
        weight = conv.inputs[1]
        if weight is None or weight.dtype not in FLOATS:
            return None
        return conv


def _folded_weights(conv: ir.Node, bn: ir.Node, opts) -> tuple[np.ndarray, np.ndarray] | None:
    """``(W * s, (b - mean) * s + beta)`` in the weight's dtype, computed in float64; None
    when a weight or statistic is not a constant or has the wrong number of channels."""
    w = constant_array(conv.inputs[1], opts)
    b = constant_array(conv.inputs[2], opts) if len(conv.inputs) > 2 and conv.inputs[2] is not None \
        else np.zeros(w.shape[0] if w is not None else 0)
    stats = [constant_array(v, opts) for v in bn.inputs[1:]]
    if w is None or b is None or any(s is None for s in stats):
        return None
    gamma, beta, mean, var = (s.astype(np.float64).reshape(-1) for s in stats)
    channels = w.shape[0]
    if any(a.size not in (1, channels) for a in (gamma, beta, mean, var, b.reshape(-1))):
        return None
    eps = bn.attributes["epsilon"].as_float() if "epsilon" in bn.attributes else 1e-5
    scale = gamma / np.sqrt(var + eps)
    # each product in float64, rounded once to the weight's dtype; the ufunc's buffered casts
    # keep the float64 temporaries a few thousand elements long instead of the whole weight
    new_w = np.multiply(w, scale.reshape((-1,) + (1,) * (w.ndim - 1)), dtype=np.float64,
                        out=np.empty_like(w))
    new_b = ((b.astype(np.float64).reshape(-1) - mean) * scale + beta).astype(w.dtype)
    return new_w, np.broadcast_to(new_b, (channels,))


def _rewire(graph: ir.Graph, conv: ir.Node, bn: ir.Node, w_value: ir.Value, b_value: ir.Value) -> bool:
    """Point ``bn``'s users at the Conv, give the Conv the folded weights, drop ``bn``."""
    x, out = bn.inputs[0], bn.outputs[0]
    if not replace_value(out, x):
        return False
    if len(conv.inputs) < 3:
        conv.resize_inputs(3)
    conv.replace_input_with(1, w_value)
    conv.replace_input_with(2, b_value)
    x.type, x.shape = out.type or x.type, out.shape or x.shape
    graph.remove(bn, safe=True)
    return True

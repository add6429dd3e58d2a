"""Fold nodes whose inputs are all constants, computed by onnxruntime or the ONNX reference.

Lowering already folds computations on constant tensors in PyTorch; what reaches this pass is
what symbolic functions built from constants themselves (index arithmetic, masks from
``arange``, shapes folded by :mod:`.shape_folding`). Every foldable node of the main graph is
evaluated in one run at the model's opset, by onnxruntime (the runtime the model is meant for)
when it is installed and otherwise by ``onnx.reference.ReferenceEvaluator`` (ONNX's own
definition of each op); node by node if that run fails. Random ops, ops with
subgraphs, non-default domains, graph outputs and results of more than :data:`FOLD_LIMIT`
elements are left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import onnx
import onnx_ir as ir

from .rewrite import (NONDETERMINISTIC, ExportPass, constant_tensor, folds, has_subgraph, is_default_domain,
                      new_constant, replace_value, static_shape)

log = logging.getLogger("onnxplug")

FOLD_LIMIT = 1 << 20  # elements in a folded result
INPUT_LIMIT = 1 << 24  # elements in the constant inputs of one node
# Q/DQ stay nodes: a quantized weight's DequantizeLinear is what runtimes fuse into integer kernels
QDQ = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"})
NOT_FOLDED = NONDETERMINISTIC | QDQ | {"Constant", "ConstantOfShape", "Range", "EyeLike"}


class FoldConstantsPass(ExportPass):
    """Replace default-domain nodes of constant inputs by constants of their results."""


    def call(self, model: ir.Model) -> ir.passes.PassResult:
        if not folds(self.options):
            return ir.passes.PassResult(model, modified=False)
        graph = model.graph
        nodes, leaves = self._foldable(graph, model.functions)
        if not nodes:
            return ir.passes.PassResult(model, modified=False)
        folded = set(nodes)
        wanted = [o for n in nodes for o in n.outputs
                  if o.name is not None and any(u.node not in folded for u in o.uses())]
        opset = graph.opset_imports.get("", self.options.opset_version)
        results = _evaluate(nodes, leaves, wanted, opset)
        modified = False
        for value in wanted:
            array = results.get(value)
            if array is None or not _fits(array, value):
                continue
            const = new_constant(graph, array, value.name or "folded", self.options, value.producer())
            if const is not None and replace_value(value, const):
                modified = True
        return ir.passes.PassResult(model, modified=modified)

    def _foldable(self, graph: ir.Graph, functions: Mapping) -> tuple[list[ir.Node], dict[ir.Value, np.ndarray]]:
        """The nodes to evaluate, in graph order, and the constant tensors they read (calls of
        local functions are never evaluated)."""
        known: set[ir.Value] = set()
        leaves: dict[ir.Value, np.ndarray] = {}
        nodes: list[ir.Node] = []
        for node in graph:
            if (not is_default_domain(node) or node.op_type in NOT_FOLDED or has_subgraph(node)
                    or node.op_identifier() in functions or not node.inputs
                    or any(o.is_graph_output() for o in node.outputs)
                    or any(a.is_ref() for a in node.attributes.values())):
                continue
            tensors = {}
            for v in node.inputs:
                if v is not None and v not in known and v not in leaves:
                    tensors[v] = constant_tensor(v, self.options)
                    if tensors[v] is None:
                        break
            if any(t is None for t in tensors.values()):
                continue
            size = sum(t.size for t in tensors.values()) + sum(
                leaves[v].size for v in set(node.inputs) if v in leaves)
            if size > INPUT_LIMIT:
                continue
            if any((s := static_shape(o)) is not None and int(np.prod(s)) > FOLD_LIMIT
                   for o in node.outputs):
                continue
            nodes.append(node)
            known.update(node.outputs)
            leaves.update((v, t.numpy()) for v, t in tensors.items())
        return nodes, leaves


def _fits(array: np.ndarray, value: ir.Value) -> bool:
    if not isinstance(array, np.ndarray) or array.size > FOLD_LIMIT:
        return False
    if value.dtype is None:
        return True
    try:
        # a result whose dtype differs from the declared one is not guessed at
        return array.dtype == value.dtype.numpy()
    except (TypeError, ValueError):  # a dtype numpy cannot hold
        return False


def _evaluate(nodes: list[ir.Node], leaves: dict[ir.Value, np.ndarray], wanted: list[ir.Value],
              opset: int) -> dict[ir.Value, np.ndarray]:
    """``wanted`` values computed in one run of all ``nodes``, else node by node (a node no
    evaluator can run is then simply not folded)."""
    results = _run(nodes, leaves, wanted, opset)
    if results is not None:
        return results
    env = dict(leaves)
    for node in nodes:
        inputs = {v: env[v] for v in node.inputs if v is not None and v in env}
        if len(inputs) != len({v for v in node.inputs if v is not None}):
            continue
        out = _run([node], inputs, list(node.outputs), opset)
        if out is not None:
            env.update(out)
    return {v: env[v] for v in wanted if v in env}


def _run(nodes: list[ir.Node], leaves: dict[ir.Value, np.ndarray], wanted: list[ir.Value],
         opset: int) -> dict[ir.Value, np.ndarray] | None:
    """Run ``nodes`` as one model on ``leaves``: with onnxruntime (graph optimisations off)
    when it is installed, which starts in a fraction of the reference evaluator's time, else
    or if it refuses, with ``onnx.reference``."""
    names: dict[ir.Value, str] = {}

    def name(v: ir.Value | None) -> str:
        return "" if v is None else names.setdefault(v, f"v{len(names)}")

    protos = []
    for node in nodes:
        proto = ir.serde.serialize_node(node)
        del proto.input[:], proto.output[:]
        proto.input.extend(name(v) for v in node.inputs)
        proto.output.extend(name(v) for v in node.outputs)
        protos.append(proto)
    inputs = [onnx.helper.make_tensor_value_info(
        name(v), onnx.helper.np_dtype_to_tensor_dtype(a.dtype), a.shape) for v, a in leaves.items()]
    outputs = [onnx.helper.make_empty_tensor_value_info(name(v)) for v in wanted]
    model = onnx.helper.make_model(onnx.helper.make_graph(protos, "fold", inputs, outputs),
                                   opset_imports=[onnx.helper.make_opsetid("", opset)])
    feeds = {names[v]: a for v, a in leaves.items()}
    for engine in (_onnxruntime, _reference):
        try:
            arrays = engine(model, feeds)
        except Exception as exc:  # an op or dtype the engine lacks, an opset it does not know
            log.debug("constant folding: %s failed: %s", engine.__name__, exc)
            continue
        if arrays is not None:
            return dict(zip(wanted, arrays))
    return None


def _onnxruntime(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 4
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _reference(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list:
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(model).run(None, feeds)

"""Control flow: PyTorch's higher-order ops as ONNX ``If`` and ``Loop`` (both from opset 1).

Branches and bodies arrive as ``torch.fx.GraphModule``\\ s and are lowered with the export's own
machinery (``g.subgraph(name).lower(gm, inputs)``, see :mod:`onnxplug.subgraphs`): the same
registry and opset, constant folding, dynamic dims. Operands, parameters and closures that
torch.export lifts into extra operands are used from the bodies as outer-scope values.

* ``torch.cond`` -> ``If`` (both branches see the operands as outer values);
* ``while_loop`` -> ``Loop`` with no trip count: the condition graph is inlined once before the
  first iteration and lowered again at the end of the body, on the new carried values;
* ``associative_scan`` -> ``Loop``: a sequential scan (``ys[0] = xs[0]``,
  ``ys[i] = combine(ys[i-1], xs[i])``), which equals the parallel one for an associative
  ``combine_fn``;
* ``invoke_subgraph`` (``torch.compiler.nested_compile_region``) -> inlined;
* ``wrap_with_set_grad_enabled`` (a ``torch.no_grad()`` / ``enable_grad()`` block inside
  ``forward``) -> inlined: grad mode changes no forward value;
* ``wrap_with_autocast`` with ``enabled=False`` (a block kept in full precision, as timm's
  EfficientViT attention is) -> inlined; an enabled autocast region is declined (it would
  change the dtypes of the ops inside).

``scan`` and ``map`` become ``Scan``, in its form from opset 9 (``opset9/control_flow.py``).
"""

from __future__ import annotations

import torch

from ..registration import op


def _as_bool(g, pred):
    """A boolean scalar for ``If``/``Loop``: a number becomes a constant, others are cast."""
    if not hasattr(pred, "dtype"):
        return g.constant(bool(pred), torch.bool)
    if g.dtype(pred) != torch.bool:
        return g.op("Cast", pred, to_i=9)  # TensorProto.BOOL
    return pred


def node_results(g, out):
    """The op's results as a tuple; an integer result (a Python int carried by a loop, a
    SymInt) is an int64 scalar, which the body's output types alone do not say."""
    outs = out if isinstance(out, tuple) else (out,)
    for i, v in enumerate(outs):
        if v.shape is None and isinstance(g.out_val(i), (int, torch.SymInt)):
            g.set_type(v, torch.int64, [])
    return outs


def _element_shape(g, x):
    shape = g.shape(x)
    return None if shape is None else shape[1:]


def _branch(g, name: str, graph_module, operands):
    sub = g.subgraph(name)
    return sub.finish(*sub.lower(graph_module, list(operands)))


@op("higher_order::cond")
def cond(g, pred, true_graph, false_graph, operands):
    """``torch.cond(pred, true_fn, false_fn, operands)`` as ``If``."""
    then_branch = _branch(g, "then_branch", true_graph, operands)
    else_branch = _branch(g, "else_branch", false_graph, operands)
    n = len(then_branch.outputs)
    return node_results(g, g.op("If", _as_bool(g, pred), then_branch_g=then_branch,
                             else_branch_g=else_branch, outputs=n))


@op("higher_order::while_loop")
def while_loop(g, cond_graph, body_graph, carried_inputs, additional_inputs=()):
    """``while_loop(cond_fn, body_fn, carried_inputs)`` as ``Loop`` (no trip count)."""
    carried, extra = list(carried_inputs), list(additional_inputs)
    first = g.lower(cond_graph, carried + extra)[0]  # checked before the first iteration
    body = g.subgraph("while_body")
    body.add_input("iteration", torch.int64, [])
    body.add_input("condition", torch.bool, [])
    new = body.lower(body_graph, [None] * len(carried) + extra)
    go_on = body.lower(cond_graph, new + extra)[0]
    graph = body.finish(_as_bool(body, go_on), *new)
    return node_results(g, g.op("Loop", None, _as_bool(g, first), *carried, body_g=graph,
                             outputs=len(carried)))


@op("higher_order::associative_scan")
def associative_scan(g, combine_graph, xs, additional_inputs=()):
    """``associative_scan`` (the op; PyTorch has moved the scanned dim to 0) as a sequential
    ``Loop`` over ``xs[1:]`` whose state starts at ``xs[0]``."""
    xs = list(xs)
    zero, one = g.constant([0]), g.constant(1)
    firsts = [g.op("Gather", x, zero, axis_i=0) for x in xs]  # [1, ...]: keeps the dim
    length = g.op("Gather", g.op("Shape", xs[0]), g.constant(0), axis_i=0)
    trips = g.op("Sub", length, one)
    body = g.subgraph("associative_scan_body")
    i = body.add_input("iteration", torch.int64, [])
    cond_in = body.add_input("condition", torch.bool, [])
    state = [body.add_input(f"state{k}", g.dtype(x), _element_shape(g, x)) for k, x in enumerate(xs)]
    elements = [body.op("Gather", x, body.op("Add", i, body.constant(1)), axis_i=0) for x in xs]
    new = body.lower(combine_graph, state + elements + list(additional_inputs))
    graph = body.finish(body.op("Identity", cond_in), *new, *new)
    states = [g.op("Gather", f, g.constant(0), axis_i=0) for f in firsts]
    outs = g.op("Loop", trips, None, *states, body_g=graph, outputs=2 * len(xs))
    scanned = outs[len(xs):]
    result = [g.op("Concat", f, s, axis_i=0) for f, s in zip(firsts, scanned)]
    return tuple(result)


def _inlined(g, graph_module, operands):
    """``graph_module``'s outputs, its nodes lowered into the caller's graph."""
    return tuple(g.lower(graph_module, list(operands)))


@op("higher_order::invoke_subgraph")
def invoke_subgraph(g, subgraph, identifier, *operands):
    """A ``nested_compile_region`` call: its graph inlined into the caller's."""
    return _inlined(g, subgraph, operands)


@op("higher_order::wrap_with_set_grad_enabled")
def wrap_with_set_grad_enabled(g, enable, body, *operands):
    """A ``torch.no_grad()`` (or ``enable_grad()``) region of ``forward``: its graph inlined;
    the exported graph computes no gradients either way."""
    return _inlined(g, body, operands)


@op("higher_order::wrap_with_autocast")
def wrap_with_autocast(g, device_type, dtype, enabled, cache_enabled, body, *operands):
    """A ``torch.autocast(..., enabled=False)`` region: its graph inlined, as its ops run in
    the dtypes they were traced with."""
    if enabled:
        raise NotImplementedError("an enabled autocast region changes the dtypes of its ops: "
                                  "cast the model (model.half()) instead of using autocast")
    return _inlined(g, body, operands)

"""Decompose single FX nodes in place, without re-tracing the program.

``ExportedProgram.run_decompositions`` re-traces the whole program to replace even one op: on
a 1 B decoder that is most of an export. Here each node that needs it is replaced on its own:
its decomposition is traced with ``make_fx`` on the fake values of its inputs
(``node.meta["val"]``), under the program's own ``FakeTensorMode`` and ``ShapeEnv`` so that
symbolic sizes stay the same symbols, and the traced nodes are spliced in its place. Each new
node gets its ``meta["val"]`` from the trace and the replaced node's ``stack_trace``,
``nn_module_stack`` and source metadata, so errors, verbose doc strings and local functions
still point at the user's code. Branches and bodies of control-flow ops (nested
``GraphModule``s) are handled the same way.

The program passed in is never changed: the edited graphs are copies (weights and constants
are shared), wrapped in a new, verified ``ExportedProgram``. A node whose decomposition cannot
be traced alone (it mutates an input, reads tensor constants, or the trace fails) is left in
place and its op reported, for the caller to decompose the whole-program way.
"""

from __future__ import annotations

import copy
import logging
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch.fx.experimental.proxy_tensor import make_fx
from torch.utils._pytree import tree_flatten, tree_unflatten

from .lowering import dead_calls, fetch_attr

log = logging.getLogger("onnxplug")

# metadata of the replaced node that its replacement nodes carry (where in the user's code)
INHERITED_META = ("stack_trace", "nn_module_stack", "source_fn_stack", "from_node", "custom",
                  "torch_fn", "seq_nr", "fwd_nn_module_stack", "fwd_source_fn_stack")
_FAKE_VALUES = (torch.Tensor, torch.SymInt, torch.SymFloat, torch.SymBool, int, float, bool)


@dataclass(frozen=True)
class LocalDecomposition:
    """The outcome of :func:`decompose_locally`."""

    program: torch.export.ExportedProgram
    done: set = field(default_factory=set)  # ops with at least one node replaced
    left: dict = field(default_factory=dict)  # op -> why a node of it was not replaced alone


def decompose_locally(ep: torch.export.ExportedProgram,
                      table: Mapping[torch._ops.OpOverload, Callable]) -> LocalDecomposition:
    """Replace every live node whose target is in ``table`` by the trace of ``table[target]``.

    Returns the new program (``ep`` itself when nothing was replaced), the ops replaced, and,
    for each op with a node left in place, why: those need ``ep.run_decompositions``.
    """
    todo = []
    for path, gm in _graph_modules(ep.graph_module):
        dead = dead_calls(gm.graph)
        todo += [(path, n) for n in gm.graph.nodes
                 if n.op == "call_function" and n.target in table and n not in dead]
    if not todo:
        return LocalDecomposition(ep, set(), {})
    fake_mode = _fake_mode(ep)
    if fake_mode is None:
        return LocalDecomposition(ep, set(), {n.target: "the program has no fake values" for _, n in todo})
    copies: dict[torch.fx.Node, torch.fx.Node] = {}
    root = copy_graph_module(ep.graph_module, copies)
    modules = dict(_graph_modules(root))
    signature = copy.deepcopy(ep.graph_signature)
    outputs = {s.arg.name: s for s in signature.output_specs if hasattr(s.arg, "name")}
    done, left, edited = set(), {}, set()
    for path, old in todo:
        gm = modules[path]
        node = copies[old]
        try:
            renamed = _replace(gm, node, table[node.target], fake_mode)
        except Exception as exc:  # noqa: BLE001 - left to the whole-program decomposition
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            left.setdefault(node.target, f"{type(exc).__name__}: {first}")
            log.debug("local decomposition of %s (%s) failed: %s", node.name, node.target, exc)
            continue
        done.add(node.target)
        edited.add(path)
        if path == "":
            for old_name, new_name in renamed.items():
                if old_name in outputs:
                    outputs[old_name].arg.name = new_name
    if not edited:
        return LocalDecomposition(ep, set(), left)
    for path in edited:
        modules[path].recompile()
    return LocalDecomposition(ep._update(root, signature), done, left)


def _graph_modules(gm: torch.fx.GraphModule, prefix: str = ""):
    """``(path, module)`` for ``gm`` and every GraphModule below it (branches and bodies)."""
    yield prefix, gm
    for name, child in gm.named_children():
        if isinstance(child, torch.fx.GraphModule):
            yield from _graph_modules(child, f"{prefix}.{name}" if prefix else name)


def copy_graph_module(gm: torch.fx.GraphModule, copies: dict) -> torch.fx.GraphModule:
    """A copy of ``gm`` whose graphs (its own and its nested GraphModules') can be edited;
    ``copies`` gets each old node's copy. Nodes keep their names; their metadata and any
    tensors the module holds are shared, not copied."""
    graph = torch.fx.Graph()
    graph._codegen = copy.deepcopy(gm.graph._codegen)
    used = getattr(graph._graph_namespace, "_used_names", None)
    for n in gm.graph.nodes:
        new = graph.node_copy(n, copies.__getitem__)  # meta: a shallow copy
        if new.name != n.name:  # a name the namespace renames ("input"): keep the program's
            new.name = n.name
            if used is not None:
                used.add(n.name)
        copies[n] = new
    root: dict = {}
    for n in graph.nodes:
        if n.op in ("get_attr", "call_module"):
            obj = fetch_attr(gm, n.target)
            root[n.target] = copy_graph_module(obj, copies) if isinstance(obj, torch.fx.GraphModule) else obj
    for name, child in gm.named_children():  # unused submodules too: keep named_children equal
        if name not in root:
            root[name] = copy_graph_module(child, copies) if isinstance(child, torch.fx.GraphModule) else child
    new_gm = torch.fx.GraphModule(root, graph, class_name=type(gm).__name__)
    new_gm.meta.update(gm.meta)
    return new_gm


def _fake_mode(ep: torch.export.ExportedProgram):
    """The program's FakeTensorMode (whose ShapeEnv holds its symbols), from its fake values."""
    from torch._guards import detect_fake_mode

    vals = [n.meta.get("val") for n in ep.graph.nodes if n.op == "placeholder"]
    return detect_fake_mode([v for v in vals if isinstance(v, torch.Tensor)])


def _mutates(node: torch.fx.Node) -> bool:
    return isinstance(node.target, torch._ops.OpOverload) and node.target._schema.is_mutable


def _replace(gm: torch.fx.GraphModule, node: torch.fx.Node, fn: Callable, fake_mode) -> dict:
    """Splice the trace of ``fn`` on ``node``'s inputs in place of ``node``; raise (leaving the
    graph unchanged) when it cannot be traced alone. Returns ``{old name: new name}`` for the
    values the graph's output node now refers to under another name."""
    if node.target._schema.is_mutable:
        raise ValueError("it mutates an input: functionalization needs the whole program")
    multi = isinstance(node.meta.get("val"), (tuple, list))
    if multi and any(u.target is not operator.getitem for u in node.users):
        raise ValueError("a user takes its tuple result whole")
    graph, inputs = _trace(node, fn, fake_mode)
    results = _checked_results(node, graph, multi)
    return _splice(gm, node, graph, inputs, results, multi)


def _trace(node: torch.fx.Node, fn: Callable, fake_mode) -> tuple[torch.fx.Graph, list]:
    """The graph of ``fn`` on ``node``'s arguments, its FX inputs traced on their fake values
    (the other arguments are constants of the trace), and those inputs in placeholder order."""
    flat, spec = tree_flatten((node.args, node.kwargs))
    positions = [i for i, a in enumerate(flat) if isinstance(a, torch.fx.Node)]
    inputs = [flat[i] for i in positions]
    vals = [a.meta.get("val") for a in inputs]
    if not all(isinstance(v, _FAKE_VALUES) for v in vals):
        raise ValueError("an input has no fake value (meta['val'])")

    def call(*values):
        full = list(flat)
        for i, v in zip(positions, values):
            full[i] = v
        args, kwargs = tree_unflatten(full, spec)
        return fn(*args, **kwargs)

    with fake_mode:
        graph = make_fx(call, tracing_mode="fake")(*vals).graph
    if any(_mutates(n) for n in graph.nodes):
        # in-place writes (into its own temporaries, through views: torch.complex's): the
        # whole-program decomposition functionalizes them, and reports a failure as before
        raise ValueError("its decomposition writes in place")
    if any(n.op in ("get_attr", "call_module") for n in graph.nodes):
        raise ValueError("its decomposition reads tensor constants")
    if any(n.target is node.target for n in graph.nodes):
        raise ValueError("its decomposition calls the op itself")
    return graph, inputs


def _checked_results(node: torch.fx.Node, graph: torch.fx.Graph, multi: bool) -> list:
    """The traced graph's results, one per result of ``node``; raise when they do not fit."""
    result = next(n for n in graph.nodes if n.op == "output").args[0]
    results = list(result) if multi else [result]
    if multi and len(results) != len(node.meta["val"]):
        raise ValueError(f"its decomposition returns {len(results)} values, not "
                         f"{len(node.meta['val'])}")
    if not all(isinstance(r, torch.fx.Node) or r is None for r in results):
        raise ValueError("its decomposition returns a non-tensor value")
    used = {u.args[1] for u in node.users} if multi else {0}
    if any(results[i] is None for i in used):
        raise ValueError("its decomposition returns None for a used result")
    return results


def _splice(gm: torch.fx.GraphModule, node: torch.fx.Node, graph: torch.fx.Graph, inputs: list,
            results: list, multi: bool) -> dict:
    """Copy ``graph``'s calls before ``node`` (with its metadata), move ``node``'s users to
    them and erase it. Returns the renamed graph outputs (see :func:`_replace`)."""
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    env: dict[torch.fx.Node, object] = dict(zip(placeholders, inputs))
    inherited = {k: node.meta[k] for k in INHERITED_META if k in node.meta}
    added: list[torch.fx.Node] = []
    with gm.graph.inserting_before(node):
        for n in graph.nodes:
            if n.op != "call_function":
                continue
            new = gm.graph.node_copy(n, lambda a: env[a])
            new.meta = {**inherited, **{k: v for k, v in n.meta.items() if k in ("val", "tensor_meta")}}
            env[n] = new
            added.append(new)
    replacement = [env.get(r, r) if isinstance(r, torch.fx.Node) else r for r in results]
    renamed: dict[str, str] = {}
    if multi:
        for user in list(node.users):
            value = replacement[user.args[1]]
            if any(u.op == "output" for u in user.users):
                renamed[user.name] = value.name
            user.replace_all_uses_with(value)
            gm.graph.erase_node(user)
    else:
        if any(u.op == "output" for u in node.users):
            renamed[node.name] = replacement[0].name
        node.replace_all_uses_with(replacement[0])
    gm.graph.erase_node(node)
    for n in reversed(added):  # drop what the trace computed and nothing uses (sym sizes)
        if not n.users and not n.is_impure():
            gm.graph.erase_node(n)
    return renamed

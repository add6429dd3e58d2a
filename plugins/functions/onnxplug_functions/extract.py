"""The IR pass: turn module calls into ONNX local functions called from the graph.

Calls are processed innermost first, one nesting depth at a time, so an outer module's body
holds call nodes of its inner modules' functions (nested functions). At each depth:

1. the selected calls' nodes are gathered into :class:`~onnxplug_functions.groups.Group` s;
2. groups of one class with the same structure share one function: attribute values that
   differ between them become ``inferred::`` attributes set on each call node;
3. each group is replaced by one call node, in order; a group whose nodes cannot be
   contracted without a cycle (a value leaves the module call and comes back) stays flat, with
   a note in the export result.

Parameters and other initializers a module reads are function inputs, so the body holds no
weights and one body serves every layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import onnx
import onnx_ir as ir
import onnx_ir.passes.common as common
from onnxplug.errors import OnnxExporterError

from .attributes import annotated_attributes, copy_attr, inferred_name
from .groups import Group, analyse, is_constant, is_small_constant, nested_nodes
from .naming import FunctionNames, class_identity
from .scopes import CallIndex, ModuleCall, type_name, wanted

FUNCTION_DOMAIN_VERSION = 1


@dataclass
class _Variant:
    """Groups of one class and one structure: one function."""

    groups: list[Group]
    function: ir.Function | None = None
    inferred: dict[int, str] = field(default_factory=dict)  # slot index -> attribute name

    def serves(self, group: Group) -> bool:
        """Can a call of this function compute ``group`` (same baked attribute values)?"""
        first = self.groups[0]
        return self.function is not None and all(
            group.slot_values[s] == first.slot_values[s]
            for s in range(len(first.slots)) if s not in self.inferred)


def export_modules_as_functions(model: ir.Model, context) -> ir.passes.PassResult | None:
    """onnxplug IR pass implementing ``export(..., export_modules_as_functions=...)``."""
    option = context.options.export_modules_as_functions
    if not option:
        return None
    try:
        modified = _Extractor(model, context, option).run()
    except Exception as exc:
        raise OnnxExporterError(
            f"export_modules_as_functions could not build local functions: "
            f"{type(exc).__name__}: {exc}. Export with export_modules_as_functions=False (or a "
            "set naming fewer module types), and please report this to onnxplug-functions.") \
            from exc
    return ir.passes.PassResult(model, modified)


class _Extractor:
    def __init__(self, model: ir.Model, context, option):
        self.model = model
        self.graph = model.graph
        self.context = context
        self.option = option
        self.index = CallIndex(context.fx_nodes, context.model_object)
        self.chains: dict[ir.Node, tuple[str, ...]] = {}
        self.calls: dict[tuple[str, ...], ModuleCall] = {}
        # lowering-order positions: the first (`priority`) and last (`last`) original node a
        # node stands for (a call node stands for its group's nodes)
        self.priority: dict[ir.Node, float] = {}
        self.last: dict[ir.Node, float] = {}
        ep = context.exported_program
        self.params = (None if context.options.keep_initializers_as_inputs else
                       frozenset(ep.state_dict) if ep is not None else frozenset())
        self.names = FunctionNames({f.identifier()[:2] for f in model.functions.values()})
        self.variants: dict[tuple, list[_Variant]] = {}
        self.notes: list[str] = []
        self.replaced: dict[ir.Value, ir.Value] = {}  # a contracted group's output -> call's
        # function -> indices of its outputs onnx cannot type (made by ops without a schema)
        self.opaque_outputs: dict[tuple[str, str, str], set[int]] = {}

    # -- driver --------------------------------------------------------------------------------
    def run(self) -> bool:
        for i, node in enumerate(self.graph):
            self.priority[node] = self.last[node] = i
            chain = self.index.chain(node)
            self.chains[node] = tuple(c.key[-1] for c in chain)
            for c in chain:
                self.calls.setdefault(c.key, c)
        self._note_unused_option()
        depths = sorted({c.depth for c in self.calls.values() if wanted(c, self.option)},
                        reverse=True)
        made = False
        for depth in depths:
            made |= self._depth(depth)
            common.TopologicalSortPass()(self.model)
        if made:
            self._drop_orphan_constants()
            self._declare_domains()
            common.TopologicalSortPass()(self.model)
        self.context.notes.extend(self.notes)
        return made

    def _untyped_read(self, group: Group) -> str | None:
        """Why onnx could not type ``group``'s body, or None.

        onnx infers a function body's types from its inputs only (it ignores value_info there),
        and knows no types for ops without an onnx schema (onnxruntime's ``com.microsoft``
        ops). In the graph the exported value types stand in; in a body, a standard op or a call
        that reads such an op's output fails the checker, so that module call stays plain.
        """
        opaque: dict[ir.Value, ir.Node] = {}
        for n in group.members:
            for v in n.inputs:
                if v in opaque and (_has_schema(n) or self._is_call(n)):
                    src = opaque[v]
                    what = (f"the output of function {src.op_type}, made by an op without an "
                            "onnx schema" if self._is_call(src)
                            else f"{src.domain}::{src.op_type}'s output")
                    return (f"inside a function onnx cannot infer the type of {what}, which "
                            f"{n.op_type} reads.")
            if self._is_call(n):
                outs = self.opaque_outputs.get((n.domain, n.op_type, n.overload), ())
                opaque.update({n.outputs[i]: n for i in outs})
            elif not _has_schema(n):
                opaque.update({v: n for v in n.outputs})
        return None

    def _opaque_outputs(self, group: Group) -> set[int]:
        out = set()
        for k, v in enumerate(group.outputs):
            p = v.producer()
            if self._is_call(p):
                if v.index() in self.opaque_outputs.get((p.domain, p.op_type, p.overload), ()):
                    out.add(k)
            elif not _has_schema(p):
                out.add(k)
        return out

    def _is_call(self, node: ir.Node) -> bool:
        return (node.domain, node.op_type, node.overload) in self.model.functions

    def _note_unused_option(self) -> None:
        """Say so when the option selects nothing, rather than export flat in silence."""
        if not self.calls:
            self.notes.append(
                "export_modules_as_functions: the captured program records no nn.Module calls "
                "(nn_module_stack), so no local functions were made.")
        elif self.option is not True:
            missing = sorted(type_name(t) for t in self.option
                             if not any(wanted(c, frozenset({t})) for c in self.calls.values()))
            if missing:
                self.notes.append(
                    "export_modules_as_functions: the model calls no module of type "
                    f"{', '.join(missing)} (types match exactly, subclasses are not included).")

    def _depth(self, depth: int) -> bool:
        owner = _owners(self.graph)
        buckets: dict[tuple[str, ...], list[ir.Node]] = {}
        for node in self.graph:
            chain = self.chains.get(node, ())
            if len(chain) >= depth and not is_constant(node):
                call = self.calls.get(chain[:depth])
                if call is not None and wanted(call, self.option):
                    buckets.setdefault(chain[:depth], []).append(node)
        groups: list[Group] = []
        for key, members in buckets.items():
            group = analyse(self.calls[key], members, self.graph, self.priority, owner,
                            self.params)
            if group is None:
                continue
            why = self._untyped_read(group)
            if why:
                self.notes.append(
                    f"export_modules_as_functions: the call of {group.call.path!r} "
                    f"({group.call.type_name}) stays as plain nodes: {why}")
                continue
            groups.append(group)
        by_kind: dict[tuple, list[Group]] = {}
        for g in groups:
            kind = (_class_key(g.call), g.shape)
            by_kind.setdefault(kind, []).append(g)
        made = False
        for kind, members in by_kind.items():
            known = self.variants.setdefault(kind, [])
            fresh = []
            for g in members:
                # a function made at a deeper level serves this call if its baked values match
                variant = next((v for v in known if v.serves(g)), None)
                if variant is None:
                    fresh.append(g)
                else:
                    made |= self._replace(variant, g, owner)
            if fresh:
                variant = _Variant(fresh)
                self._infer_attributes(variant)
                known.append(variant)
                for g in fresh:
                    made |= self._replace(variant, g, owner)
        return made

    # -- attributes -----------------------------------------------------------------------------
    def _infer_attributes(self, variant: _Variant) -> None:
        first = variant.groups[0]
        counts: dict[str, int] = {}
        for s, (p, attr) in enumerate(first.slots):
            values = {g.slot_values[s] for g in variant.groups}
            if len(values) > 1:
                op_type = first.items[p].op_type
                variant.inferred[s] = inferred_name(op_type, attr, counts)

    # -- contraction ----------------------------------------------------------------------------
    def _replace(self, variant: _Variant, group: Group, owner: dict[ir.Node, ir.Node]) -> bool:
        members = set(group.members)
        # an input may come from a group contracted since this one was described
        group.inputs = [self._current(v) for v in group.inputs]
        if not self._contractible(group, members, owner):
            self.notes.append(
                f"export_modules_as_functions: the call of {group.call.path!r} "
                f"({group.call.type_name}) stays as plain nodes: a value leaves it and flows back "
                "into it, so it cannot be one function call.")
            return False
        first = variant.function is None
        if first:
            variant.function = self._define(variant)
        fn = variant.function
        attrs = [copy_attr(group.items[group.slots[s][0]].attributes[group.slots[s][1]], name)
                 for s, name in variant.inferred.items()]
        attrs += annotated_attributes(group.call.module)
        call = ir.Node(fn.domain, fn.name, group.inputs, attrs,
                       num_outputs=len(group.outputs), name=group.call.path)
        self.graph.insert_before(group.members[0], call)
        self.priority[call] = min(self.priority.get(m, 0) for m in group.members)
        self.last[call] = max(self.last.get(m, 0) for m in group.members)
        self.chains[call] = group.call.key[:-1]
        for k, v in enumerate(group.outputs):
            new = call.outputs[k]
            new.name, new.type, new.shape = v.name, v.type, v.shape
            self.replaced[v] = new
            for user, idx in list(v.uses()):
                if owner.get(user, user) not in members:
                    user.replace_input_with(idx, new)
            if v.is_graph_output():
                outs = self.graph.outputs
                for i, o in enumerate(outs):
                    if o is v:
                        outs[i] = new
        if first:
            self.opaque_outputs[fn.identifier()] = self._opaque_outputs(group)
            self._move_into_body(variant, group)
        else:
            self._discard(group)
        return True

    def _contractible(self, group: Group, members: set[ir.Node],
                      owner: Mapping[ir.Node, ir.Node]) -> bool:
        """No path leaves the group and re-enters it (contracting it would make a cycle).

        The lowering order stays a topological order of the original nodes, so a node whose
        first original node comes after the group's last one cannot lead back into it: the
        search stops there, and stays local to the group's neighbourhood.
        """
        limit = max(self.last.get(m, float("inf")) for m in members)
        seen: set[ir.Node] = set()
        stack = [o for v in group.outputs for u, _ in v.uses()
                 if (o := owner.get(u, u)) not in members]
        while stack:
            n = stack.pop()
            if n in members:
                return False
            if n in seen or self.priority.get(n, float("-inf")) >= limit:
                continue
            seen.add(n)
            for v in n.outputs:
                stack.extend(owner.get(u, u) for u, _ in v.uses())
        return True

    def _current(self, v: ir.Value) -> ir.Value:
        while v in self.replaced:
            v = self.replaced[v]
        return v

    def _define(self, variant: _Variant) -> ir.Function:
        """An empty function for ``variant``, with its attributes declared."""
        group = variant.groups[0]
        domain, name = self.names.allocate(*class_identity(group.call))
        declared: dict[str, ir.Attr] = {}
        for s, attr_name in variant.inferred.items():
            p, a = group.slots[s]
            declared[attr_name] = ir.Attr(attr_name, group.items[p].attributes[a].type, None)
        for g in variant.groups:
            for a in annotated_attributes(g.call.module):
                declared.setdefault(a.name, ir.Attr(a.name, a.type, None))
        body = ir.Graph([], [], nodes=[], name=name,
                        opset_imports={"": self.graph.opset_imports[""]})
        fn = ir.Function(domain, name, graph=body, attributes=list(declared.values()))
        self.model.functions[fn.identifier()] = fn
        return fn

    def _move_into_body(self, variant: _Variant, group: Group) -> None:
        """Move ``group``'s nodes (and copies of the constants it reads) into the function."""
        body = variant.function.graph
        inputs = {v: ir.Value(name=name)
                  for v, name in zip(group.inputs, _input_names(group))}
        consts: dict[ir.Value, ir.Value] = {}
        clones = []
        for c, v in zip(group.items[:group.n_constants], group.constant_values):
            clone = ir.Node("", "Constant", [], [copy_attr(a) for a in c.attributes.values()],
                            num_outputs=1, name=c.name)
            clone.outputs[0].name = v.name
            consts[v] = clone.outputs[0]
            clones.append(clone)
        members = group.members
        for m in members:
            for n in (m, *nested_nodes(m)):
                for i, v in enumerate(n.inputs):
                    if v in inputs:
                        n.replace_input_with(i, inputs[v])
                    elif v in consts:
                        n.replace_input_with(i, consts[v])
        self.graph.remove(members, safe=False)
        body.inputs.extend(inputs[v] for v in group.inputs)
        items = clones + members
        body.extend(items)
        body.outputs.extend(group.outputs)
        for s, attr_name in variant.inferred.items():
            p, a = group.slots[s]
            items[p].attributes[a] = ir.RefAttr(a, attr_name, items[p].attributes[a].type)
        for n in items:
            for v in n.outputs:  # one body serves calls of other shapes: no value types
                v.type, v.shape = None, None

    def _discard(self, group: Group) -> None:
        for m in group.members:
            for n in (m, *nested_nodes(m)):
                for i in range(len(n.inputs)):
                    n.replace_input_with(i, None)
        self.graph.remove(group.members, safe=False)

    # -- finishing ------------------------------------------------------------------------------
    def _drop_orphan_constants(self) -> None:
        """Constants (nodes, small initializers) that only function bodies read now."""
        dead = [n for n in self.graph if is_constant(n)
                and not any(v.uses() or v.is_graph_output() for v in n.outputs)]
        if dead:
            self.graph.remove(dead, safe=True)
        inits = self.graph.initializers
        for name in [k for k, v in inits.items() if is_small_constant(v, self.params)
                     and not v.uses() and not v.is_graph_output()]:
            del inits[name]

    def _declare_domains(self) -> None:
        for fn in self.model.functions.values():
            self.graph.opset_imports.setdefault(fn.domain, FUNCTION_DOMAIN_VERSION)
            for n in ir.traversal.RecursiveGraphIterator(fn.graph):
                if n.domain not in fn.graph.opset_imports:
                    fn.graph.opset_imports[n.domain] = self.graph.opset_imports.get(
                        n.domain, FUNCTION_DOMAIN_VERSION)


def _input_names(group: Group) -> list[str]:
    """Names of the function's inputs: a parameter ``layers.3.fc.weight`` of the call of
    ``layers.3`` is ``fc.weight``; other values keep their names, made unique."""
    base = group.call.path + "."
    taken: set[str] = set()
    out = []
    for v in group.inputs:
        name = v.name or "input"
        name = name[len(base):] if name.startswith(base) else name
        unique, k = name, 0
        while unique in taken:
            k += 1
            unique = f"{name}_{k}"
        taken.add(unique)
        out.append(unique)
    return out


@lru_cache(maxsize=None)
def _schema_known(op_type: str, domain: str) -> bool:
    return onnx.defs.has(op_type, domain)


def _has_schema(node: ir.Node) -> bool:
    return _schema_known(node.op_type, node.domain)


def _class_key(call: ModuleCall) -> object:
    return call.cls if call.cls is not None else call.type_name


def _owners(graph: ir.Graph) -> dict[ir.Node, ir.Node]:
    """Each node inside a subgraph -> the top-level node that holds it."""
    out: dict[ir.Node, ir.Node] = {}
    for node in graph:
        for n in nested_nodes(node):
            out[n] = node
    return out

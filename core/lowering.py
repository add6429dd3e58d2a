"""Lowering: walk the FX graph of an ExportedProgram once and build the ONNX graph.

Each ``call_function`` node is converted by the symbolic function the registry picks for its
key. Values whose inputs are all constants (parameters, buffers, lifted constants, and results
of such computations) are folded eagerly in PyTorch when constant folding is on, and only
materialised as initializers when an ONNX node needs them: nothing is emitted that a later pass
would fold away, and parameters stay zero-copy torch tensors until the model is saved.
"""

from __future__ import annotations

import inspect
import json
import operator
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import onnx_ir as ir
import sympy
import torch
from torch.export.graph_signature import InputKind, OutputKind
from torch.fx.experimental.symbolic_shapes import is_concrete_int

from .autograd_functions import adapt_entry
from .enums import TrainingMode
from .errors import OnnxExporterError
from .failures import Failures
from .checkpoint import storage_key
from .distributions import distribution_version
from .graph import GraphContext, onnx_dtype, to_ir_tensor
from .options import ExportOptions
from .registry import Registry

FOLD_LIMIT = 1 << 20  # fold results up to this many elements (or no bigger than the inputs)
# A complex tensor is carried as a real one with a trailing dim of 2 (its view_as_real); values
# lowered from a complex FX value carry this mark in ``value.meta``.
COMPLEX_PAIRS = "complex_pairs"
# A symbolic function with this attribute set is never constant-folded (Q/DQ must stay nodes).
NO_FOLD = "__onnxplug_no_fold__"
# A conversion sets ``value.meta[STATE_OUTPUT] = name`` on a value that is the new state of a
# buffer (a training-mode BatchNormalization's running mean): it becomes a graph output named
# ``name``, after the model's own outputs. (onnxruntime computes such a node's statistics only
# when they are used.)
STATE_OUTPUT = "onnxplug.state_output"
# The model's metadata key listing those outputs' names (JSON), so verify and the test helpers
# compare only the model's own outputs with eager PyTorch (``ExportResult.state_outputs``).
STATE_OUTPUTS_KEY = "onnxplug.state_outputs"
_LIBRARY_DIRS = (torch.__file__.rsplit("/", 1)[0], __file__.rsplit("/", 1)[0] + "/")
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


class SubgraphFailed(Exception):
    """An op inside a subgraph (a branch or body of a higher-order op) did not convert.

    Raised by ``g.lower()`` (:mod:`onnxplug.subgraphs`) after the op was recorded in the
    export's failures; the conversion that asked for the subgraph is abandoned with it.
    """


def op_key(target: Any) -> str:
    """The registry key of an FX call target: ``aten::add.Tensor``, ``_operator::mul``..."""
    if isinstance(target, torch._ops.OpOverload):
        return f"{target._schema.name}.{target._overloadname}"
    if isinstance(target, torch._ops.HigherOrderOperator):
        return f"higher_order::{target.name()}"
    module = getattr(target, "__module__", None) or "builtins"
    return f"{module.replace('.', '_') if module.startswith('torch.') else module}::{target.__name__}"


def inplace_functional_key(key: str) -> str | None:
    """``aten::add_.Tensor`` -> ``aten::add.Tensor``; None for a key that is not in-place."""
    ns, _, rest = key.partition("::")
    name, dot, overload = rest.partition(".")
    if name.endswith("_") and not name.endswith("__") and not name.startswith("_"):
        return f"{ns}::{name[:-1]}{dot}{overload}"
    return None


def functional_overload(target: torch._ops.OpOverload) -> torch._ops.OpOverload | None:
    """The out-of-place twin of an in-place overload (``add_.Tensor`` -> ``add.Tensor``)."""
    key = inplace_functional_key(op_key(target))
    if key is None:
        return None
    ns, rest = key.split("::")
    name, _, overload = rest.partition(".")
    packet = getattr(getattr(torch.ops, ns), name, None)
    return getattr(packet, overload, None) if packet is not None else None


@lru_cache(maxsize=4096)
def source_location(stack_trace: str | None) -> str:
    """``file:line`` of the innermost frame outside PyTorch (the user's code), or ''."""
    if not stack_trace:
        return ""
    frames = _FRAME.findall(stack_trace)
    for path, line in reversed(frames):
        # "<eval_with_key>.5": code FX generated (the branches of torch.cond), not the user's
        if not path.startswith(_LIBRARY_DIRS) and not path.startswith("<eval_with_key>"):
            return f"{path}:{line}"
    return f"{frames[-1][0]}:{frames[-1][1]}" if frames else ""


def node_location(node: torch.fx.Node) -> str:
    return source_location(node.meta.get("stack_trace"))


_NO_COMPLEX = ("it has no conversion for complex inputs ({}); only conversions declared "
               "complex=True take them. Keep this op on real tensors (torch.view_as_real), or "
               "register a complex-aware conversion with custom_symbolics")


def no_complex_reason(key: str, dtypes: tuple[torch.dtype, ...], registry: Registry) -> str | None:
    """Why ``key`` with these input dtypes has no conversion when it has real ones only."""
    complex_ = sorted({str(dt).removeprefix("torch.") for dt in dtypes if dt.is_complex})
    if complex_ and registry.available_opsets(key):
        return _NO_COMPLEX.format(", ".join(complex_))
    return None


def dead_calls(graph: torch.fx.Graph) -> set[torch.fx.Node]:
    """The calls the lowering skips: each mutates nothing, and only such calls use it. That is
    runtime asserts, what only feeds them (``assert x.max().item() <= n``: the ``max``, the
    ``item`` and the comparison; ONNX has no assertions), and dead code. One pass from the
    output up, as a node's users come after it."""
    dead: set[torch.fx.Node] = set()
    for node in reversed(graph.nodes):
        target = node.target
        mutable = isinstance(target, torch._ops.OpOverload) and target._schema.is_mutable
        if node.op == "call_function" and not mutable and all(u in dead for u in node.users):
            dead.add(node)
    return dead


def input_dtypes(node: torch.fx.Node) -> tuple[torch.dtype, ...]:
    """The dtypes of a call's tensor inputs, from the FX metadata (``meta["val"]``), and
    ``torch.complex64`` for a Python complex number among its arguments."""
    out = [v.dtype for a in node.all_input_nodes if isinstance(v := a.meta.get("val"), torch.Tensor)]
    if any(isinstance(a, complex) for a in torch.utils._pytree.tree_leaves((node.args, node.kwargs))):
        out.append(torch.complex64)
    return tuple(out)


@lru_cache(maxsize=8192)
def _accepts(fn: Callable) -> tuple[float, frozenset[str] | None]:
    """How many positional args after ``g`` a symbolic accepts, and which keywords (None: any)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return float("inf"), None
    if params and params[0].kind != inspect.Parameter.VAR_POSITIONAL:
        params = params[1:]  # g (a leading *args takes g and the rest)
    n_pos: float = 0
    names: set[str] = set()
    any_kw = False
    for p in params:
        if p.kind == p.VAR_POSITIONAL:
            n_pos = float("inf")
        elif p.kind == p.VAR_KEYWORD:
            any_kw = True
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n_pos += 1
            names.add(p.name)
        elif p.kind == p.KEYWORD_ONLY:
            names.add(p.name)
    return n_pos, None if any_kw else frozenset(names)


def schema_args(target: Any, args: tuple, kwargs: Mapping[str, Any]):
    """Positional args (defaults filled) and keyword-only args of an ATen call, per its schema.

    Returns ``(positional, keyword_only, defaults)`` where ``defaults`` says, per positional
    index, whether the value is the schema default (so a symbolic may omit it).
    """
    schema = getattr(target, "_schema", None)
    if schema is None:
        return list(args), dict(kwargs), [False] * len(args)
    pos, kw, is_default = [], {}, []
    for i, a in enumerate(schema.arguments):
        if a.kwarg_only:
            if a.name in kwargs:
                kw[a.name] = kwargs[a.name]
            elif a.has_default_value():
                kw[(a.name, "default")] = a.default_value
            continue
        if i < len(args):
            pos.append(args[i]); is_default.append(False)
        elif a.name in kwargs:
            pos.append(kwargs[a.name]); is_default.append(False)
        elif a.has_default_value():
            pos.append(a.default_value); is_default.append(True)
        else:
            pos.append(None); is_default.append(True)
    return pos, kw, is_default


def fit_call(fn: Callable, key: str, pos: list, kw: dict, is_default: list):
    """Drop trailing defaulted args and defaulted keywords that ``fn`` does not declare."""
    n_pos, names = _accepts(fn)
    while len(pos) > n_pos:
        if not is_default[len(pos) - 1]:
            raise OnnxExporterError(
                f"symbolic function {fn.__qualname__} for {key} accepts {int(n_pos)} argument(s) "
                f"after g, but the call passes {len(pos)} (argument {len(pos)} is not the "
                "default). Add the missing parameters to the function."
            )
        pos = pos[:-1]
    out_kw = {}
    for k, v in kw.items():
        name, defaulted = (k[0], True) if isinstance(k, tuple) else (k, False)
        if names is None or name in names:
            out_kw[name] = v
        elif not defaulted:
            raise OnnxExporterError(
                f"symbolic function {fn.__qualname__} for {key} does not accept the keyword "
                f"{name!r}={v!r} that the call passes. Add it to the function's parameters."
            )
    return pos, out_kw


class SymbolNames:
    """Names of dynamic dimensions: torch symbols (``s77``) -> user names (``batch``)."""

    def __init__(self) -> None:
        self.names: dict[sympy.Symbol, sympy.Symbol] = {}

    def bind(self, dim: Any, name: str) -> None:
        if isinstance(dim, torch.SymInt):
            expr = dim.node.expr
            if isinstance(expr, sympy.Symbol) and expr not in self.names:
                self.names[expr] = sympy.Symbol(name)

    def dim(self, d: Any) -> int | ir.SymbolicDim:
        if isinstance(d, int):
            return d
        if isinstance(d, torch.SymInt):
            expr = d.node.expr
            if expr.is_number:
                return int(expr)
            return ir.SymbolicDim(str(expr.xreplace(self.names)))
        return ir.SymbolicDim(None)


@dataclass
class LoweringResult:
    """The lowered model, which conversion served each op key, and the FX nodes by name."""

    model: ir.Model
    served: dict[str, str] = field(default_factory=dict)  # op key -> "plugin: function"
    fx_nodes: dict[str, torch.fx.Node] = field(default_factory=dict)


def fetch_attr(module: torch.nn.Module, target: str) -> Any:
    """``module.a.b`` for the ``get_attr`` target ``"a.b"``."""
    obj: Any = module
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


class Lowerer:
    """Converts one ExportedProgram into an ``onnx_ir.Model``. Use once.

    What does not convert goes to ``failures`` (the export's :class:`Failures`, shared by its
    lowering rounds and decomposition).
    """

    def __init__(self, ep: torch.export.ExportedProgram, registry: Registry, options: ExportOptions,
                 plugin_names: list[str], symbols: SymbolNames, state_dict_order: list[str] | None,
                 opset_versions: Mapping[str, int], input_axis_names: list[dict[int, str]] | None = None,
                 *, failures: Failures | None = None, lower_into: Callable | None = None):
        self.ep = ep
        # lowers a branch or body for GraphContext.lower (onnxplug.subgraphs.lower_into, given by
        # the export: the lowering loop itself knows nothing of subgraphs)
        self.lower_into = lower_into
        self.registry = registry
        self.options = options
        self.plugin_names = plugin_names
        self.symbols = symbols
        self.state_dict_order = state_dict_order
        self.opset_versions = opset_versions
        self.input_axis_names = input_axis_names or []
        self.graph = ir.Graph([], [], nodes=[], name="main_graph")
        self.g = GraphContext(self.graph, options.opset_version, options,
                              declared=opset_versions)
        self.g._lowerer = self  # g.lower(): subgraphs with this export's machinery
        self.env: dict[torch.fx.Node, Any] = {}
        self.const_names: dict[int, str] = {}
        self.materialized: dict[int, ir.Value] = {}
        self.keepalive: list[torch.Tensor] = []
        self.fold = options.do_constant_folding and options.training != TrainingMode.TRAINING
        self.served: dict[str, str] = {}
        self._node_count = 0
        self.n_outputs = 0
        self.failures = failures if failures is not None else Failures()
        self._dead: dict[torch.fx.Graph, set[torch.fx.Node]] = {}  # per graph walked

    def _dead_calls(self, graph: torch.fx.Graph) -> set[torch.fx.Node]:
        """:func:`dead_calls` of ``graph`` (the program's, or a branch's), computed once."""
        if graph not in self._dead:
            self._dead[graph] = dead_calls(graph)
        return self._dead[graph]

    # -- values -------------------------------------------------------------------------------
    def value_of(self, x: Any) -> Any:
        """What a symbolic function receives for an FX argument."""
        if isinstance(x, torch.fx.Node):
            v = self.env[x]
            return self.materialize(v) if isinstance(v, torch.Tensor) else v
        if isinstance(x, (list, tuple)):
            return type(x)(self.value_of(i) for i in x)
        if isinstance(x, torch.Tensor):
            return self.materialize(x)
        return x

    def materialize(self, t: torch.Tensor) -> ir.Value:
        """The initializer holding constant tensor ``t`` (created on first use). Tensors that
        are the same values (tied weights: one storage under two names) share one initializer."""
        v = self.materialized.get(id(t))
        if v is None:
            v = self.materialized.get(storage_key(t))
            if v is not None:
                self.materialized[id(t)] = v
                return v
            name = self.const_names.get(id(t)) or f"_folded_{len(self.materialized)}"
            data = torch.view_as_real(t.resolve_conj()) if t.is_complex() else t
            v = ir.Value(name=name, const_value=to_ir_tensor(data, name=name),
                         type=ir.TensorType(onnx_dtype(data.dtype)), shape=ir.Shape(data.shape))
            if t.is_complex():
                v.meta[COMPLEX_PAIRS] = True
            self.graph.register_initializer(v)
            self.materialized[id(t)] = self.materialized[storage_key(t)] = v
            self.keepalive.append(t)
        return v

    def _const_arg(self, x: Any) -> tuple[bool, Any]:
        """(all-constant?, the argument with FX nodes replaced by constant tensors)."""
        if isinstance(x, torch.fx.Node):
            v = self.env[x]
            return (isinstance(v, (torch.Tensor, int, float, bool)) or v is None), v
        if isinstance(x, (list, tuple)):
            parts = [self._const_arg(i) for i in x]
            return all(p[0] for p in parts), type(x)(p[1] for p in parts)
        return True, x

    def _try_fold(self, node: torch.fx.Node) -> tuple[bool, Any]:
        target = node.target
        if not self.fold or not isinstance(target, torch._ops.OpOverload):
            return False, None
        if target._schema.is_mutable:
            target = functional_overload(target)  # fold x.detach_() as x.detach(): never mutate
            if target is None:
                return False, None
        if torch.Tag.nondeterministic_seeded in target.tags:
            return False, None
        if self.failures.lowering_failed and any(self.env.get(a) is None for a in node.all_input_nodes):
            return False, None  # an input's producer did not convert: there is nothing to fold
        key = op_key(node.target)  # winner(): a look that is not a pick (the usage check)
        entry = self.registry.winner(key) or self.registry.winner(key.rsplit(".", 1)[0])
        if entry is not None and getattr(entry.fn, NO_FOLD, False):
            return False, None
        ok_a, args = self._const_arg(node.args)
        ok_k, kwargs = self._const_arg(node.kwargs)
        if not (ok_a and ok_k):
            return False, None
        tensors = [a for a in torch.utils._pytree.tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        if not tensors:
            return False, None  # factories (zeros, arange...) stay ops: no big initializers
        val = node.meta.get("val")
        if isinstance(val, torch.Tensor):
            numel = val.numel()
            if not isinstance(numel, int):
                return False, None  # data-dependent size: leave it to the runtime
            if numel > max(FOLD_LIMIT, sum(t.numel() for t in tensors)):
                return False, None
        with torch.no_grad():
            return True, target(*args, **kwargs)

    # -- the walk --------------------------------------------------------------------------
    def run(self) -> LoweringResult | None:
        """Lower the program in four steps: inputs, nodes, outputs, model.

        Raises :class:`UnsupportedOperatorError` naming every op without a conversion. Returns
        None when conversions declined (``self.failures.declined_now``): the caller decomposes
        those ops with PyTorch and lowers again.
        """
        user_inputs, param_inputs = self._inputs()
        fx_nodes = self._nodes()
        if self.failures.unsupported:
            raise self.failures.error(self.registry, self.options.opset_version, self.plugin_names)
        if self.failures.declined_now:
            return None
        output = next(n for n in self.ep.graph.nodes if n.op == "output")
        self._outputs(output, self.ep.graph_signature)
        return LoweringResult(self._model(user_inputs, param_inputs), self.served, fx_nodes)

    def _inputs(self) -> tuple[list[ir.Value], dict[str, ir.Value]]:
        """Step 1, the placeholders: user inputs become graph inputs; parameters, buffers and
        lifted constants become graph inputs (``export_params=False``) or constants."""
        sig = self.ep.graph_signature
        specs = {s.arg.name: s for s in sig.input_specs if hasattr(s.arg, "name")}
        user_inputs: list[ir.Value] = []
        param_inputs: dict[str, ir.Value] = {}
        for node in self.ep.graph.nodes:
            if node.op != "placeholder":
                continue
            spec = specs.get(node.name)
            kind = spec.kind if spec is not None else InputKind.USER_INPUT
            if kind == InputKind.USER_INPUT:
                self._user_input(node, user_inputs)
            elif kind in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
                self._state_input(node, spec, param_inputs)
            else:
                self.env[node] = None  # tokens, custom objects: not representable
        return user_inputs, param_inputs

    def _user_input(self, node: torch.fx.Node, user_inputs: list[ir.Value]) -> None:
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            self.env[node] = val  # specialised Python scalar
            return
        idx, names = len(user_inputs), self.options.input_names
        name = names[idx] if idx < len(names) else node.name
        axes = self.input_axis_names[idx] if idx < len(self.input_axis_names) else {}
        for axis, dim_name in axes.items():
            if -val.dim() <= axis < val.dim():
                if is_concrete_int(val.shape[axis]):  # an int, or a SymInt fixed to one
                    raise OnnxExporterError(self._fixed_axis(name, axis, dim_name, int(val.shape[axis])))
                self.symbols.bind(val.shape[axis], dim_name)
        v = ir.Value(name=name)
        self._set_meta(v, val)
        user_inputs.append(v)
        self.env[node] = v

    def _fixed_axis(self, name: str, axis: int, dim_name: str, size: int) -> str:
        """Why a dynamic axis of an input is a constant in the program, and what to change."""
        ops = ", ".join(dict.fromkeys(self.failures.decomposed))
        why = (f"PyTorch's decomposition of {ops} (no conversion at opset "
               f"{self.options.opset_version}) needs that size" if ops else
               "the program was captured with that size")
        return (f"axis {axis} of input {name!r} (dynamic name {dim_name!r}) is fixed to {size}: "
                f"{why}, so the graph would only run at that size.\nWhat to do: remove the axis "
                "from dynamic_axes"
                + (", or give those ops a conversion that takes any size (custom_symbolics=...)."
                   if ops else ", or capture the model with it dynamic."))

    def _state_input(self, node: torch.fx.Node, spec, param_inputs: dict[str, ir.Value]) -> None:
        """A parameter, buffer or lifted constant: a graph input for persistent state when
        ``export_params=False``; otherwise a constant, materialised on first use."""
        ep, kind, target = self.ep, spec.kind, spec.target
        persistent = kind == InputKind.PARAMETER or (kind == InputKind.BUFFER and spec.persistent)
        t = ep.state_dict[target] if target in ep.state_dict else ep.constants[target]
        if not self.options.export_params and persistent:
            v = ir.Value(name=target)
            self._set_meta(v, t)
            param_inputs[target] = v
            self.env[node] = v
        else:
            self.const_names[id(t)] = target
            self.env[node] = t

    def _nodes(self) -> dict[str, torch.fx.Node]:
        """Step 2, the calls: convert each one; what does not convert goes to ``failures``."""
        fx_nodes: dict[str, torch.fx.Node] = {}
        for node in self.ep.graph.nodes:
            if node.op == "call_function":
                fx_nodes[node.name] = node
                self._lower(node)
            elif node.op == "get_attr":  # a branch or body of a higher-order op
                self.env[node] = fetch_attr(self.ep.graph_module, node.target)
        return fx_nodes

    def _model(self, user_inputs: list[ir.Value], param_inputs: dict[str, ir.Value]) -> ir.Model:
        """Step 4: graph inputs (user inputs, then state in state-dict order), opset imports."""
        opts = self.options
        self.graph.inputs.extend(user_inputs)
        order = self.state_dict_order or list(param_inputs)
        self.graph.inputs.extend(param_inputs[k] for k in order if k in param_inputs)
        self.graph.inputs.extend(v for k, v in param_inputs.items() if k not in order)
        self.graph.opset_imports[""] = opts.opset_version
        for domain in self.g.domains:
            self.graph.opset_imports[domain] = opts.custom_opsets.get(
                domain, self.opset_versions.get(domain, 1))
        model = ir.Model(self.graph, ir_version=_ir_version(opts.opset_version),
                         producer_name="onnxplug", producer_version=_version())
        state = [v.name for v in self.graph.outputs[self.n_outputs:]]
        if state:
            model.metadata_props[STATE_OUTPUTS_KEY] = json.dumps(state)
        return model

    def _lower(self, node: torch.fx.Node) -> None:
        """Convert one call: fold it, find its conversion, or record why it has none."""
        target = node.target
        if node in self._dead_calls(node.graph):
            return  # dead code, asserts
        if target is operator.getitem:
            src, idx = node.args
            # None: the producer declined or is missing; the failure is already recorded.
            self.env[node] = None if self.env[src] is None else self.env[src][idx]
            return
        key = op_key(target)
        mutable = isinstance(target, torch._ops.OpOverload) and target._schema.is_mutable
        folded, value = self._try_fold(node)
        if folded:
            self.env[node] = value
            if mutable and node.args and isinstance(node.args[0], torch.fx.Node):
                self.env[node.args[0]] = value
            return
        dtypes = input_dtypes(node)
        entry = self.registry.lookup(key, dtypes)
        rebinds = None
        if entry is None and mutable and (fkey := inplace_functional_key(key)):
            entry = self.registry.lookup(fkey, dtypes)  # x.add_(y) converted as x = x.add(y)
            rebinds = node.args[0] if node.args and isinstance(node.args[0], torch.fx.Node) else None
        if self.failures.lowering_failed and entry is not None:
            self.env[node] = None  # this lowering already failed: only collect what is missing
            return
        if entry is None:
            if reason := no_complex_reason(key, dtypes, self.registry):
                self.failures.add_reason(key, reason)
            self.failures.add_unsupported(key, node_location(node) or node.name)
            self.env[node] = None
            return
        self._convert(node, key, entry, rebinds)

    def _convert(self, node: torch.fx.Node, key: str, entry: Any,
                 rebinds: torch.fx.Node | None) -> None:
        """Call ``entry``'s function for ``node``: a decline is recorded, an error explained."""
        target = node.target
        entry = adapt_entry(entry, target, self.registry)  # a kept autograd.Function's conversion
        pos, kw, is_default = schema_args(target, node.args, node.kwargs)
        try:
            pos, kw = fit_call(entry.fn, key, pos, kw, is_default)
        except OnnxExporterError as exc:
            raise OnnxExporterError(f"{exc} (plugin {self._plugin_label(entry.plugin)}, FX node "
                                    f"{node.name!r} at "
                                    f"{node_location(node) or 'unknown'})") from None
        self.g.new_nodes = []
        self.g.set_fx_node(node)
        try:
            result = entry.fn(self.g, *self.value_of(pos), **{k: self.value_of(v) for k, v in kw.items()})
        except SubgraphFailed:
            self.env[node] = None  # an op inside its branch/body did not convert: recorded
            return
        except OnnxExporterError:
            raise
        except NotImplementedError as exc:
            # the conversion declines this case: PyTorch's decomposition gets a chance
            self.failures.add_declined(target, key, f"{entry.qualname} declined: {exc}")
            self.env[node] = None
            return
        except Exception as exc:
            raise OnnxExporterError(
                f"converting {key} (FX node {node.name!r} at {node_location(node) or 'unknown'}) "
                f"with {entry.qualname} from plugin {self._plugin_label(entry.plugin)} at opset "
                f"{self.options.opset_version} failed: {type(exc).__name__}: {exc}\nWhat to do: "
                "report it to that plugin, or override the op with custom_symbolics={key: fn}."
            ) from exc
        _check_result(node, key, entry, result, self.options.opset_version)
        self.served.setdefault(key, f"{entry.plugin}: {entry.qualname}")
        self._annotate(node, result)
        self.env[node] = result
        if rebinds is not None:
            self.env[rebinds] = result

    def _plugin_label(self, plugin: str) -> str:
        """``'name' (distribution version)`` of a loaded plugin, for messages; else ``'name'``."""
        for label in self.plugin_names:
            if label.startswith(f"{plugin} ("):
                return f"{plugin!r} ({label[len(plugin) + 2:]}"
        return repr(plugin)

    def fx_node_tag(self, node: torch.fx.Node) -> str:
        """What the ONNX nodes built for ``node`` carry as ``meta["fx_node"]``: its FX name, by
        which IR passes find it in ``PassContext.fx_nodes``."""
        return node.name

    def _annotate(self, node: torch.fx.Node, result: Any) -> None:
        """Carry FX metadata onto the new ONNX nodes and torch types onto the results."""
        where = node_location(node) if self.options.verbose else None  # parsing traces costs
        tag = self.fx_node_tag(node)
        for n in self.g.new_nodes:
            n.meta["fx_node"] = tag
            if where is not None:
                n.doc_string = where
            if n.name is None:
                self._node_count += 1
                n.name = f"{node.name}_n{self._node_count}"
        val = node.meta.get("val")
        if isinstance(result, ir.Value):
            self._check_dtype(node, result, val, 0)
            self._set_meta(result, val, node.name)
        elif isinstance(result, (tuple, list)) and isinstance(val, (tuple, list)):
            for i, (r, v) in enumerate(zip(result, val)):
                if isinstance(r, ir.Value):
                    self._check_dtype(node, r, v, i)
                    self._set_meta(r, v, f"{node.name}_{i}")

    def _check_dtype(self, node: torch.fx.Node, v: ir.Value, val: Any, i: int) -> None:
        """With ``ONNXPLUG_CHECK_TYPES=1`` (the test suites), a conversion whose output ``i`` has
        another type than PyTorch's fails; otherwise ``_set_meta`` relabels it as before."""
        if os.environ.get("ONNXPLUG_CHECK_TYPES") != "1" or not isinstance(val, torch.Tensor):
            return
        want = val.dtype.to_real() if val.dtype.is_complex else val.dtype  # complex: real pairs
        if v.dtype is None or v.dtype == onnx_dtype(want):
            return
        key = op_key(node.target)
        raise OnnxExporterError(
            f"converting {key} (FX node {node.name!r}) with {self.served.get(key, 'its conversion')}: "
            f"output {i} is {v.dtype.name} in ONNX but {val.dtype} in PyTorch. A dtype= given to "
            "g.op is wrong or a Cast is missing; fix the conversion (this check runs when "
            "ONNXPLUG_CHECK_TYPES=1, as in the test suites).")

    def _set_meta(self, v: ir.Value, val: Any, name: str | None = None) -> None:
        if name is not None and v.name is None:
            v.name = name
        if isinstance(val, torch.Tensor):
            pairs = [2] if val.dtype.is_complex else []  # complex: a real pair tensor
            if v.dtype is None or v.producer() is not None:
                v.dtype = onnx_dtype(val.dtype.to_real() if pairs else val.dtype)
            v.shape = ir.Shape([self.symbols.dim(d) for d in val.shape] + pairs)
            if pairs:
                v.meta[COMPLEX_PAIRS] = True
            else:
                v.meta.pop(COMPLEX_PAIRS, None)
        elif isinstance(val, torch.SymInt) or isinstance(val, int):
            if v.dtype is None:
                v.dtype = ir.DataType.INT64
                v.shape = ir.Shape([])

    def _outputs(self, node: torch.fx.Node, sig) -> None:
        out_names = list(self.options.output_names)
        results = node.args[0]
        outs: list[ir.Value] = []
        for spec, arg in zip(sig.output_specs, results):
            if spec.kind not in (OutputKind.USER_OUTPUT, OutputKind.LOSS_OUTPUT):
                continue
            if arg is None:
                continue
            v = self.value_of(arg)
            val = arg.meta.get("val") if isinstance(arg, torch.fx.Node) else arg
            if not isinstance(v, (ir.Value, torch.Tensor, int, float, bool)):
                raise OnnxExporterError(
                    f"output {len(outs)} of the model is a {type(v).__name__} ({v!r:.40}); ONNX "
                    "outputs are tensors. Return tensors (or numbers) from forward, and drop "
                    "or encode other values.")
            if not isinstance(v, ir.Value):
                v = self.g.constant(v)
            if v in outs or v.producer() is None or v.const_value is not None:  # inputs join later
                v = self.g.op("Identity", v)
            idx = len(outs)
            if idx < len(out_names):
                v.name = out_names[idx]
                for axis, dim_name in self.options.dynamic_axes.get(out_names[idx], {}).items():
                    if isinstance(val, torch.Tensor) and -val.dim() <= axis < val.dim():
                        self.symbols.bind(val.shape[axis], dim_name)
            self._set_meta(v, val)
            if idx < len(out_names):
                self._name_output_axes(v, out_names[idx])
            outs.append(v)
        if not outs:
            raise OnnxExporterError(
                "the model returns no tensor (only None or nothing), so the ONNX graph would "
                "have no outputs, which runtimes refuse to load. Return at least one tensor.")
        self.n_outputs = len(outs)
        self.graph.outputs.extend(outs + self._state_outputs(outs))

    def _state_outputs(self, outs: list[ir.Value]) -> list[ir.Value]:
        """The values conversions marked with :data:`STATE_OUTPUT`, named as marked."""
        taken = {v.name for v in outs} | set(self.graph.initializers)
        found = []
        for node in self.graph:
            for v in node.outputs:
                name = v.meta.get(STATE_OUTPUT)
                if name is None or v in outs:
                    continue
                while name in taken:
                    name += "_"
                v.name = name
                taken.add(name)
                found.append(v)
        return found

    def _name_output_axes(self, v: ir.Value, name: str) -> None:
        axes = self.options.dynamic_axes.get(name)
        if not axes or v.shape is None:
            return
        dims = list(v.shape)
        for axis, dim_name in axes.items():
            if -len(dims) <= axis < len(dims):
                dims[axis] = ir.SymbolicDim(dim_name)
        v.shape = ir.Shape(dims)


def _check_result(node: torch.fx.Node, key: str, entry: Any, result: Any, opset: int) -> None:
    """A conversion returns a value for each tensor result of the op: raise naming the function,
    its plugin, the op and the user's source line when it returned something else."""
    val = node.meta.get("val")
    single = (ir.Value, torch.Tensor, int, float, bool)
    if isinstance(val, torch.Tensor):
        bad = not isinstance(result, single)
        wanted = "one onnx_ir.Value (what g.op(...) returns)"
    elif isinstance(val, (tuple, list)):
        # a Tensor[] result (histogramdd's bin edges) is a list of values in its place
        bad = not isinstance(result, (tuple, list)) or any(
            r is not None and not isinstance(r, single) and not (
                isinstance(r, (tuple, list)) and all(isinstance(x, single) for x in r))
            for r in result)
        wanted = f"a tuple of {len(val)} onnx_ir.Value (g.op(..., outputs={len(val)}))"
    else:
        return
    if bad:
        raise OnnxExporterError(
            f"symbolic function {entry.qualname} from plugin {entry.plugin!r} returned "
            f"{type(result).__name__} ({result!r:.60}) for {key} (FX node {node.name!r} at "
            f"{node_location(node) or 'unknown'}) at opset {opset}; it must return {wanted}. "
            "Fix the function's return value (or report it to that plugin).")


def _ir_version(opset: int) -> int:
    import onnx.helper

    return onnx.helper.find_min_ir_version_for([onnx.helper.make_opsetid("", opset)])


@lru_cache(maxsize=1)
def _version() -> str:
    return distribution_version("onnxplug")

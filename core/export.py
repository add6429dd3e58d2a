"""``export()``: the pipeline, stage by stage (see docs/architecture.md).

options -> plugins -> capture -> fx passes -> decompose what has no conversion -> lower ->
ir passes -> opsets -> check -> verify -> save.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import logging
import sys
import time
import warnings
from collections.abc import Mapping
from typing import Any

import torch

from . import checkpoint, serialize, subgraphs
from .capture import (as_module, capture_report, is_torchscript, keywords_named,
                      long_lived_objects_frozen, split_args, stack_traces, training_mode)
from .check import check_model
from .decompose import decompose_unsupported
from .dynamic import (axis_names, dynamic_leaf_axes, dynamic_shapes_from_axes, grow_examples,
                      input_labels, tensor_leaves)
from .caches import (cache_pytrees, default_input_names, default_output_names,
                     is_default_cache_name, renamed_cache_kwargs)
from .guards import describe_ranges
from .errors import CaptureError, OnnxExporterError, OptionError
from .failures import Failures
from .fallbacks import (FallbackRegistry, available_export_types, collect_fallbacks, fallback_notes,
                        skip_verify, with_fallbacks)
from .lowering import Lowerer, SymbolNames
from .options import (check_axes_names, check_destination, check_inputs, check_names_against_graph,
                      export_parameters, make_options, parameters_doc)
from .passes import PassContext, run_fx_passes, run_ir_passes
from .plugins import load_plugins
from .registry import Registry
from .result import ExportResult

log = logging.getLogger("onnxplug")
FUNCTIONS_FEATURE = "export_modules_as_functions"


def _require_features(options, loaded, fallbacks) -> None:
    provided = loaded.provided_features()
    if options.wants_functions and FUNCTIONS_FEATURE not in provided:
        raise OptionError(
            "export_modules_as_functions needs a plugin that provides it, and none is loaded "
            "(not installed, or left out by ONNXPLUG_PLUGINS/ONNXPLUG_DISABLE). Install "
            "onnxplug-functions (pip install -e plugins/functions), or pass "
            "export_modules_as_functions=False.")
    if options.operator_export_type not in available_export_types(fallbacks):
        raise OptionError(
            f"operator_export_type={options.operator_export_type.name} is not available: no "
            "loaded plugin registers a fallback for it (onnxplug_register_fallbacks). Use "
            "OperatorExportTypes.ONNX, or register a symbolic function for each unsupported "
            "op (custom_symbolics=...).")


def export(model: Any, args: Any = (), f: Any = None, *, kwargs: Mapping | None = None,
           **options: Any) -> ExportResult:
    """Export a PyTorch model to ONNX. See docs/usage.md for every parameter.

    ``model`` (an ``nn.Module``, ``ExportedProgram`` or TorchScript module) is called with
    ``args`` (a tuple; a trailing dict holds keyword inputs) and ``kwargs``. Returns an
    :class:`ExportResult`; writes the model to ``f`` (a path or binary file object) unless ``f``
    is None. Raises :class:`OptionError` for bad arguments (before any work),
    :class:`UnsupportedOperatorError`, :class:`CheckerError`, or :class:`OnnxExporterError`.

    Options (keyword-only; each is a field of :class:`onnxplug.options.ExportOptions`):

    """
    options = make_options(**options)
    check_destination(f)
    if options.external_data and f is not None:
        serialize.require_path_for_external(f)
    with _exporter_logging(options.verbose), cache_pytrees(), contextlib.ExitStack() as stack:
        # Closing the stack moves a model saved with external data into place (see _export).
        return _export(model, args, kwargs, f, options, stack)



export.__signature__ = inspect.signature(export).replace(parameters=[
    *list(inspect.signature(export).parameters.values())[:4], *export_parameters()])
export.__doc__ = inspect.cleandoc(export.__doc__) + "\n" + parameters_doc()

def _export(model: Any, args: Any, kwargs: Mapping | None, f: Any, options,
            stack: contextlib.ExitStack) -> ExportResult:
    """Run the stages in order, each timed (``ExportResult.timings``, ``verbose``)."""
    run = _Run(as_module(model), args, kwargs, f, options, stack)
    run.timed("plugins", run.load)
    # what the imports and the plugins left is frozen for the whole export, not only capture:
    # the first full collection would otherwise traverse it inside a later stage
    with long_lived_objects_frozen(), training_mode(run.model, options.training):
        relocate = False
        try:
            run.timed("capture", run.capture)
            run.timed("fx passes", run.fx_passes)
            run.timed("lower", run.lower)
        except OnnxExporterError as exc:
            if not run.relocatable(exc):
                raise
            relocate = True  # outside the handler, so the located error is not chained to this one
        if relocate:
            run.relocate()
        run.timed("ir passes", run.ir_passes)
        run.timed("check", run.check)
        run.timed("save", run.stage_files)
        if options.verify:
            run.timed("verify", run.verify)
    return run.finish()


class _Run:
    """One export's state, passed from stage to stage. Each method is one stage."""

    def __init__(self, model: Any, args: Any, kwargs: Mapping | None, f: Any, options,
                 stack: contextlib.ExitStack):
        check_inputs(model, args, kwargs, options)
        if options.weights is not None:  # a meta-device model: match it with its checkpoint
            options = dataclasses.replace(options, weights=checkpoint.bind(model, options.weights))
        self.model, self.f, self.stack = model, f, stack
        self.args, kw = split_args(args, kwargs)
        self.kw = renamed_cache_kwargs(model, kw)
        self.options = _with_default_names(options, default_input_names(model, self.args, self.kw),
                                           "input_names")
        self.timings: dict[str, float] = {}
        self.saved: Any = None
        self.traces_dropped = False  # set by capture

    def timed(self, stage: str, step) -> None:
        start = time.perf_counter()
        step()
        self.timings[stage] = time.perf_counter() - start
        log.info("%s: %.3fs", stage, self.timings[stage])
        if self.options.verbose:
            print(f"onnxplug: {stage} {self.timings[stage]:.3f}s", file=sys.stderr)

    def load(self) -> None:
        """Plugins, the registry for the target opset, and the name checks that need no graph."""
        model, options = self.model, self.options
        self.loaded = load_plugins()
        fallbacks = collect_fallbacks(self.loaded.pm)
        _require_features(options, self.loaded, fallbacks)
        self.state_order = None
        if isinstance(model, torch.nn.Module):
            self.state_order = list(model.state_dict().keys())
        elif isinstance(model, torch.export.ExportedProgram):
            self.state_order = list(model.state_dict.keys())
        if not isinstance(model, torch.export.ExportedProgram):
            n_params = 0 if options.export_params else len(self.state_order or ())
            check_names_against_graph(options, len(tensor_leaves(self.args, self.kw)) + n_params,
                                      len(options.output_names))
        self.registry = FallbackRegistry.for_export(
            fallbacks, options.operator_export_type, self.loaded.symbolics, options.opset_version,
            options.custom_opsets, options.custom_symbolics)

    def capture(self, locations: bool = False) -> None:
        """Capture; each node's stack trace is recorded only with ``locations`` or ``verbose``
        (see :func:`~onnxplug.capture.stack_traces`)."""
        with checkpoint.meta_capture(self.model, self.args, self.kw, self.options.weights) as (args, kw), \
                stack_traces(locations or self.options.verbose) as self.traces_dropped:
            self.ep, self.axis_ranges = _capture(self.model, args, kw, self.options, self.loaded)
        self.capture_report = capture_report(self.ep)
        if self.capture_report.note:  # e.g. traced: data-dependent branches follow the example
            warnings.warn(f"onnxplug: {self.capture_report.note}", UserWarning, stacklevel=5)
        self.options = _with_default_names(
            self.options, default_output_names(self.ep.call_spec.out_spec), "output_names")
        check_axes_names(self.options)

    def fx_passes(self) -> None:
        self.ep = run_fx_passes(self.ep, self.loaded.fx_passes, self.options, self.loaded.label)
        self.ep, self.decomposed = with_fallbacks(self.registry, lambda: decompose_unsupported(
            self.ep, self.registry, self.options.opset_version, self.loaded.names()))

    def lower(self) -> None:
        axes = axis_names(self.model, self.args, self.kw, self.options)
        self.ep, lowerer, self.lowered, more = with_fallbacks(self.registry, lambda: _lower(
            self.ep, self.registry, self.options, self.loaded, self.state_order, axes, self.decomposed))
        self.decomposed += more
        check_names_against_graph(self.options, len(self.lowered.model.graph.inputs),
                                  lowerer.n_outputs)

    def relocatable(self, error: OnnxExporterError) -> bool:
        """Whether ``error``, out of fx passes or lowering, came from a program captured without
        stack traces: then its message (an unsupported op's ``file:line``, the node a conversion
        failed on) says ``unknown`` where the user's source line belongs. Errors that are not
        about nodes (bad options, a failed capture) are raised as they are."""
        return self.traces_dropped and not isinstance(error, (OptionError, CaptureError))

    def relocate(self) -> None:
        """Capture again, with stack traces, and run the stages up to lowering again, so that
        the error they raise has its locations. Only a failing export pays for this."""
        log.info("lowering failed: capturing again with stack traces, for the error's locations")
        self.timed("capture", lambda: self.capture(locations=True))
        self.timed("fx passes", self.fx_passes)
        self.timed("lower", self.lower)

    def ir_passes(self) -> None:
        self.context = PassContext(self.options, self.ep, self.lowered.fx_nodes, self.model)
        self.ir_model = run_ir_passes(self.lowered.model, self.loaded.ir_passes, self.context,
                                      self.loaded.label)
        _import_used_domains(self.ir_model, self.options, self.loaded.opset_versions)
        if self.options.keep_initializers_as_inputs:
            _initializers_as_inputs(self.ir_model)
        if self.axis_ranges:
            self.ir_model.metadata_props["onnxplug.dynamic_axes"] = json.dumps(self.axis_ranges)

    def check(self) -> None:
        self.external = serialize.needs_external_data(self.ir_model, self.options.external_data)
        check_model(self.ir_model)  # on a weight-free copy: no ModelProto holding the weights

    def stage_files(self) -> None:
        """A path is written now, tensors streamed, to a staging file (a folder for external
        data) beside it; closing the stack moves it into place once everything succeeded.
        verify runs the staged file (a temporary one when f is a file object or None)."""
        f, to_path = self.f, self.f is not None and not hasattr(self.f, "write")
        if self.external:
            target = serialize.require_path_for_external(f) if f is not None else None
            if target is not None or self.options.verify:
                self.saved = self.stack.enter_context(serialize.staged_external(self.ir_model, target))
        elif to_path or self.options.verify:
            self.saved = self.stack.enter_context(
                serialize.staged_file(self.ir_model, f if to_path else None))

    def verify(self) -> None:
        from .verify import verify_export

        # onnxruntime cannot run what a fallback emitted: skip_verify warns and skips
        if skip_verify(self.registry, self.lowered.served):
            return
        verify_export(self.model, self.args, self.kw, self.saved, self.ir_model, self.options,
                      self.ep)

    def finish(self) -> ExportResult:
        """The result; a file object gets the model now that everything succeeded."""
        options, f = self.options, self.f
        notes = [f"{key} has no conversion at opset {options.opset_version}; PyTorch's "
                 "decomposition was exported instead" for key in self.decomposed]
        result = ExportResult(self.ir_model, None, self.lowered.served, self.decomposed,
                              self.loaded.names(), self.timings,
                              notes + self.context.notes
                              + fallback_notes(self.registry, self.lowered.served))
        result.external_data = self.external
        result.axis_ranges = self.axis_ranges
        result.capture = self.capture_report
        if self.capture_report.note:
            result.warnings.insert(0, self.capture_report.note)
        if options.verbose:
            print(result.summary())
        if f is not None and hasattr(f, "write"):
            start = time.perf_counter()
            if self.saved is not None:
                serialize.copy_file(self.saved, f)
            else:
                serialize.save(self.ir_model, f, self.external)
            self.timings["save"] = self.timings.get("save", 0.0) + time.perf_counter() - start
            result.path = getattr(f, "name", None)
        elif f is not None:
            result.path = f
        return result


def _with_default_names(options, defaults: list[str | None], field: str):
    """``options`` with ``input_names``/``output_names`` extended past the names the user gave by
    default names (``input_ids``, ``past_key_values.0.key``, ``present.0.key``), when there are
    cache tensors or ``dynamic_axes`` refers to a default name."""
    given = list(getattr(options, field))
    wanted = [i for i, name in enumerate(defaults) if i >= len(given) and name
              and (is_default_cache_name(name) or name in options.dynamic_axes)]
    if not wanted:
        return options
    last = max(i for i, name in enumerate(defaults) if name)
    taken = set(given)
    for i in range(len(given), last + 1):
        name = defaults[i] or f"{field[:-6]}_{i}"
        while name in taken:
            name += "_"
        given.append(name)
        taken.add(name)
    return dataclasses.replace(options, **{field: tuple(given)})


def _capture(model: Any, args: tuple, kw: dict, options, loaded):
    """Capture ``model`` through the ``onnxplug_capture`` hook. Returns the program and, for
    each named dynamic axis, the range torch.export inferred (``{"seq": "2 .. 64"}``)."""
    leaf_axes = dynamic_leaf_axes(model, args, kw, options)
    if isinstance(model, torch.nn.Module) and not is_torchscript(model):
        labels = input_labels(options, len(leaf_axes))
        args, kw = grow_examples(args, kw, leaf_axes, labels)
    with keywords_named(model, kw):
        capture_options = dataclasses.replace(
            options, dynamic_shapes=dynamic_shapes_from_axes(model, args, kw, options))
        ep = loaded.pm.hook.onnxplug_capture(model=model, args=args, kwargs=kw, options=capture_options)
    if ep is None:
        raise OnnxExporterError("no capture plugin could capture the model.")
    ranges = describe_ranges(ep, leaf_axes)
    for name, text in ranges.items():
        log.info("dynamic axis %s: %s", name, text)
        if options.verbose:
            print(f"onnxplug: dynamic axis {name}: {text}", file=sys.stderr)
    return ep, ranges


def _lower(ep, registry: Registry, options, loaded, state_order, input_axis_names, decomposed=()):
    """Lower ``ep``; when conversions decline (NotImplementedError), decompose those ops with
    PyTorch and lower again. Every round records its failures in one :class:`Failures`, which
    starts with the ops the fx passes ``decomposed`` (for the errors that name them).
    Returns ``(program, lowerer, result, the op keys decomposed here)``."""
    failures = Failures()
    failures.add_decomposed(decomposed)
    before = len(failures.decomposed)
    while True:
        lowerer = Lowerer(ep, registry, options, loaded.names(), SymbolNames(), state_order,
                          loaded.opset_versions, input_axis_names, failures=failures,
                          lower_into=subgraphs.lower_into)
        with checkpoint.deferred_state(ep, options.weights):  # checkpoint weights, read lazily
            lowered = lowerer.run()
        if lowered is not None:
            return ep, lowerer, lowered, failures.decomposed[before:]
        declined = failures.declined_now
        if not failures.accept_declines():
            raise OnnxExporterError(f"conversions declined again: {', '.join(declined.values())}")
        ep, _ = decompose_unsupported(ep, registry, options.opset_version, loaded.names(), failures)


@contextlib.contextmanager
def _exporter_logging(verbose: bool):
    """``verbose=True`` turns on the exporter's INFO logging for the duration of the call."""
    if not verbose:
        yield
        return
    logger = logging.getLogger("onnxplug")
    before = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.setLevel(before)


def _import_used_domains(model, options, declared) -> None:
    """Every domain a node uses (passes and local functions included) is in ``opset_import``:
    at ``custom_opsets``' version, else its plugin's declared one, else 1."""
    nodes = [*model.graph.all_nodes(),
             *(n for fn in model.functions.values() for n in fn.all_nodes())]
    for domain in {n.domain for n in nodes} - {"", "ai.onnx"} - set(model.opset_imports):
        model.opset_imports[domain] = options.custom_opsets.get(domain, declared.get(domain, 1))


def _initializers_as_inputs(model) -> None:
    graph = model.graph
    present = set(graph.inputs)
    for v in graph.initializers.values():
        if v not in present:
            graph.inputs.append(v)

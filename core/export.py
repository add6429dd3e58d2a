"""``export()``: the pipeline, stage by stage (see docs/architecture.md).

options -> plugins -> capture -> fx passes -> decompose what has no conversion -> lower ->
ir passes -> opsets -> check -> verify -> save.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

import torch

from . import serialize
from .capture import as_module, is_torchscript, split_args, training_mode
from .check import check_model
from .decompose import decompose_unsupported
from .dynamic import (axis_names, dynamic_leaf_axes, dynamic_shapes_from_axes, grow_examples,
                      input_labels, tensor_leaves)
from .caches import (cache_pytrees, default_input_names, default_output_names,
                     is_default_cache_name, renamed_cache_kwargs)
from .guards import describe_ranges
from .enums import OperatorExportTypes, TrainingMode
from .errors import OnnxExporterError, OptionError
from .failures import Failures
from .lowering import Lowerer, SymbolNames
from .options import check_axes_names, check_destination, check_inputs, check_names_against_graph, make_options
from .passes import PassContext, run_fx_passes, run_ir_passes
from .plugins import load_plugins
from .registry import Registry
from .result import ExportResult

log = logging.getLogger("onnxplug")
FUNCTIONS_FEATURE = "export_modules_as_functions"


def _require_features(options, loaded) -> None:
    provided = loaded.provided_features()
    if options.wants_functions and FUNCTIONS_FEATURE not in provided:
        raise OptionError(
            "export_modules_as_functions is not available yet: no installed plugin provides it. "
            "Install the onnxplug-functions plugin (pip install -e plugins/functions) once it "
            "implements local functions, or pass export_modules_as_functions=False.")
    if options.operator_export_type != OperatorExportTypes.ONNX:
        feature = options.operator_export_type.name.lower()
        if feature not in provided:
            raise OptionError(
                f"operator_export_type={options.operator_export_type.name} is not available yet: "
                "no installed plugin provides it. Use OperatorExportTypes.ONNX, or register a "
                "symbolic function for each unsupported op (custom_symbolics=...).")
    if not options.autograd_inlining:
        raise OptionError(
            "autograd_inlining=False is not available yet: torch.export always inlines "
            "torch.autograd.Function calls. Pass autograd_inlining=True (the default).")


class _Stages:
    def __init__(self, verbose: bool):
        self.timings: dict[str, float] = {}
        self.verbose = verbose
        self._t = time.perf_counter()

    def done(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = now - self._t
        self._t = now
        log.info("%s: %.3fs", stage, self.timings[stage])
        if self.verbose:
            print(f"onnxplug: {stage} {self.timings[stage]:.3f}s", file=sys.stderr)


def export(model: Any, args: Any = (), f: Any = None, *,
           export_params: bool = True, verbose: bool = False,
           training: TrainingMode = TrainingMode.EVAL,
           input_names: list[str] | None = None, output_names: list[str] | None = None,
           operator_export_type: OperatorExportTypes = OperatorExportTypes.ONNX,
           opset_version: int | None = None, do_constant_folding: bool = True,
           dynamic_axes: Mapping | None = None, keep_initializers_as_inputs: bool | None = None,
           custom_opsets: Mapping[str, int] | None = None,
           export_modules_as_functions: bool | set[type] = False,
           autograd_inlining: bool = True, kwargs: Mapping | None = None,
           dynamic_shapes: Any = None, custom_symbolics: Mapping | None = None,
           verify: bool = False, external_data: bool | None = None) -> ExportResult:
    """Export a PyTorch model to ONNX. See docs/usage.md for every parameter.

    Returns an :class:`ExportResult`; writes the model to ``f`` (a path or binary file object)
    unless ``f`` is None. Raises :class:`OptionError` for bad arguments (before any work),
    :class:`UnsupportedOperatorError`, :class:`CheckerError`, or :class:`OnnxExporterError`.
    """
    options = make_options(
        export_params=export_params, verbose=verbose, training=training,
        input_names=input_names, output_names=output_names,
        operator_export_type=operator_export_type, opset_version=opset_version,
        do_constant_folding=do_constant_folding, dynamic_axes=dynamic_axes,
        keep_initializers_as_inputs=keep_initializers_as_inputs, custom_opsets=custom_opsets,
        export_modules_as_functions=export_modules_as_functions,
        autograd_inlining=autograd_inlining, dynamic_shapes=dynamic_shapes,
        custom_symbolics=custom_symbolics, verify=verify, external_data=external_data)
    check_destination(f)
    if external_data and f is not None:
        serialize.require_path_for_external(f)
    with _exporter_logging(options.verbose), cache_pytrees(), contextlib.ExitStack() as stack:
        # Closing the stack moves a model saved with external data into place (see _export).
        return _export(model, args, kwargs, f, options, stack)


def _export(model: Any, args: Any, kwargs: Mapping | None, f: Any, options,
            stack: contextlib.ExitStack) -> ExportResult:
    model = as_module(model)
    check_inputs(model, args, kwargs, options)
    args, kw = split_args(args, kwargs)
    kw = renamed_cache_kwargs(model, kw)
    options = _with_default_names(options, default_input_names(model, args, kw), "input_names")
    stages = _Stages(options.verbose)
    loaded = load_plugins()
    _require_features(options, loaded)
    state_order = list(model.state_dict().keys()) if isinstance(model, torch.nn.Module) else None
    if isinstance(model, torch.export.ExportedProgram):
        state_order = list(model.state_dict.keys())
    n_inputs = len(tensor_leaves(args, kw)) + (0 if options.export_params else len(state_order or ()))
    if not isinstance(model, torch.export.ExportedProgram):
        check_names_against_graph(options, n_inputs, len(options.output_names))
    registry = Registry.build(loaded.symbolics, options.opset_version, options.custom_opsets,
                              options.custom_symbolics)
    stages.done("plugins")

    with training_mode(model, options.training):
        ep, axis_ranges = _capture(model, args, kw, options, loaded)
        options = _with_default_names(options, default_output_names(ep.call_spec.out_spec),
                                      "output_names")
        check_axes_names(options)
        stages.done("capture")
        ep = run_fx_passes(ep, loaded.fx_passes, options)
        ep, decomposed = decompose_unsupported(ep, registry, options.opset_version, loaded.names())
        stages.done("fx passes")
        ep, lowerer, lowered, more = _lower(ep, registry, options, loaded, state_order,
                                            axis_names(model, args, kw, options))
        decomposed += more
        stages.done("lower")
        check_names_against_graph(options, len(lowered.model.graph.inputs), lowerer.n_outputs)
        context = PassContext(options, ep, lowered.fx_nodes, model)
        ir_model = run_ir_passes(lowered.model, loaded.ir_passes, context)
        if options.keep_initializers_as_inputs:
            _initializers_as_inputs(ir_model)
        if axis_ranges:
            ir_model.metadata_props["onnxplug.dynamic_axes"] = json.dumps(axis_ranges)
        stages.done("ir passes")

        external = serialize.needs_external_data(ir_model, options.external_data)
        check_model(ir_model)  # on a weight-free copy: no ModelProto holding the weights
        stages.done("check")
        # A path is written now, tensors streamed, to a staging file (a folder for external
        # data) beside it; closing the stack moves it into place once everything succeeded.
        # verify runs the staged file (a temporary one when f is a file object or None).
        saved = None
        if external:
            target = serialize.require_path_for_external(f) if f is not None else None
            if target is not None or options.verify:
                saved = stack.enter_context(serialize.staged_external(ir_model, target))
        elif (f is not None and not hasattr(f, "write")) or options.verify:
            target = f if f is not None and not hasattr(f, "write") else None
            saved = stack.enter_context(serialize.staged_file(ir_model, target))
        if f is not None and not hasattr(f, "write"):
            stages.done("save")
        if options.verify:
            from .verify import verify_export

            verify_export(model, args, kw, saved, ir_model, options, ep)
            stages.done("verify")
    notes = [f"{key} has no conversion at opset {options.opset_version}; PyTorch's "
             "decomposition was exported instead" for key in decomposed] + context.notes
    result = ExportResult(ir_model, None, lowered.served, decomposed, loaded.names(),
                          stages.timings, notes)
    result.external_data = external
    result.axis_ranges = axis_ranges
    if options.verbose:
        print(result.summary())
    if f is not None:
        if hasattr(f, "write"):  # a file object gets the model once everything succeeded
            if saved is not None:
                serialize.copy_file(saved, f)
            else:
                serialize.save(ir_model, f, external)
            stages.done("save")
        result.path = f if not hasattr(f, "write") else getattr(f, "name", None)
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
    last = max(wanted)
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


def _lower(ep, registry: Registry, options, loaded, state_order, input_axis_names):
    """Lower ``ep``; when conversions decline (NotImplementedError), decompose those ops with
    PyTorch and lower again. Every round records its failures in one :class:`Failures`.
    Returns ``(program, lowerer, result, decomposed op keys)``."""
    failures = Failures()
    while True:
        lowerer = Lowerer(ep, registry, options, loaded.names(), SymbolNames(), state_order,
                          loaded.opset_versions, input_axis_names, failures=failures)
        lowered = lowerer.run()
        if lowered is not None:
            return ep, lowerer, lowered, failures.decomposed
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


def _initializers_as_inputs(model) -> None:
    graph = model.graph
    present = set(graph.inputs)
    for v in graph.initializers.values():
        if v not in present:
            graph.inputs.append(v)

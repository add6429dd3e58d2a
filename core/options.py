"""`ExportOptions`: every argument of `export()`, declared once, validated once and frozen.

Each field of :class:`ExportOptions` carries, beside its type and default, the check that
validates it (:mod:`onnxplug.option_checks`), the default ``export()`` shows, and one line of
documentation: :func:`make_options` is a loop over the fields, and ``export()``'s signature and
docstring are generated from them (:func:`export_parameters`, :func:`parameters_doc`). Adding an
option is adding a field.

Validation happens here, before capture, so a wrong argument fails fast with an
:class:`~onnxplug.errors.OptionError` that says what is wrong and what to do, and nothing is
written. Checks that need the captured graph (how many inputs the model really has) live in
:func:`check_names_against_graph`.
"""

from __future__ import annotations

import difflib
import inspect
import io
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from enum import Enum
from typing import Any

from . import option_checks as check
from .enums import OperatorExportTypes, TrainingMode
from .errors import OptionError
from .opsets import DEFAULT_OPSET
from .option_checks import CAPTURE_CHOICES, FUNCTIONS_MIN_OPSET  # noqa: F401 - re-exported

_SAME = object()  # export() shows the field's own default


def option(default: Any = None, validate: Callable[[str, Any, Mapping], Any] = check.flag, *,
           doc: str, shown: Any = _SAME, shown_type: str | None = None,
           factory: Callable[[], Any] | None = None) -> Any:
    """A field of :class:`ExportOptions`: its default, its check, its line in ``export()``'s
    docstring, and the default (and type) ``export()`` shows when they differ from the field's."""
    metadata = {"check": validate, "doc": doc, "shown": shown, "shown_type": shown_type}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class ExportOptions:
    """The validated, normalised arguments of one export.

    Symbolic functions and passes see it as ``g.options``. `dynamic_axes` is normalised to
    ``{name: {axis: dim_name}}`` (the list form gets generated names) and
    `keep_initializers_as_inputs` to a bool. Fields are validated in this order; a check may
    read the fields before it.
    """

    export_params: bool = option(True, doc="False: parameters become graph inputs after the "
                                 "real inputs, in state_dict() order.")
    verbose: bool = option(False, doc="print the graph and timings; nodes get their source line.")
    training: TrainingMode = option(TrainingMode.EVAL, check.member_of(TrainingMode),
                                    doc="EVAL, PRESERVE (follow model.training) or TRAINING.")
    input_names: tuple[str, ...] = option((), check.names, shown=None,
                                          shown_type="list[str] | None",
                                          doc="names of the graph inputs, in order.")
    output_names: tuple[str, ...] = option((), check.output_names, shown=None,
                                           shown_type="list[str] | None",
                                           doc="names of the graph outputs, in order.")
    operator_export_type: OperatorExportTypes = option(
        OperatorExportTypes.ONNX, check.member_of(OperatorExportTypes),
        doc="ONNX, ONNX_ATEN, ONNX_ATEN_FALLBACK or ONNX_FALLTHROUGH (docs/usage.md).")
    opset_version: int = option(DEFAULT_OPSET, check.opset, shown_type="int | None",
                                doc="target opset of the default domain (None: the default).")
    do_constant_folding: bool = option(True, doc="precompute what depends on constants only.")
    dynamic_axes: Mapping[str, Mapping[int, str]] = option(
        validate=check.dynamic_axes, factory=dict, shown=None, shown_type="Mapping | None",
        doc="{name: {axis: dim_name}} or {name: [axis, ...]} for named inputs and outputs.")
    keep_initializers_as_inputs: bool = option(
        False, check.keep_initializers, shown=None, shown_type="bool | None",
        doc="initializers also graph inputs; None: False for ONNX, True for the other types.")
    custom_opsets: Mapping[str, int] = option(
        validate=check.custom_opsets, factory=dict, shown=None,
        shown_type="Mapping[str, int] | None", doc="{custom domain: version}.")
    export_modules_as_functions: bool | frozenset[type] = option(
        False, check.functions, shown_type="bool | set[type]",
        doc="module calls become ONNX local functions (all, or a set of module types).")
    autograd_inlining: bool = option(True, doc="inline torch.autograd.Function calls.")
    dynamic_shapes: Any = option(None, check.dynamic_shapes,
                                 doc="torch.export's form of dynamic dimensions.")
    custom_symbolics: Mapping[str, Any] = option(
        validate=check.custom_symbolics, factory=dict, shown=None, shown_type="Mapping | None",
        doc="{'namespace::op': function} conversions for this call.")
    verify: bool = option(False, doc="run in onnxruntime and compare with eager PyTorch.")
    external_data: bool | None = option(None, check.optional_flag,
                                        doc="weights beside the model (None: only past 2 GB).")
    # weights= as passed; from the start of the export, the checkpoint.Binding made from it
    # (None: the model holds its own weights)
    weights: Any = option(None, check.weights,
                          doc="the weights of a meta-device model (safetensors files, state dict).")
    capture: str = option("auto", check.capture,
                          doc="'auto' (torch.export, then tracing), 'export' or 'trace'.")

    @property
    def wants_functions(self) -> bool:
        return bool(self.export_modules_as_functions)


def _shown_default(f) -> Any:
    shown = f.metadata["shown"]
    if shown is not _SAME:
        return shown
    return f.default_factory() if f.default_factory is not MISSING else f.default


def _shown(value: Any) -> str:
    return f"{type(value).__name__}.{value.name}" if isinstance(value, Enum) else repr(value)


def make_options(**kw: Any) -> ExportOptions:
    """Validate and normalise the keyword arguments of `export()` into `ExportOptions`.

    An argument not given takes the default ``export()`` shows; an unknown one is an error.
    """
    known = [f.name for f in fields(ExportOptions)]
    for name in kw:
        if name not in known:
            near = ([k for k in known if k.startswith(name)]
                    or difflib.get_close_matches(name, known, n=1))
            raise OptionError(f"export() got an unexpected keyword argument {name!r}"
                              + (f"; did you mean {near[0]!r}?" if near else "."))
    done: dict[str, Any] = {}
    for f in fields(ExportOptions):
        done[f.name] = f.metadata["check"](f.name, kw.get(f.name, _shown_default(f)), done)
    return ExportOptions(**done)


def export_parameters() -> list[inspect.Parameter]:
    """``export()``'s keyword-only option parameters, with the defaults and types it shows."""
    return [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=_shown_default(f),
                              annotation=f.metadata["shown_type"] or f.type)
            for f in fields(ExportOptions)]


def parameters_doc() -> str:
    """One line per option, for ``export()``'s docstring."""
    return "\n".join(f"    {f.name} (default {_shown(_shown_default(f))}): {f.metadata['doc']}"
                     for f in fields(ExportOptions))


def check_destination(f: Any) -> None:
    """`f` must be None, a path in a writable folder, or a writable binary file object.

    A path's folder is probed by creating (and removing) an empty temporary file in it, so a
    folder the process cannot write to fails here, before any work, whatever the reason
    (permissions, a read-only file system).
    """
    if f is None:
        return
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        if isinstance(path, bytes) or not path:
            raise OptionError(f"f must be a non-empty str path, got {f!r}.")
        if os.path.isdir(path):
            raise OptionError(f"f={path!r} is a directory; give a file path such as model.onnx.")
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise OptionError(
                f"cannot write {path!r}: folder {parent!r} does not exist. Create it first "
                "(os.makedirs) or choose another path.")
        try:
            fd, probe = tempfile.mkstemp(prefix=".onnxplug-probe-", dir=parent)
        except OSError as exc:
            raise OptionError(
                f"cannot write {path!r}: folder {parent!r} is not writable ({exc.strerror}). "
                "Choose a folder you can write to, or fix its permissions.") from None
        os.close(fd)
        os.unlink(probe)
        return
    if isinstance(f, io.TextIOBase):
        raise OptionError("f is a text-mode file; open it in binary mode ('wb') or pass a path.")
    if not callable(getattr(f, "write", None)):
        raise OptionError(
            f"f must be a path, a writable binary file object, or None; got {type(f).__name__}."
        )
    mode = getattr(f, "mode", "wb")
    if isinstance(mode, str) and "b" not in mode:
        raise OptionError("f is a text-mode file; open it in binary mode ('wb') or pass a path.")
    if getattr(f, "closed", False):
        raise OptionError("f is a closed file; pass an open binary file object or a path.")
    writable = getattr(f, "writable", None)
    if callable(writable) and not writable():
        raise OptionError(
            f"f is not open for writing (mode {mode!r}); open it with 'wb' or pass a path.")


def check_inputs(model: Any, args: Any, kwargs: Any, options: ExportOptions) -> None:
    """Checks of `export()`'s model and example inputs that need no capture.

    ``args`` and ``kwargs`` are the values the caller passed, before they are split into a
    positional tuple and a keyword dict.
    """
    import torch

    if not isinstance(args, (tuple, list, torch.Tensor, Mapping)):
        raise OptionError(
            f"args must be a tuple of example inputs (a single tensor is also accepted); got "
            f"{type(args).__name__}. Wrap one input in a tuple: args=(value,); pass () for none.")
    if kwargs is not None and (not isinstance(kwargs, Mapping)
                               or not all(isinstance(k, str) for k in kwargs)):
        raise OptionError(
            "kwargs must be a dict {parameter name: example input} with str keys; got "
            + (f"keys {[k for k in kwargs if not isinstance(k, str)]!r:.80}."
               if isinstance(kwargs, Mapping) else f"{type(kwargs).__name__}."))
    _no_numpy(args, "args")
    _no_numpy(kwargs, "kwargs")
    if isinstance(model, torch.nn.Module) and options.export_params and options.weights is None:
        meta = [name for name, t in (*model.named_parameters(), *model.named_buffers())
                if t.is_meta]
        if meta:
            raise OptionError(
                f"the model's weights are on the meta device (no values): {meta[:3]}"
                f"{' ...' if len(meta) > 3 else ''}. Load real weights first (model.to_empty("
                "device='cpu') then load_state_dict(...)), pass weights= (safetensors files or a state "
                "dict: see 'Models larger than memory' in docs/usage.md), or export the graph alone with "
                "export_params=False (the weights become graph inputs).")
    if isinstance(model, torch.export.ExportedProgram):
        check_program_axes(model, options)


def _no_numpy(value: Any, where: str) -> None:
    from torch.utils import _pytree as pytree

    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with torch
        return
    if any(isinstance(x, np.ndarray) for x in pytree.tree_leaves(value)):
        raise OptionError(
            f"{where} contains a numpy array; example inputs must be torch tensors: convert it "
            "with torch.from_numpy(array).")


def check_program_axes(ep: Any, options: ExportOptions) -> None:
    """`dynamic_axes` on an ExportedProgram may only name axes the program captured as dynamic.

    The program's shapes are fixed when it is captured; an axis it specialised to one size
    cannot be made dynamic afterwards, so naming one is a contradiction, not a wish to grant.
    """
    import torch

    if not options.dynamic_axes:
        return
    sig = ep.graph_signature
    placeholders = {n.name: n for n in ep.graph.nodes if n.op == "placeholder"}
    vals = [placeholders[name].meta.get("val") for name in sig.user_inputs if name in placeholders]
    tensors = [v for v in vals if isinstance(v, torch.Tensor)]
    for name, val in zip(options.input_names, tensors):
        for axis in options.dynamic_axes.get(name, {}):
            if not -val.dim() <= axis < val.dim():
                raise OptionError(
                    f"dynamic_axes[{name!r}] names axis {axis}, but that input of the "
                    f"ExportedProgram has {val.dim()} dimension(s) (shape {tuple(val.shape)}).")
            if isinstance(val.shape[axis], int):
                raise OptionError(
                    f"dynamic_axes[{name!r}] makes axis {axis} dynamic, but the ExportedProgram "
                    f"was captured with a fixed size {val.shape[axis]} there: its shapes cannot "
                    "change after capture. Capture it again with torch.export.export(..., "
                    "dynamic_shapes=...) marking that axis, or drop the axis from dynamic_axes.")


def check_names_against_graph(options: ExportOptions, n_inputs: int, n_outputs: int) -> None:
    """More names than the graph has inputs/outputs is an error (fewer is fine)."""
    if len(options.input_names) > n_inputs:
        raise OptionError(
            f"input_names has {len(options.input_names)} names but the model has only "
            f"{n_inputs} input(s): {list(options.input_names)}. Give at most {n_inputs} "
            "name(s); fewer names leave the rest automatic."
        )
    if len(options.output_names) > n_outputs:
        raise OptionError(
            f"output_names has {len(options.output_names)} names but the model has only "
            f"{n_outputs} output(s): {list(options.output_names)}. Give at most {n_outputs} "
            "name(s); fewer names leave the rest automatic."
        )


def check_axes_names(options: ExportOptions) -> None:
    """Every name in ``dynamic_axes`` is an input or output name (defaults included)."""
    known = set(options.input_names) | set(options.output_names)
    for name in options.dynamic_axes:
        if name not in known:
            raise OptionError(
                f"dynamic_axes names {name!r}, which is neither an input name "
                f"{list(options.input_names)} nor an output name {list(options.output_names)}. "
                "Name the input or output with input_names=/output_names= first.")

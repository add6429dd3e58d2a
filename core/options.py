"""`ExportOptions`: every argument of `export()`, validated once and frozen.

Validation happens here, before capture, so a wrong argument fails fast with an
:class:`~onnxplug.errors.OptionError` that says what is wrong and what to do, and nothing is
written. Checks that need the captured graph (how many inputs the model really has) live in
:func:`check_names_against_graph`.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import onnx

from .enums import OperatorExportTypes, TrainingMode
from .caches import is_default_cache_name
from .errors import OptionError
from .opsets import DEFAULT_OPSET, MIN_OPSET
from .opsets import newest_opset as max_opset

FUNCTIONS_MIN_OPSET = 15
CAPTURE_CHOICES = ("auto", "export", "trace")


@dataclass(frozen=True)
class ExportOptions:
    """The validated, normalised arguments of one export.

    Symbolic functions and passes see it as ``g.options``. `dynamic_axes` is normalised to
    ``{name: {axis: dim_name}}`` (the list form gets generated names) and
    `keep_initializers_as_inputs` to a bool.
    """

    export_params: bool = True
    verbose: bool = False
    training: TrainingMode = TrainingMode.EVAL
    input_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()
    operator_export_type: OperatorExportTypes = OperatorExportTypes.ONNX
    opset_version: int = DEFAULT_OPSET
    do_constant_folding: bool = True
    dynamic_axes: Mapping[str, Mapping[int, str]] = field(default_factory=dict)
    keep_initializers_as_inputs: bool = False
    custom_opsets: Mapping[str, int] = field(default_factory=dict)
    export_modules_as_functions: bool | frozenset[type] = False
    autograd_inlining: bool = True
    dynamic_shapes: Any = None
    custom_symbolics: Mapping[str, Any] = field(default_factory=dict)
    verify: bool = False
    external_data: bool | None = None
    # weights= as passed; from the start of the export, the checkpoint.Binding made from it
    # (None: the model holds its own weights)
    weights: Any = None
    capture: str = "auto"  # "auto", "export" or "trace" (see onnxplug.trace_capture)

    @property
    def wants_functions(self) -> bool:
        return bool(self.export_modules_as_functions)


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise OptionError(f"{name} must be True or False, got {value!r} ({type(value).__name__}).")
    return value


def _names(name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise OptionError(f"{name} must be a list of strings, got {value!r}.")
    bad = [v for v in value if not isinstance(v, str) or not v]
    if bad:
        raise OptionError(f"{name} must contain only non-empty strings; bad entries: {bad!r}.")
    dup = sorted({v for v in value if list(value).count(v) > 1})
    if dup:
        raise OptionError(f"{name} contains duplicates: {dup}. Every name must be unique.")
    return tuple(value)


def _enum(name: str, enum_type: type, value: Any):
    """A member of ``enum_type`` (or its int value); a str, bool or float is refused."""
    try:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(value)
        return enum_type(value)
    except (ValueError, TypeError):
        allowed = ", ".join(f"{enum_type.__name__}.{m.name}" for m in enum_type)
        raise OptionError(f"{name} must be one of {allowed}; got {value!r}.") from None


def _dynamic_axes(value: Any, input_names: tuple[str, ...], output_names: tuple[str, ...]):
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise OptionError(
            "dynamic_axes must be a dict {name: {axis: 'dim_name'}} or {name: [axis, ...]}, "
            f"got {type(value).__name__}."
        )
    known = set(input_names) | set(output_names)
    # Names of cache tensors (past_key_values.0.key) and of the inputs beside them are only known
    # once the arguments are flattened: export() checks them then (check_axes_names).
    cache_export = any(isinstance(k, str) and is_default_cache_name(k) for k in value)
    out: dict[str, dict[int, str]] = {}
    for tensor_name, axes in value.items():
        if tensor_name not in known and not cache_export:
            raise OptionError(
                f"dynamic_axes names {tensor_name!r}, which is neither in input_names "
                f"{list(input_names)} nor in output_names {list(output_names)}. Name the "
                "input or output with input_names=/output_names= first."
            )
        if isinstance(axes, Mapping):
            items = list(axes.items())
        elif isinstance(axes, Sequence) and not isinstance(axes, str):
            items = [(a, f"{tensor_name}_dynamic_axes_{k}") for k, a in enumerate(axes, start=1)]
        else:
            raise OptionError(
                f"dynamic_axes[{tensor_name!r}] must be a dict {{axis: name}} or a list of axes, "
                f"got {axes!r}."
            )
        norm: dict[int, str] = {}
        for axis, dim_name in items:
            if isinstance(axis, bool) or not isinstance(axis, int):
                raise OptionError(
                    f"dynamic_axes[{tensor_name!r}]: axis {axis!r} is not an int; give axes as "
                    "ints, e.g. {0: 'batch'} or [0].")
            if not isinstance(dim_name, str) or not dim_name:
                raise OptionError(
                    f"dynamic_axes[{tensor_name!r}][{axis}]: the dimension name must be a "
                    f"non-empty string, got {dim_name!r}."
                )
            norm[axis] = dim_name
        out[tensor_name] = norm
    return out


def _custom_opsets(value: Any) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise OptionError(f"custom_opsets must be a dict {{domain: version}}, got {value!r}.")
    out = {}
    for domain, version in value.items():
        if not isinstance(domain, str) or domain in ("", "ai.onnx"):
            raise OptionError(
                f"custom_opsets: {domain!r} is not a custom domain; set the default domain's "
                "version with opset_version= instead."
            )
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise OptionError(f"custom_opsets[{domain!r}] must be an int >= 1, got {version!r}.")
        out[domain] = version
    return out


def _functions(value: Any, opset: int):
    if value is False or value is None:
        return False
    if value is True:
        result: bool | frozenset[type] = True
    elif isinstance(value, (set, frozenset, list, tuple)):
        bad = [v for v in value if not isinstance(v, type)]
        if bad:
            raise OptionError(
                "export_modules_as_functions must be a bool or a set of nn.Module types; "
                f"these are not types: {bad!r}."
            )
        result = frozenset(value)
        if not result:
            return False
    else:
        raise OptionError(
            f"export_modules_as_functions must be a bool or a set of nn.Module types, got {value!r}."
        )
    if opset < FUNCTIONS_MIN_OPSET:
        raise OptionError(
            f"export_modules_as_functions needs opset_version >= {FUNCTIONS_MIN_OPSET} (ONNX "
            f"local functions with attributes); got {opset}. Raise opset_version or drop the option."
        )
    return result


def make_options(**kw: Any) -> ExportOptions:
    """Validate and normalise the keyword arguments of `export()` into `ExportOptions`."""
    for flag in ("export_params", "verbose", "do_constant_folding", "autograd_inlining", "verify"):
        kw[flag] = _bool(flag, kw[flag])
    opset = kw["opset_version"]
    if opset is None:
        opset = DEFAULT_OPSET
    top = max_opset()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= top:
        raise OptionError(
            f"opset_version must be an int from {MIN_OPSET} to {top} (the newest opset the "
            f"installed onnx {onnx.__version__} defines), got {opset!r}."
        )
    training = _enum("training", TrainingMode, kw["training"])
    export_type = _enum("operator_export_type", OperatorExportTypes, kw["operator_export_type"])
    input_names = _names("input_names", kw["input_names"])
    output_names = _names("output_names", kw["output_names"])
    clash = set(input_names) & set(output_names)
    if clash:
        raise OptionError(f"these names are both input and output names: {sorted(clash)}. Give "
                          "inputs and outputs distinct names.")
    dynamic_axes = _dynamic_axes(kw["dynamic_axes"], input_names, output_names)
    if dynamic_axes and kw["dynamic_shapes"] is not None:
        raise OptionError(
            "pass either dynamic_axes= (names of inputs/outputs) or dynamic_shapes= "
            "(torch.export form), not both."
        )
    keep = kw["keep_initializers_as_inputs"]
    if keep is None:
        keep = export_type != OperatorExportTypes.ONNX
    keep = _bool("keep_initializers_as_inputs", keep)
    if opset < 9:
        keep = True  # IR version 3 requires every initializer to be a graph input.
    custom_symbolics = kw["custom_symbolics"] or {}
    if not isinstance(custom_symbolics, Mapping) or not all(
        isinstance(k, str) and "::" in k and callable(v) for k, v in custom_symbolics.items()
    ):
        raise OptionError(
            "custom_symbolics must be a dict {'namespace::op': function}, e.g. "
            "{'aten::gelu': my_gelu}."
        )
    dynamic_shapes = kw["dynamic_shapes"]
    if dynamic_shapes is not None and not isinstance(dynamic_shapes, (Mapping, tuple, list)):
        raise OptionError(
            "dynamic_shapes must be torch.export's form: a dict {argument name: {axis: Dim}} or "
            f"a tuple with one entry per argument; got {type(dynamic_shapes).__name__}. Or name "
            "the dynamic axes with input_names= and dynamic_axes= instead."
        )
    external = kw["external_data"]
    if external is not None:
        external = _bool("external_data", external)
    capture = kw.get("capture", "auto")
    if capture not in CAPTURE_CHOICES:
        raise OptionError(f"capture must be one of {', '.join(map(repr, CAPTURE_CHOICES))} "
                          f"(torch.export with tracing as the fallback, torch.export only, "
                          f"tracing only); got {capture!r}.")
    return ExportOptions(
        export_params=kw["export_params"],
        verbose=kw["verbose"],
        training=training,
        input_names=input_names,
        output_names=output_names,
        operator_export_type=export_type,
        opset_version=opset,
        do_constant_folding=kw["do_constant_folding"],
        dynamic_axes=dynamic_axes,
        keep_initializers_as_inputs=keep,
        custom_opsets=_custom_opsets(kw["custom_opsets"]),
        export_modules_as_functions=_functions(kw["export_modules_as_functions"], opset),
        autograd_inlining=kw["autograd_inlining"],
        dynamic_shapes=kw["dynamic_shapes"],
        custom_symbolics=dict(custom_symbolics),
        verify=kw["verify"],
        external_data=external,
        weights=_weights(kw.get("weights"), kw["verify"]),
        capture=capture,
    )


def _weights(weights: Any, verify: bool) -> Any:
    """``weights=`` is checked against the model in ``checkpoint.bind``; here only what needs
    no model."""
    if weights is not None and verify:
        raise OptionError(
            "verify=True runs the model in PyTorch, which a model on the meta device cannot; "
            "export with weights= and verify=False, then compare a materialised (smaller) sibling "
            "with onnxruntime, or run the exported file yourself.")
    return weights


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

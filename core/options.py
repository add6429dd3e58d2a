"""`ExportOptions`: every argument of `export()`, validated once and frozen.

Validation happens here, before capture, so a wrong argument fails fast with an
:class:`~onnxplug.errors.OptionError` that says what is wrong and what to do, and nothing is
written. Checks that need the captured graph (how many inputs the model really has) live in
:func:`check_names_against_graph`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import onnx

from .enums import OperatorExportTypes, TrainingMode
from .errors import OptionError

MIN_OPSET = 7
DEFAULT_OPSET = 17
FUNCTIONS_MIN_OPSET = 15


def max_opset() -> int:
    """The newest default-domain opset the installed `onnx` package defines."""
    return onnx.defs.onnx_opset_version()


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
    try:
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
    out: dict[str, dict[int, str]] = {}
    for tensor_name, axes in value.items():
        if tensor_name not in known:
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
                raise OptionError(f"dynamic_axes[{tensor_name!r}]: axis {axis!r} is not an int.")
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
        raise OptionError(f"these names are both input and output names: {sorted(clash)}.")
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
    external = kw["external_data"]
    if external is not None:
        external = _bool("external_data", external)
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
    )


def check_destination(f: Any) -> None:
    """`f` must be None, a path, or a writable binary file object with `fileno()`."""
    if f is None or isinstance(f, (str, os.PathLike)):
        if f is not None and os.path.isdir(os.fspath(f)):
            raise OptionError(f"f={os.fspath(f)!r} is a directory; give a file path such as model.onnx.")
        if f is not None:
            parent = os.path.dirname(os.path.abspath(os.fspath(f)))
            if not os.path.isdir(parent):
                raise OptionError(f"cannot write {os.fspath(f)!r}: folder {parent!r} does not exist.")
        return
    if not hasattr(f, "write"):
        raise OptionError(
            f"f must be a path, a writable binary file object, or None; got {type(f).__name__}."
        )
    mode = getattr(f, "mode", "wb")
    if isinstance(mode, str) and "b" not in mode:
        raise OptionError("f is a text-mode file; open it in binary mode ('wb').")


def check_names_against_graph(options: ExportOptions, n_inputs: int, n_outputs: int) -> None:
    """More names than the graph has inputs/outputs is an error (fewer is fine)."""
    if len(options.input_names) > n_inputs:
        raise OptionError(
            f"input_names has {len(options.input_names)} names but the model has only "
            f"{n_inputs} input(s): {list(options.input_names)}."
        )
    if len(options.output_names) > n_outputs:
        raise OptionError(
            f"output_names has {len(options.output_names)} names but the model has only "
            f"{n_outputs} output(s): {list(options.output_names)}."
        )

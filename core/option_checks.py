"""The validators of `ExportOptions`' fields, one per kind of argument.

Each is ``check(name, value, done) -> normalised value``: ``name`` is the argument (for the
message), ``done`` the fields validated before it, in declaration order (a check that depends on
another field reads it there). Each raises :class:`~onnxplug.errors.OptionError` saying what is
wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import onnx

from .caches import is_default_cache_name
from .enums import OperatorExportTypes
from .errors import OptionError
from .opsets import DEFAULT_OPSET, MIN_OPSET
from .opsets import newest_opset as max_opset

FUNCTIONS_MIN_OPSET = 15
CAPTURE_CHOICES = ("auto", "export", "trace")


def flag(name: str, value: Any, done: Mapping | None = None) -> bool:
    """True or False; anything else (0, 1, None) is refused."""
    if not isinstance(value, bool):
        raise OptionError(f"{name} must be True or False, got {value!r} ({type(value).__name__}).")
    return value


def names(name: str, value: Any, done: Mapping | None = None) -> tuple[str, ...]:
    """A list of unique non-empty strings (None: no names)."""
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


def member_of(enum_type: type) -> Callable[[str, Any, Mapping], Any]:
    """The check of an enum argument: a member of ``enum_type`` or its int value (a str, bool
    or float is refused)."""
    def check(name: str, value: Any, done: Mapping | None = None):
        try:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(value)
            return enum_type(value)
        except (ValueError, TypeError):
            allowed = ", ".join(f"{enum_type.__name__}.{m.name}" for m in enum_type)
            raise OptionError(f"{name} must be one of {allowed}; got {value!r}.") from None
    return check


def optional_flag(name: str, value: Any, done: Mapping | None = None) -> bool | None:
    """None (decided later), True or False."""
    return None if value is None else flag(name, value)


def opset(name: str, value: Any, done: Mapping | None = None) -> int:
    """An int from ``MIN_OPSET`` to the newest opset the installed onnx defines (None: default)."""
    value = DEFAULT_OPSET if value is None else value
    top = max_opset()
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_OPSET <= value <= top:
        raise OptionError(
            f"opset_version must be an int from {MIN_OPSET} to {top} (the newest opset the "
            f"installed onnx {onnx.__version__} defines), got {value!r}.")
    return value


def output_names(name: str, value: Any, done: Mapping) -> tuple[str, ...]:
    """Like :func:`names`, and none of them is also an input name."""
    out = names(name, value)
    clash = set(done["input_names"]) & set(out)
    if clash:
        raise OptionError(f"these names are both input and output names: {sorted(clash)}. Give "
                          "inputs and outputs distinct names.")
    return out


def keep_initializers(name: str, value: Any, done: Mapping) -> bool:
    """None follows the export type (False for ``ONNX``, True for the others); below opset 9
    always True (IR version 3 requires every initializer to be a graph input)."""
    if value is None:
        value = done["operator_export_type"] != OperatorExportTypes.ONNX
    value = flag(name, value)
    return True if done["opset_version"] < 9 else value


def dynamic_shapes(name: str, value: Any, done: Mapping) -> Any:
    """torch.export's form (a dict or a tuple), and not together with ``dynamic_axes``."""
    if value is not None and done["dynamic_axes"]:
        raise OptionError(
            "pass either dynamic_axes= (names of inputs/outputs) or dynamic_shapes= "
            "(torch.export form), not both.")
    if value is not None and not isinstance(value, (Mapping, tuple, list)):
        raise OptionError(
            "dynamic_shapes must be torch.export's form: a dict {argument name: {axis: Dim}} or "
            f"a tuple with one entry per argument; got {type(value).__name__}. Or name "
            "the dynamic axes with input_names= and dynamic_axes= instead.")
    return value


def custom_symbolics(name: str, value: Any, done: Mapping | None = None) -> dict[str, Callable]:
    """``{'namespace::op': function}``."""
    value = value or {}
    if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and "::" in k and callable(v) for k, v in value.items()):
        raise OptionError(
            "custom_symbolics must be a dict {'namespace::op': function}, e.g. "
            "{'aten::gelu': my_gelu}.")
    return dict(value)


def capture(name: str, value: Any, done: Mapping | None = None) -> str:
    """One of :data:`CAPTURE_CHOICES`."""
    if value not in CAPTURE_CHOICES:
        raise OptionError(f"capture must be one of {', '.join(map(repr, CAPTURE_CHOICES))} "
                          f"(torch.export with tracing as the fallback, torch.export only, "
                          f"tracing only); got {value!r}.")
    return value


def dynamic_axes(name: str, value: Any, done: Mapping) -> dict[str, dict[int, str]]:
    """``{name: {axis: dim_name}}`` (the list form gets generated names); every name is an
    input or output name, unless it names cache tensors (checked once they are known)."""
    input_names, output_names = done["input_names"], done["output_names"]
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
        out[tensor_name] = _axes_of(tensor_name, axes)
    return out


def _axes_of(tensor_name: str, axes: Any) -> dict[int, str]:
    """``{axis: dim_name}`` of one entry of ``dynamic_axes`` (a dict, or a list of axes)."""
    if isinstance(axes, Mapping):
        items = list(axes.items())
    elif isinstance(axes, Sequence) and not isinstance(axes, str):
        items = [(a, f"{tensor_name}_dynamic_axes_{k}") for k, a in enumerate(axes, start=1)]
    else:
        raise OptionError(
            f"dynamic_axes[{tensor_name!r}] must be a dict {{axis: name}} or a list of axes, "
            f"got {axes!r}.")
    norm: dict[int, str] = {}
    for axis, dim_name in items:
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise OptionError(
                f"dynamic_axes[{tensor_name!r}]: axis {axis!r} is not an int; give axes as "
                "ints, e.g. {0: 'batch'} or [0].")
        if not isinstance(dim_name, str) or not dim_name:
            raise OptionError(
                f"dynamic_axes[{tensor_name!r}][{axis}]: the dimension name must be a "
                f"non-empty string, got {dim_name!r}.")
        norm[axis] = dim_name
    return norm


def custom_opsets(name: str, value: Any, done: Mapping | None = None) -> dict[str, int]:
    """``{custom domain: int version >= 1}``."""
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


def functions(name: str, value: Any, done: Mapping):
    """False, True or a frozenset of module types; needs opset 15 (``done['opset_version']``)."""
    opset = done["opset_version"]
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


def weights(name: str, value: Any, done: Mapping) -> Any:
    """``weights=`` is checked against the model in ``checkpoint.bind``; here only what needs
    no model."""
    if value is not None and done["verify"]:
        raise OptionError(
            "verify=True runs the model in PyTorch, which a model on the meta device cannot; "
            "export with weights= and verify=False, then compare a materialised (smaller) sibling "
            "with onnxruntime, or run the exported file yourself.")
    return value



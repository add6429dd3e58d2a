"""``autograd_inlining=False``: each call of a ``torch.autograd.Function`` subclass stays one op.

``torch.export`` inlines ``Function.apply``: the graph holds the ops of ``forward``. To keep a
call whole, capture patches ``Function.apply`` (see :func:`keep_functions`) so that a call in
the capturing thread goes through a ``torch.library`` custom op defined for its class, whose
fake kernel runs the class's ``forward`` on the fake inputs. The op takes the call's tensors
(``Tensor[]``) and one string that carries everything else: the structure of the arguments and
their non-tensor values (None, bools, ints, floats, strings, dtypes).

The op becomes ONNX, in this order of preference:

1. the class's ``symbolic(g, *args)`` staticmethod, the reference exporter's convention: ``g``
   is the :class:`onnxplug.GraphContext` (``g.op("Foo", x, alpha_f=0.5)``), the arguments are
   those of ``forward`` without ``ctx``, tensors as ``onnx_ir.Value`` and the rest as Python
   values; it returns one value or a tuple of them, one per tensor ``forward`` returns;
2. a conversion registered for the class under :func:`function_key` (``custom_symbolics=``,
   ``onnxplug.register_symbolic`` or a plugin), called the same way;
3. with ``OperatorExportTypes.ONNX_FALLTHROUGH``, the unconverted op in the custom domain
   ``onnxplug_autograd`` (op type ``function``; the class is its ``overload_name``, the
   non-tensor arguments the string attribute ``args``).

Otherwise the export raises :class:`~onnxplug.UnsupportedOperatorError` naming the class and
the line of the call. The ops are ``onnxplug_autograd::symbolic.<name>`` for classes with a
``symbolic`` and ``onnxplug_autograd::function.<name>`` for the others, ``<name>`` being the
class's module and qualified name with every run of non-word characters made one ``_``
(``__main__.Outer.<locals>.Scale`` is ``main_Outer_locals_Scale``).

Only non-strict ``torch.export`` (the first capture attempt) sees the patch; a model that
needs the strict fallback gets its Functions inlined, with a warning (:func:`inlined_note`).
A Function that modifies its inputs in place (``ctx.mark_dirty``) cannot be kept and fails the
capture with that reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import torch
from torch.autograd.function import Function, _is_setup_context_defined
from torch.utils import _pytree as pytree

from .errors import OnnxExporterError
from .hookspecs import hookimpl
from .registry import ANY_OPSET

NAMESPACE = "onnxplug_autograd"
SYMBOLIC_OP = "symbolic"  # classes with a symbolic(g, ...) staticmethod
FUNCTION_OP = "function"  # the others
SCHEMA = "(Tensor[] tensors, str args) -> Tensor[]"

_library = torch.library.Library(NAMESPACE, "FRAGMENT")
_lock = threading.RLock()
_names: dict[type, str] = {}  # class -> overload name (both ops)
_classes: dict[str, type] = {}  # overload name -> class
_defined: set[tuple[str, str]] = set()  # (op, overload) defined in the library
_out_specs: dict[tuple[str, str], pytree.TreeSpec] = {}  # (overload, args) -> forward's output tree
_original_apply = Function.__dict__["apply"]
_installed = 0
_thread = threading.local()


def function_key(cls: type) -> str:
    """The op key a conversion of Function class ``cls`` is registered under, e.g.
    ``register_symbolic(function_key(MyFunction), convert)``.

    Used only when ``cls`` has no ``symbolic`` staticmethod (which comes first). The function
    receives ``(g, *args)`` as a ``symbolic`` staticmethod does.
    """
    return f"{NAMESPACE}::{FUNCTION_OP}.{_overload_name(cls)}"


def describe(cls: type) -> str:
    """``module.QualifiedName`` of a Function class, as error messages name it."""
    return f"{cls.__module__}.{cls.__qualname__}"


def _overload_name(cls: type) -> str:
    with _lock:
        name = _names.get(cls)
        if name is None:
            base = re.sub(r"[\W_]+", "_", describe(cls)).strip("_")
            if not base[:1].isalpha() or base == "default":  # torch's rules for overload names
                base = f"fn_{base}"
            name, k = base, 1
            while name in _classes:  # another class of the same name (redefined, or nested)
                k += 1
                name = f"{base}_{k}"
            _names[cls] = name
            _classes[name] = cls
        return name


def _has_symbolic(cls: type) -> bool:
    return callable(getattr(cls, "symbolic", None))


# -- arguments: tensors as a list, everything else in one string ---------------------------------
def encode_args(cls: type, args: tuple, kwargs: dict) -> tuple[list[torch.Tensor], str]:
    """``(tensors, text)`` carrying one call's arguments through the custom op: ``text`` is JSON
    of the arguments with ``{"tensor": i}`` in the place of ``tensors[i]`` (tuples, dicts and
    dtypes marked as ``{"tuple": [...]}``, ``{"dict": {...}}``, ``{"dtype": "float32"}``)."""
    tensors: list[torch.Tensor] = []

    def enc(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            tensors.append(v)
            return {"tensor": len(tensors) - 1}
        if isinstance(v, torch.dtype):
            return {"dtype": str(v).removeprefix("torch.")}
        if isinstance(v, tuple):
            return {"tuple": [enc(x) for x in v]}
        if isinstance(v, list):
            return [enc(x) for x in v]
        if isinstance(v, dict) and all(isinstance(k, str) for k in v):
            return {"dict": {k: enc(x) for k, x in v.items()}}
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        raise OnnxExporterError(
            f"torch.autograd.Function {describe(cls)} is called with an argument of type "
            f"{type(v).__name__} ({v!r:.40}); with autograd_inlining=False a kept Function takes "
            "tensors, None, bools, ints, floats, strings, dtypes, and lists, tuples and dicts "
            "of them (a size that depends on a dynamic axis cannot be carried). Pass it as a "
            "tensor, or export with autograd_inlining=True.")

    text = json.dumps({"args": [enc(a) for a in args], "kwargs": {k: enc(v) for k, v in kwargs.items()}},
                      separators=(",", ":"))
    if not tensors:
        raise OnnxExporterError(
            f"torch.autograd.Function {describe(cls)} is called without a tensor argument; "
            "with autograd_inlining=False it cannot be kept as one op. Export with "
            "autograd_inlining=True.")
    return tensors, text


def decode_args(text: str, tensors: list[Any]) -> tuple[tuple, dict]:
    """The ``(args, kwargs)`` of a call from :func:`encode_args`'s text, with ``tensors`` (torch
    tensors, or the ONNX values of a conversion) in the tensors' places."""
    def dec(v: Any) -> Any:
        if isinstance(v, list):
            return [dec(x) for x in v]
        if not isinstance(v, dict):
            return v
        (tag, inner), = v.items()
        if tag == "tensor":
            return tensors[inner]
        if tag == "dtype":
            return getattr(torch, inner)
        if tag == "tuple":
            return tuple(dec(x) for x in inner)
        return {k: dec(x) for k, x in inner.items()}

    data = json.loads(text)
    return tuple(dec(a) for a in data["args"]), {k: dec(v) for k, v in data["kwargs"].items()}


# -- running forward for the op's kernels ------------------------------------------------------------
class _Context:
    """The ``ctx`` a kept Function's ``forward`` gets while it runs for shapes or folding."""

    def __init__(self, cls: type, n_inputs: int):
        self._cls = cls
        self.needs_input_grad = (False,) * n_inputs
        self.saved_tensors = ()
        self.materialize_grads = True

    def save_for_backward(self, *tensors: Any) -> None:
        self.saved_tensors = tensors

    def mark_non_differentiable(self, *tensors: Any) -> None:
        pass

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value

    def mark_dirty(self, *tensors: Any) -> None:
        raise OnnxExporterError(
            f"torch.autograd.Function {describe(self._cls)} modifies its inputs in place "
            "(ctx.mark_dirty), so with autograd_inlining=False it cannot be kept as one op. "
            "Export with autograd_inlining=True, or make forward return new tensors.")


def _run_forward(cls: type, overload: str, tensors: list[torch.Tensor], text: str) -> list[torch.Tensor]:
    args, kwargs = decode_args(text, tensors)
    with torch.no_grad():
        if _is_setup_context_defined(cls.setup_context):
            out = cls.forward(*args, **kwargs)
        else:
            out = cls.forward(_Context(cls, len(args)), *args, **kwargs)
    leaves, spec = pytree.tree_flatten(out)
    if not leaves or not all(isinstance(t, torch.Tensor) for t in leaves):
        raise OnnxExporterError(
            f"torch.autograd.Function {describe(cls)}.forward returns {type(out).__name__}; with "
            "autograd_inlining=False a kept Function returns a tensor or a tuple of tensors. "
            "Export with autograd_inlining=True.")
    with _lock:
        _out_specs[(overload, text)] = spec
    return [t.clone() for t in leaves]  # a custom op's outputs may not alias its inputs


def _op_for(cls: type) -> torch._ops.OpOverload:
    """The custom op that stands for calls of ``cls`` (defined on first use)."""
    overload = _overload_name(cls)
    kind = SYMBOLIC_OP if _has_symbolic(cls) else FUNCTION_OP
    with _lock:
        new = (kind, overload) not in _defined
        _defined.add((kind, overload))
    if new:
        def kernel(tensors: list[torch.Tensor], args: str) -> list[torch.Tensor]:
            return _run_forward(cls, overload, tensors, args)

        _library.define(f"{kind}.{overload}{SCHEMA}")
        _library.impl(f"{kind}.{overload}", kernel, "CompositeExplicitAutograd")
        torch.library.register_fake(f"{NAMESPACE}::{kind}.{overload}", kernel, lib=_library)
    return getattr(getattr(getattr(torch.ops, NAMESPACE), kind), overload)


def _kept_apply(cls: type, *args: Any, **kwargs: Any) -> Any:
    """``Function.apply`` while :func:`keep_functions` is active in this thread."""
    if not getattr(_thread, "active", 0):
        return _original_apply.__get__(None, cls)(*args, **kwargs)
    if _thread.seen is not None:
        _thread.seen.add(describe(cls))
    tensors, text = encode_args(cls, args, kwargs)
    flat = _op_for(cls)(tensors, text)
    key = (_overload_name(cls), text)
    with _lock:
        spec = _out_specs[key]
    return pytree.tree_unflatten(list(flat), spec)


@contextlib.contextmanager
def keep_functions(active: bool = True, seen: set[str] | None = None) -> Iterator[None]:
    """While the block runs in this thread, ``Function.apply`` calls become one custom op each.

    Other threads keep calling ``Function.apply`` as usual. ``active=False`` does nothing (the
    default ``autograd_inlining=True``). ``seen`` collects the classes called (see
    :func:`inlined_note`). Capture holds ``CAPTURE_LOCK`` around it.
    """
    global _installed
    if not active:
        yield
        return
    with _lock:
        if _installed == 0:
            Function.apply = classmethod(_kept_apply)
        _installed += 1
    _thread.active = getattr(_thread, "active", 0) + 1
    outer, _thread.seen = getattr(_thread, "seen", None), seen
    try:
        yield
    finally:
        _thread.active -= 1
        _thread.seen = outer
        with _lock:
            _installed -= 1
            if _installed == 0:
                Function.apply = _original_apply


def inlined_note(seen: set[str]) -> str | None:
    """The capture's warning when strict ``torch.export`` captured the model after non-strict
    failed: strict mode (TorchDynamo) inlines Function calls whatever the patch. None when no
    Function was called."""
    if not seen:
        return None
    return (f"autograd_inlining=False was not honoured for {', '.join(sorted(seen))}: non-strict "
            "torch.export failed, and strict mode inlines torch.autograd.Function calls. Make "
            "the model capturable without strict mode to keep them as one op each.")


# -- conversions of the custom ops ----------------------------------------------------------------
def _class_of(g: Any) -> type:
    name = g.target_name().rsplit(".", 1)[-1]
    return _classes[name]


def _outputs(cls: type, result: Any) -> list:
    return list(result) if isinstance(result, (tuple, list)) else [result]


def convert_with_symbolic(g: Any, tensors: list, args: str) -> list:
    """``onnxplug_autograd::symbolic.*``: the class's own ``symbolic(g, *args)``."""
    cls = _class_of(g)
    a, kw = decode_args(args, list(tensors))
    try:
        result = cls.symbolic(g, *a, **kw)
    except (OnnxExporterError, NotImplementedError):
        raise
    except Exception as exc:
        raise OnnxExporterError(
            f"{describe(cls)}.symbolic failed: {type(exc).__name__}: {exc}\nWhat to do: fix the "
            "symbolic staticmethod (it gets g and forward's arguments without ctx, and returns "
            "one value per tensor forward returns), or export with autograd_inlining=True."
        ) from exc
    return _outputs(cls, result)


def no_conversion(g: Any, tensors: list, args: str) -> list:
    """``onnxplug_autograd::function.*`` without a registered conversion: declines, so that the
    export's error (or ``ONNX_FALLTHROUGH``) names the class."""
    cls = _class_of(g)
    raise NotImplementedError(
        f"torch.autograd.Function {describe(cls)} has no symbolic(g, ...) staticmethod and no "
        f"conversion is registered for it ({function_key(cls)}). Give it a symbolic "
        "staticmethod, register one with onnxplug.register_symbolic(onnxplug.autograd_functions."
        f"function_key({cls.__qualname__}), fn) or custom_symbolics, export with "
        "operator_export_type=ONNX_FALLTHROUGH, or with autograd_inlining=True")


def is_kept_op(target: Any) -> bool:
    """Whether an FX call target is the custom op of a kept Function call."""
    return isinstance(target, torch._ops.OpOverload) and target.namespace == NAMESPACE


def adapt_entry(entry: Any, target: Any, registry: Any) -> Any:
    """``entry`` ready to convert ``target``: a conversion registered for one Function class
    (under :func:`function_key`) is called as ``fn(g, *args, **kwargs)`` with ``forward``'s
    arguments, like a ``symbolic`` staticmethod. Any other entry is returned as it is (the bare
    keys' conversions below, and export-type fallbacks, take the op's own two arguments)."""
    if not is_kept_op(target):
        return entry
    key = f"{target._schema.name}.{target._overloadname}"
    if entry.key != key or entry not in registry.by_key.get(key, ()):
        return entry
    fn = entry.fn

    def convert(g: Any, tensors: list, args: str) -> list:
        a, kw = decode_args(args, list(tensors))
        return _outputs(_class_of(g), fn(g, *a, **kw))

    convert.__module__ = getattr(fn, "__module__", convert.__module__)
    convert.__qualname__ = getattr(fn, "__qualname__", "convert")
    return dataclasses.replace(entry, fn=convert)


@hookimpl
def onnxplug_register_symbolics(register):
    """The two ops' bare keys, from the core's own plugin (a user's ``register_symbolic`` or
    ``custom_symbolics`` for one class's overload key wins over them)."""
    register(convert_with_symbolic, key=f"{NAMESPACE}::{SYMBOLIC_OP}", opset=ANY_OPSET)
    register(no_conversion, key=f"{NAMESPACE}::{FUNCTION_OP}", opset=ANY_OPSET)

"""Weights that are not in memory: a model on the meta device, its weights in a checkpoint.

``export(model, args, f, weights=...)`` exports a model built under ``torch.device("meta")``
(no weight memory at all) with its weights read from a checkpoint: safetensors files, a folder of
them, a ``{name: tensor}`` state dict, or a list mixing these. The export reads each weight only
while it writes that weight's bytes to the file, one tensor at a time, so a model larger than
memory exports (docs/usage.md, "Models larger than memory").

How it works, stage by stage:

* :func:`bind` (before anything else) matches every meta tensor of the model (parameters,
  buffers, plain tensor attributes) with a checkpoint entry of the same name (or of another name
  of the same, tied, tensor) and the same dtype and shape, reading only the files' headers. Any
  missing weight or mismatch is an :class:`~onnxplug.errors.OptionError`.
* :func:`meta_capture` runs torch.export on fake tensors: the example inputs and every tensor of
  the model are replaced, until the capture ends, by fake twins that have no values but claim
  the CPU device, so the program traced is the one a CPU export traces. It has fake tensors
  where the weights are.
* :func:`deferred_state` gives the lowering, instead of each fake tensor, a :class:`Deferred`
  tensor: it has the weight's dtype and shape, computes on the meta device, and records how each
  result was made. Constant folding over weights therefore folds *lazily*: a folded weight (a
  transpose, a cast, a slice) is a recipe replayed on the real weight when it is written.
  The graph is the one a normal export of the same model gives.
* ``graph.to_ir_tensor`` turns a :class:`Deferred` (or any non-contiguous view) into a
  :class:`TensorView`, an ``onnx_ir`` lazy tensor whose bytes are computed each time they are
  read and dropped afterwards; ``serialize`` writes them one at a time.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import onnx_ir as ir
import torch
from onnx_ir.tensor_adapters import TorchTensor, from_torch_dtype
from torch.utils._pytree import tree_flatten, tree_map

from .errors import OptionError

# safetensors' dtype names
_ST_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
    "F8_E4M3": getattr(torch, "float8_e4m3fn", None), "F8_E5M2": getattr(torch, "float8_e5m2", None),
}
_LISTED = 8  # problems named in one error message
CHUNK_BYTES = 32 * 2**20  # a lazy tensor is written in pieces of about this size


# --------------------------------------------------------------------------- checkpoints

@dataclass
class _Entry:
    dtype: torch.dtype
    shape: tuple[int, ...]
    load: Callable[[], torch.Tensor]


@dataclass
class Checkpoint:
    """The weights a checkpoint holds: name -> dtype, shape and a loader that reads one tensor.

    Nothing is read until a loader runs; a safetensors file is opened (memory-mapped) for each
    tensor it gives and closed again, so no file's pages stay mapped.
    """

    entries: dict[str, _Entry] = field(default_factory=dict)

    @classmethod
    def open(cls, weights: Any) -> Checkpoint:
        """A checkpoint from ``weights=``: a path (a ``.safetensors`` file, or a folder whose
        ``*.safetensors`` files are read), a ``{name: tensor}`` mapping, or a list of these."""
        ckpt = cls()
        sources = list(weights) if isinstance(weights, (list, tuple)) else [weights]
        if not sources:
            raise OptionError("weights= is an empty list: pass a safetensors file or folder, or "
                              "a state dict.")
        for source in sources:
            if isinstance(source, Mapping):
                ckpt._add_mapping(source)
            elif isinstance(source, (str, os.PathLike)):
                for path in _safetensors_files(os.fspath(source)):
                    ckpt._add_file(path)
            else:
                raise OptionError(
                    f"weights= entries must be paths of safetensors files or folders, or "
                    f"{{name: tensor}} mappings; got {type(source).__name__}.")
        return ckpt

    def _add_mapping(self, mapping: Mapping) -> None:
        for name, tensor in mapping.items():
            if not isinstance(name, str) or not isinstance(tensor, torch.Tensor) or tensor.is_meta:
                raise OptionError(
                    f"a weights= mapping must map names to real tensors; entry {name!r} is "
                    f"{'on the meta device' if isinstance(tensor, torch.Tensor) else type(tensor).__name__}.")
            self.entries[name] = _Entry(tensor.dtype, tuple(tensor.shape),
                                        lambda t=tensor: t.detach())

    def _add_file(self, path: str) -> None:
        safe_open = _safe_open()
        try:
            with safe_open(path, framework="pt") as fh:
                for name in fh.keys():
                    piece = fh.get_slice(name)
                    dtype = _ST_DTYPES.get(piece.get_dtype())
                    if dtype is None:
                        raise OptionError(f"{path}: tensor {name!r} has dtype "
                                          f"{piece.get_dtype()}, which onnxplug cannot export.")
                    self.entries[name] = _Entry(dtype, tuple(piece.get_shape()),
                                                lambda p=path, n=name: _read(p, n))
        except OptionError:
            raise
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
            raise OptionError(f"cannot read the safetensors file {path!r}: {exc}") from exc


def _safe_open():
    try:
        from safetensors import safe_open
    except ImportError as exc:
        raise OptionError("weights= with safetensors files needs the safetensors package: "
                          "pip install safetensors (or pass a {name: tensor} state dict).") from exc
    return safe_open


def _read(path: str, name: str) -> torch.Tensor:
    with _safe_open()(path, framework="pt") as fh:
        return fh.get_tensor(name)


def _safetensors_files(path: str) -> list[str]:
    if os.path.isdir(path):
        files = sorted(os.path.join(path, n) for n in os.listdir(path) if n.endswith(".safetensors"))
        if not files:
            raise OptionError(f"weights={path!r} is a folder without .safetensors files.")
        return files
    if not os.path.isfile(path):
        raise OptionError(f"weights={path!r}: no such file or folder.")
    return [path]


# --------------------------------------------------------------------------- binding a model

@dataclass
class Binding:
    """Where each meta tensor of the model gets its values: ``sources[state name]`` loads it."""

    sources: dict[str, Callable[[], torch.Tensor]]
    real: dict[str, torch.Tensor]  # the model's own (not meta) tensors, by name

    def loader(self, name: str) -> Callable[[], torch.Tensor] | None:
        if name in self.sources:
            return self.sources[name]
        if name in self.real:
            return lambda t=self.real[name]: t
        return None


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every tensor of the model by name: parameters, buffers (tied ones under each name) and
    plain tensor attributes (which torch.export lifts as constants)."""
    out: dict[str, torch.Tensor] = {}
    for prefix, module in model.named_modules(remove_duplicate=False):
        dot = prefix + "." if prefix else ""
        for name, t in _own_tensors(module):
            out[dot + name] = t
        for name, t in vars(module).items():
            if isinstance(t, torch.Tensor) and not name.startswith("_"):
                out.setdefault(dot + name, t)
    return out


def _own_tensors(module: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    """The module's own parameters and buffers (not its children's), tied ones included."""
    return [*module.named_parameters(recurse=False, remove_duplicate=False),
            *module.named_buffers(recurse=False, remove_duplicate=False)]


def has_meta(model: Any) -> bool:
    return isinstance(model, torch.nn.Module) and any(t.is_meta for t in _state(model).values())


def bind(model: Any, weights: Any) -> Binding | None:
    """Match the model's meta tensors with ``weights``; None for an ordinary export.

    Raises :class:`OptionError`, before any work, for a meta model without ``weights=``, for
    ``weights=`` with a model that has no meta tensors, and for missing or mismatched weights.
    """
    meta = has_meta(model)
    if weights is None:
        if meta:
            names = [n for n, t in _state(model).items() if t.is_meta]
            raise OptionError(
                f"the model has tensors on the meta device ({_listed(names)}) and no weights: "
                "pass weights= (safetensors files, a folder of them, or a state dict) to export "
                "it without materialising it, or load its weights first.")
        return None
    if not meta:
        raise OptionError(
            "weights= is for a model built on the meta device (with torch.device('meta'): ...), "
            "whose weights come from the checkpoint; this model holds its own weights. Drop "
            "weights=, or build the model on the meta device.")
    state = _state(model)
    sources = _match(state, Checkpoint.open(weights))
    return Binding(sources, {n: t for n, t in state.items() if not t.is_meta})


def _match(state: dict[str, torch.Tensor], ckpt: Checkpoint) -> dict[str, Callable[[], torch.Tensor]]:
    """The loader of every meta tensor of ``state`` (under each of its names), or the
    :class:`OptionError` that lists every missing and mismatched weight."""
    aliases: dict[int, list[str]] = {}
    for name, t in state.items():
        aliases.setdefault(id(t), []).append(name)
    sources: dict[str, Callable[[], torch.Tensor]] = {}
    missing: list[str] = []
    wrong: list[str] = []
    for names in aliases.values():
        t = state[names[0]]
        found = next((n for n in names if n in ckpt.entries), None)
        if not t.is_meta:
            continue
        if found is None:
            missing.append(" = ".join(names))
            continue
        entry = ckpt.entries[found]
        if entry.dtype != t.dtype or entry.shape != tuple(t.shape):
            wrong.append(f"{found}: checkpoint {_describe(entry.dtype, entry.shape)}, model "
                         f"{_describe(t.dtype, t.shape)}")
            continue
        sources.update((name, entry.load) for name in names)
    if missing or wrong:
        raise OptionError(_mismatch_message(missing, wrong))
    return sources


def _describe(dtype: torch.dtype, shape: Any) -> str:
    return f"{str(dtype).removeprefix('torch.')}{list(shape)}"


def _mismatch_message(missing: list[str], wrong: list[str]) -> str:
    parts = []
    if missing:
        parts.append(f"{len(missing)} weight(s) of the model are not in the checkpoint: "
                     f"{_listed(missing)}. Non-persistent buffers (such as rotary inv_freq) "
                     "are not saved in checkpoints: build them on the CPU or add them to "
                     "weights= as a {name: tensor} mapping")
    if wrong:
        parts.append(f"{len(wrong)} weight(s) differ in dtype or shape between the checkpoint "
                     f"and the model: {_listed(wrong)}. Build the model with the checkpoint's "
                     "config and dtype")
    return "; ".join(parts) + "."


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - _LISTED} more" if len(items) > _LISTED else ""
    return ", ".join(items[:_LISTED]) + more


# --------------------------------------------------------------------------- capture

@contextlib.contextmanager
def meta_capture(model: Any, args: Any, kwargs: Any,
                 binding: Binding | None) -> Iterator[tuple[Any, Any]]:
    """Yield ``(args, kwargs)`` as fake tensors, with the model's parameters and buffers replaced
    by fake twins until the block ends. Without a binding (an ordinary export), yield them as
    they are.

    Fake tensors (``torch._subclasses.FakeTensor``) have no values but claim the CPU device, so
    torch.export traces the program a CPU export traces (meta tensors would not: code that asks
    for the device, sdpa's choice of kernel, ``arange(device=...)``, would see ``meta``).
    """
    if binding is None:
        yield args, kwargs
        return
    from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    mode = FakeTensorMode(shape_env=ShapeEnv(), allow_non_fake_inputs=True)
    restore = _swap_for_fakes(model, mode, FakeTensor)

    def to_fake(x):
        if not isinstance(x, torch.Tensor):
            return x
        with mode:
            return mode.from_tensor(x)

    try:
        yield tree_map(to_fake, args), tree_map(to_fake, kwargs)
    finally:
        for module, name, t in reversed(restore):
            setattr(module, name, t)


def _swap_for_fakes(model: torch.nn.Module, mode: Any, fake_type: type) -> list[tuple[Any, str, Any]]:
    """Replace every parameter, buffer and plain tensor attribute of the model by a fake twin
    (tied tensors by one twin); return what to set back."""
    twins: dict[int, torch.Tensor] = {}

    def fake(t: torch.Tensor) -> torch.Tensor:
        if id(t) not in twins:
            twin = fake_type(mode, _meta_twin(t), torch.device("cpu"))
            if isinstance(t, torch.nn.Parameter):
                twin = torch.nn.Parameter(twin, requires_grad=t.requires_grad)
            twins[id(t)] = twin
        return twins[id(t)]

    restore: list[tuple[Any, str, Any]] = []
    for module in model.modules():
        plain = [(n, t) for n, t in vars(module).items()
                 if isinstance(t, torch.Tensor) and not n.startswith("_")]
        for name, t in [*_own_tensors(module), *plain]:
            restore.append((module, name, t))
            setattr(module, name, fake(t))
    return restore


def _meta_twin(t: torch.Tensor) -> torch.Tensor:
    """A meta tensor with ``t``'s dtype, shape and strides (``t`` may be real, meta or fake)."""
    return torch.empty_strided(tuple(t.shape), tuple(t.stride()), dtype=t.dtype, device="meta")


def _stands_in(t: Any) -> bool:
    """A tensor of the captured program without values: meta, or fake (from the capture)."""
    from torch._subclasses.fake_tensor import FakeTensor

    return isinstance(t, torch.Tensor) and (t.is_meta or isinstance(t, FakeTensor))


# --------------------------------------------------------------------------- lowering

class Deferred(torch.Tensor):
    """A tensor whose values are not in memory: a checkpoint weight, or a computation on such
    weights. It has a dtype, shape and strides, claims the CPU device like a loaded weight, and
    every op on it runs on the meta device and returns another :class:`Deferred` that remembers
    the op; :func:`real` replays the recipe on the loaded weights. An op that needs values (a
    ``.item()``) reads them there and then.
    """

    @staticmethod
    def __new__(cls, meta: torch.Tensor, thunk: Callable[[], torch.Tensor]):
        r = torch.Tensor._make_wrapper_subclass(
            cls, meta.shape, strides=meta.stride(), storage_offset=meta.storage_offset(),
            dtype=meta.dtype, device="cpu", requires_grad=False)
        r._meta = meta
        r._thunk = thunk
        return r

    __torch_function__ = torch._C._disabled_torch_function_impl

    def __repr__(self) -> str:  # the default would read the values
        return f"Deferred(shape={list(self.shape)}, dtype={self.dtype})"

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}

        def replay():
            rargs, rkwargs = tree_map(real, (args, kwargs))
            return func(*rargs, **rkwargs)

        try:
            out = func(*tree_map(_meta_of, args), **tree_map(_meta_of, kwargs))
        except (NotImplementedError, RuntimeError):
            return replay()  # needs the values (item(), equal()): read them now
        flat, _ = tree_flatten(out)
        if isinstance(out, torch.Tensor):
            return Deferred(out, replay)
        if not any(isinstance(o, torch.Tensor) for o in flat):
            return out
        if isinstance(out, (tuple, list)) and all(isinstance(o, torch.Tensor) for o in out):
            return type(out)(Deferred(o, lambda i=i: replay()[i]) for i, o in enumerate(out))
        return replay()


def _meta_of(x: Any) -> Any:
    if isinstance(x, Deferred):
        return x._meta
    if isinstance(x, torch.Tensor):
        return x.to("meta")
    if isinstance(x, torch.device):
        return torch.device("meta")
    return x


def real(x: Any) -> Any:
    """The values of a :class:`Deferred` (read and computed now); anything else as it is."""
    if isinstance(x, Deferred):
        value = x._thunk()
        if value.shape != x.shape or value.dtype != x.dtype:
            raise OptionError(f"a checkpoint weight gave {value.dtype}{list(value.shape)} where the "
                              f"model has {x.dtype}{list(x.shape)}.")
        return value
    return x


def is_deferred(x: Any) -> bool:
    return isinstance(x, Deferred)


@contextlib.contextmanager
def deferred_state(ep: torch.export.ExportedProgram, binding: Binding | None) -> Iterator[None]:
    """While the block runs, the program's meta parameters, buffers and constants are
    :class:`Deferred` tensors that load from ``binding`` (the lowering sees these)."""
    if binding is None:
        yield
        return
    swapped: list[tuple[dict, str, torch.Tensor]] = []
    for table in (ep.state_dict, ep.constants):
        for name, t in list(table.items()):
            if _stands_in(t):
                load = binding.loader(name)
                if load is None:
                    raise OptionError(
                        f"the captured program has a tensor {name!r} on the meta device that "
                        "neither the checkpoint nor the model holds: add it to weights=.")
                swapped.append((table, name, t))
                table[name] = Deferred(_meta_twin(t), load)
                table[name]._root = True  # its values are one checkpoint entry
    try:
        yield
    finally:
        for table, name, t in reversed(swapped):
            table[name] = t


# --------------------------------------------------------------------------- onnx_ir side

def storage_key(t: torch.Tensor) -> Any:
    """Equal for two tensors that are the same values: one view of one storage (tied weights
    under two names), or one checkpoint entry."""
    if isinstance(t, Deferred):
        return ("checkpoint", id(t._thunk)) if getattr(t, "_root", False) else ("id", id(t))
    if t.is_meta or t.numel() == 0 or t.layout != torch.strided:
        return ("id", id(t))
    return ("storage", t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape),
            tuple(t.stride()), t.dtype)


class TensorView(ir.LazyTensor):
    """An ``onnx_ir`` tensor for a torch tensor that is a view (a transposed weight) or
    :class:`Deferred`: the graph holds the view, and the contiguous bytes are made only when
    something reads them (saving, one tensor at a time) and dropped afterwards.

    ``raw`` is the torch tensor itself, so conversions get it back from ``g.const_value``.
    """

    __slots__ = ("_source",)

    def __init__(self, source: torch.Tensor, name: str | None = None):
        self._source = source
        super().__init__(lambda: TorchTensor(real(source).contiguous(), name=name),
                         dtype=from_torch_dtype(source.dtype), shape=ir.Shape(tuple(source.shape)),
                         name=name)

    @property
    def raw(self) -> torch.Tensor:  # type: ignore[override]
        return self._source

    def evaluate(self) -> ir.TensorProtocol:
        """The bytes, computed now (a ``TorchTensor`` of a contiguous CPU tensor)."""
        return self._evaluate()

    def chunks(self, limit: int | None = None) -> Iterator[memoryview]:
        """The bytes (little-endian, row-major) in pieces of about ``limit`` bytes: blocks of
        rows of the tensor made contiguous one block at a time, so a transposed weight is
        written without a whole contiguous copy of it. For dtypes ONNX stores unpacked."""
        t = real(self._source)
        if t.dim() == 0 or t.numel() == 0:
            yield memoryview(t.contiguous().reshape(-1).view(torch.uint8).numpy())
            return
        row = max(t[0].numel() * t.element_size(), 1)
        step = max(1, (limit or CHUNK_BYTES) // row)
        for start in range(0, t.shape[0], step):
            piece = t[start:start + step].contiguous()
            yield memoryview(piece.reshape(-1).view(torch.uint8).numpy())

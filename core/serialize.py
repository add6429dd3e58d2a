"""Saving without copying the weights: streamed single files, external data, weight-free copies.

No function here builds a ``ModelProto`` that holds every weight. The graph is serialised as a
*skeleton*, a ``ModelProto`` whose large tensors are placeholders (``data_location=EXTERNAL``
references that carry dtype, shape and name but no bytes), and each tensor's bytes go from its
PyTorch (or numpy) storage straight to the file:

* a single ``.onnx`` file is the skeleton's protobuf encoding with the graph's initializers
  spliced in, each initializer's bytes written from the tensor's own memory (:func:`write_model`);
* with external data, the bytes go to ``<file>.data`` and the skeleton's references point there
  (:func:`write_external`);
* the checker gets a skeleton whose every large tensor, in the graph, in subgraphs and in
  ``Constant``-like tensor attributes, is a placeholder (:func:`weightless`, used by
  ``check.check_model``).

A path is written to a temporary file (or folder, for external data) beside it and renamed into
place only once everything succeeded, so a failed export never leaves a partial file and never
touches an existing one. A binary file object gets the bytes after the checks passed.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np
import onnx
import onnx_ir as ir
import torch

from .checkpoint import TensorView, real
from .errors import ExportWriteError, OnnxExporterError

PROTOBUF_LIMIT = 2**31 - 1
EXTERNAL_MARGIN = 64 * 2**20  # graph structure needs room beside the weights
# Tensors of at least this many bytes leave the proto (external data, weight-free checks).
# Smaller ones stay inline: shape inference reads the values of small integer tensors (Reshape's
# shape, Slice's starts, ...) and cannot read external data.
EXTERNAL_THRESHOLD = 1024
WEIGHTLESS_LOCATION = "onnxplug-weightless.bin"
_STREAMED = "onnxplug-streamed"  # placeholders that write_model fills in
# 4-bit and 2-bit types are packed two or four to a byte in ONNX: their bytes come from tobytes().
_PACKED = {ir.DataType.INT4, ir.DataType.UINT4, ir.DataType.FLOAT4E2M1,
           *(getattr(ir.DataType, n) for n in ("INT2", "UINT2") if hasattr(ir.DataType, n))}
PACKED_TYPES = frozenset(_PACKED)
_FIELD = {(msg.DESCRIPTOR.name, name): msg.DESCRIPTOR.fields_by_name[name].number
          for msg, name in ((onnx.ModelProto, "graph"), (onnx.GraphProto, "initializer"),
                            (onnx.TensorProto, "raw_data"))}


def initializer_bytes(model: ir.Model) -> int:
    total = 0
    for graph in model.graphs():
        for v in graph.initializers.values():
            if v.const_value is not None:
                total += v.const_value.nbytes
    return total


def needs_external_data(model: ir.Model, external_data: bool | None) -> bool:
    if external_data is not None:
        return external_data
    return initializer_bytes(model) > PROTOBUF_LIMIT - EXTERNAL_MARGIN


def to_proto(model: ir.Model) -> onnx.ModelProto:
    """The full ``ModelProto``, every weight copied into it (``ExportResult.model`` builds it)."""
    return ir.serde.serialize_model(model)


# --------------------------------------------------------------------------- tensor bytes

def tensor_buffer(tensor: ir.TensorProtocol) -> memoryview | bytes:
    """The tensor's bytes as ONNX stores them (little-endian raw data), without a copy when the
    tensor is a contiguous CPU torch tensor or a native numpy array; ``tobytes()`` otherwise.

    A lazy tensor (a transposed weight, a checkpoint weight: ``checkpoint.TensorView``) is
    computed now; the buffer holds the only copy, which goes when the caller drops it.
    """
    if isinstance(tensor, TensorView):
        tensor = tensor.evaluate()
    elif isinstance(tensor, ir.LazyTensor):
        tensor = tensor.raw()
    raw = getattr(tensor, "raw", None)
    if tensor.dtype not in _PACKED:
        view = None
        if isinstance(raw, torch.Tensor) and raw.device.type == "cpu" and raw.is_contiguous():
            with contextlib.suppress(RuntimeError, TypeError):  # fake or exotic tensors
                view = memoryview(raw.detach().reshape(-1).view(torch.uint8).numpy())
        elif isinstance(raw, np.ndarray) and raw.dtype.byteorder in "=|<" and raw.dtype != object:
            view = memoryview(np.ascontiguousarray(raw).reshape(-1).view(np.uint8))
        if view is not None and view.nbytes == tensor.nbytes:
            return view
    return tensor.tobytes()


def _data_size(tensor: ir.TensorProtocol) -> int | None:
    """Bytes the tensor's storage really holds, where that is known without reading it."""
    raw = getattr(tensor, "raw", None)
    if tensor.dtype in _PACKED:
        return None
    if isinstance(raw, torch.Tensor):
        return raw.numel() * raw.element_size()
    if isinstance(raw, np.ndarray):
        return raw.nbytes
    return None


# --------------------------------------------------------------------------- skeletons

@dataclass
class Skeleton:
    """A serialised model whose large tensors are placeholders.

    ``tensors[k]`` is the real tensor behind the k-th placeholder, in the order ``serde`` wrote
    them; with external data, placeholder k's offset in the data file is ``offsets[k]``.
    """

    proto: onnx.ModelProto
    tensors: list[ir.TensorProtocol] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)


def _eligible(tensor: Any, threshold: int) -> bool:
    return (tensor is not None and not isinstance(tensor, ir.StringTensor)
            and tensor.dtype != ir.DataType.STRING and tensor.nbytes >= max(threshold, 1))


def _all_nodes(model: ir.Model) -> Iterator[ir.Node]:
    yield from ir.traversal.RecursiveGraphIterator(model.graph)
    for function in model.functions.values():
        yield from ir.traversal.RecursiveGraphIterator(function)


class _Placeholders:
    """Builds the placeholders of one skeleton: each an external reference at the next offset
    of ``location``, the real tensors and offsets kept in order."""

    def __init__(self, location: str):
        self.location, self.end = location, 0
        self.tensors: list[ir.TensorProtocol] = []
        self.offsets: list[int] = []

    def add(self, tensor: ir.TensorProtocol, name: str) -> ir.ExternalTensor:
        size = _data_size(tensor)
        if size is not None and size != tensor.nbytes:
            from .errors import CheckerError

            raise CheckerError(
                f"tensor {name!r} holds {size} bytes but its dtype {tensor.dtype.name} and shape "
                f"{list(tensor.shape)} need {tensor.nbytes}; the conversion that made it built "
                "an inconsistent tensor.")
        self.tensors.append(tensor)
        self.offsets.append(self.end)
        ph = ir.ExternalTensor(self.location, self.end, tensor.nbytes, tensor.dtype,
                               shape=tensor.shape, name=name, doc_string=tensor.doc_string,
                               metadata_props=dict(tensor.metadata_props) or None)
        self.end += tensor.nbytes
        return ph


def _scope(model: ir.Model, scope: str) -> tuple[list[ir.Graph], list[ir.Node]]:
    """The graphs whose initializers become placeholders, and the nodes whose tensor attributes
    do (only for ``"everything"``: every node, in subgraphs and local functions too)."""
    if scope == "graph":
        return [model.graph], []
    graphs = list(model.graphs())
    if scope != "everything":
        return graphs, []
    nodes = list(_all_nodes(model))
    for node in nodes:
        for attr in node.attributes.values():
            if attr.type == ir.AttributeType.GRAPH:
                graphs.append(attr.value)
            elif attr.type == ir.AttributeType.GRAPHS:
                graphs.extend(attr.value)
    return list({id(g): g for g in graphs}.values()), nodes


def _swap_initializers(graphs: list[ir.Graph], ph: _Placeholders, threshold: int,
                       restore: list[Any]) -> None:
    for graph in graphs:
        for value in graph.initializers.values():
            tensor = value.const_value
            if _eligible(tensor, threshold):
                value.const_value = ph.add(tensor, value.name or "")
                restore.append((value, tensor))


def _swap_attributes(nodes: list[ir.Node], ph: _Placeholders, threshold: int,
                     restore: list[Any]) -> None:
    for node in nodes:
        for name, attr in list(node.attributes.items()):
            if attr.type == ir.AttributeType.TENSOR and _eligible(attr.value, threshold):
                t = attr.value
                node.attributes[name] = ir.AttrTensor(name, ph.add(t, t.name or name),
                                                      doc_string=attr.doc_string)
                restore.append((node, name, attr))


def _restore(restore: list[Any]) -> None:
    for item in reversed(restore):
        if len(item) == 2:
            item[0].const_value = item[1]
        else:
            item[0].attributes[item[1]] = item[2]


def weightless(model: ir.Model, *, scope: str, location: str = WEIGHTLESS_LOCATION,
               threshold: int = EXTERNAL_THRESHOLD) -> Skeleton:
    """Serialise ``model`` with each tensor of at least ``threshold`` bytes as a placeholder.

    ``scope`` says which tensors: ``"graph"`` the main graph's initializers; ``"initializers"``
    those of every graph and subgraph (what external data holds); ``"everything"`` these plus
    every tensor attribute of every node, in subgraphs and local functions too (``Constant``
    values), for the checker. Placeholders reference ``location``, at consecutive offsets.
    ``model`` is changed only while this runs (the tensors are swapped back, as ``ir.save`` does).
    No tensor's bytes are read (a lazy one is not computed).
    """
    ph = _Placeholders(location)
    restore: list[Any] = []
    graphs, nodes = _scope(model, scope)
    try:
        _swap_initializers(graphs, ph, threshold, restore)
        _swap_attributes(nodes, ph, threshold, restore)
        proto = ir.serde.serialize_model(model)
    finally:
        _restore(restore)
    return Skeleton(proto, ph.tensors, ph.offsets)


# --------------------------------------------------------------------------- writers

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _key(number: int) -> bytes:
    return _varint(number << 3 | 2)  # wire type 2: length-delimited


def _initializer_pieces(graph: onnx.GraphProto, tensors: list[ir.TensorProtocol]) -> list[tuple[bytes, Any]]:
    """For each initializer of the skeleton's ``graph``: its encoding up to the raw bytes (the
    TensorProto without its external reference, then the raw_data key and length) and the
    tensor whose bytes follow (None when the encoding is complete). Nothing is read yet."""
    pieces: list[tuple[bytes, Any]] = []
    k = 0
    for t in graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL and k < len(tensors) and \
                any(e.key == "location" and e.value == _STREAMED for e in t.external_data):
            header = onnx.TensorProto()
            header.CopyFrom(t)
            header.ClearField("external_data")
            header.ClearField("data_location")
            tensor = tensors[k]
            k += 1
            raw_key = _key(_FIELD["TensorProto", "raw_data"]) + _varint(tensor.nbytes)
            pieces.append((header.SerializeToString() + raw_key, tensor))
        else:
            pieces.append((t.SerializeToString(), None))
    if k != len(tensors):
        raise OnnxExporterError("internal error: the streamed initializers lost their order.")
    return pieces


def _piece_size(head: bytes, tensor: Any) -> int:
    return len(head) + (tensor.nbytes if tensor is not None else 0)


class _Counter:
    """Writes chunks to a stream and counts them."""

    def __init__(self, stream: BinaryIO):
        self.stream, self.written = stream, 0

    def put(self, chunk: Any) -> None:
        if len(chunk):
            self.stream.write(chunk)
            self.written += len(chunk)


WHOLE_BYTES = 32 * 2**20  # a lazy tensor up to this size is made contiguous in one piece
TRANSPOSE_BLOCK = 16 * 2**20  # the blocks of a larger one


def _view_chunks(tensor: TensorView) -> Iterator[memoryview]:
    """The bytes (little-endian, row-major) of a lazy tensor, for dtypes ONNX stores unpacked:
    whole up to ``WHOLE_BYTES``, else in blocks of about ``TRANSPOSE_BLOCK`` bytes made
    contiguous one at a time.

    A 2-D transpose of a contiguous tensor (a Linear weight the graph uses as ``W.T``, a tied
    embedding as the LM head) is cut along the *source's* rows: each block is a narrow slice of
    ``W``'s columns, copied (short contiguous runs of every row of ``W``), then transposed while
    it is small. Making a block of rows of ``W.T`` contiguous directly reads ``W`` column by
    column, which for a 128k-vocabulary embedding is ten times slower than one whole transpose;
    this costs what a whole transpose does and holds one block. Any other view goes in blocks
    of its own rows. The bytes are those of ``tensor.chunks()``.
    """
    t = real(tensor.raw)  # a checkpoint weight is read once, here
    if t.dim() == 0 or t.numel() == 0:
        yield memoryview(t.contiguous().reshape(-1).view(torch.uint8).numpy())
        return
    transposed = (t.dim() == 2 and t.device.type == "cpu" and t.shape[0] > 1 and t.shape[1] > 1
                  and t.stride() == (1, t.shape[0]))
    row = max(t[0].numel() * t.element_size(), 1)
    step = max(1, TRANSPOSE_BLOCK // row)
    if t.numel() * t.element_size() <= WHOLE_BYTES or step >= t.shape[0]:
        yield memoryview(t.contiguous().reshape(-1).view(torch.uint8).numpy())
    elif transposed:
        base = t.t()  # contiguous: shape (columns of t, rows of t)
        for start in range(0, t.shape[0], step):
            piece = base[:, start:start + step].contiguous().t().contiguous()
            yield memoryview(piece.reshape(-1).view(torch.uint8).numpy())
    else:
        for start in range(0, t.shape[0], step):
            yield memoryview(t[start:start + step].contiguous().reshape(-1).view(torch.uint8).numpy())


def _put_tensor(out: _Counter, tensor: ir.TensorProtocol) -> None:
    """One tensor's bytes, computed now if it is lazy and dropped once written (a lazy view, a
    transposed weight, in blocks: no whole contiguous copy is made)."""
    if isinstance(tensor, TensorView) and tensor.dtype not in _PACKED:
        start = out.written
        for chunk in _view_chunks(tensor):
            out.put(chunk)
        data_len = out.written - start
    else:
        data = tensor_buffer(tensor)
        data_len = len(data)
        out.put(data)
    if data_len != tensor.nbytes:
        raise OnnxExporterError(
            f"internal error: tensor {tensor.name!r} gave {data_len} bytes where its dtype and "
            f"shape need {tensor.nbytes}.")


def write_model(model: ir.Model, stream: BinaryIO, preallocate: bool = False) -> int:
    """Write ``model`` as one binary ONNX protobuf to ``stream``; return the bytes written.

    With ``preallocate``, the file's blocks for the whole model are reserved first (see
    :func:`reserved`): only for a file of our own, which is removed if the write fails.

    The main graph's initializers are written from their tensors' memory, one after another
    (a lazy tensor is computed only when its turn comes, and dropped after): the only whole copy
    of the weights made is the file itself. The encoding is the ordinary protobuf one (fields in
    another order than ``SerializeToString`` uses, which every reader accepts), so ``onnx.load``
    and onnxruntime read it as any other model.
    """
    sk = weightless(model, scope="graph", location=_STREAMED, threshold=0)
    graph = sk.proto.graph
    pieces = _initializer_pieces(graph, sk.tensors)
    graph.ClearField("initializer")
    graph_rest = graph.SerializeToString()
    sk.proto.ClearField("graph")
    init_key = _key(_FIELD["GraphProto", "initializer"])
    sizes = [_piece_size(head, tensor) for head, tensor in pieces]
    graph_len = len(graph_rest) + sum(len(init_key) + len(_varint(s)) + s for s in sizes)
    prefix = sk.proto.SerializeToString() + _key(_FIELD["ModelProto", "graph"]) + _varint(graph_len)
    out = _Counter(stream)
    with reserved(stream, len(prefix) + graph_len) if preallocate else contextlib.nullcontext():
        out.put(prefix)
        out.put(graph_rest)
        for (head, tensor), size in zip(pieces, sizes):
            out.put(init_key + _varint(size) + head)
            if tensor is not None:
                _put_tensor(out, tensor)
    return out.written


@contextlib.contextmanager
def reserved(stream: BinaryIO, size: int) -> Iterator[None]:
    """Write ``stream``'s next ``size`` bytes in this block into disk space reserved beforehand,
    when its file is a regular file on Linux whose file system can (``fallocate(2)``; nothing
    otherwise); on a clean exit the file is cut where the writing stopped.

    Writing into blocks allocated beforehand is faster than letting every written page allocate
    its own: a 540 MB model on this project's ext4 machines took a median 0.21 s to write without,
    0.08 s with. ``fallocate`` is called directly, not through ``os.posix_fallocate``: where a
    file system cannot allocate ahead, the C library's ``posix_fallocate`` writes a zero into
    every block instead, which costs more than it saves; ``fallocate`` then just fails and the
    write goes on as usual.
    """
    if _fallocate is not None:
        try:
            fd = stream.fileno()
            if stat.S_ISREG(os.fstat(fd).st_mode):
                stream.flush()
                _fallocate(fd, 0, os.lseek(fd, 0, os.SEEK_CUR), size)  # -1 (EOPNOTSUPP, ...) is fine
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            pass
    yield
    stream.truncate()  # the file ends where the writing did, whatever was reserved


def _libc_fallocate() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    fn.restype = ctypes.c_int
    return fn


_fallocate = _libc_fallocate()


def model_bytes(model: ir.Model) -> bytes:
    """The model as bytes, written by :func:`write_model` (one copy of the weights)."""
    buffer = io.BytesIO()
    write_model(model, buffer)
    return buffer.getvalue()


def write_external(model: ir.Model, path: str, data_name: str) -> None:
    """Write ``model`` to ``path`` with every initializer of at least ``EXTERNAL_THRESHOLD``
    bytes (subgraphs included) in ``data_name`` beside it, each from its tensor's memory."""
    sk = weightless(model, scope="initializers", location=data_name)
    folder = os.path.dirname(os.path.abspath(path))
    with open(os.path.join(folder, data_name), "wb") as fh:
        out = _Counter(fh)
        with reserved(fh, sum(t.nbytes for t in sk.tensors)):
            for tensor in sk.tensors:  # one at a time: a lazy tensor is computed, written, dropped
                _put_tensor(out, tensor)
    with open(path, "wb") as fh:
        fh.write(sk.proto.SerializeToString())


def _readable(path: str) -> None:
    """Give a file made by mkstemp (mode 0600) the mode an ordinary ``open`` would have."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


@contextlib.contextmanager
def staged_file(model: ir.Model, path: str | os.PathLike | None) -> Iterator[str]:
    """Write ``model`` to a temporary file beside ``path``; yield its path (to verify it).

    On a clean exit the file is renamed to ``path``; on an exception it is removed and an
    existing ``path`` is left as it was. With ``path=None`` the file is made in the temporary
    folder and always removed (verify a model that goes to a file object, or nowhere).
    """
    folder = os.path.dirname(os.path.abspath(path)) if path is not None else None
    fd, tmp = tempfile.mkstemp(prefix=".onnxplug-", suffix=".tmp", dir=folder)
    try:
        with _writing(path), os.fdopen(fd, "wb") as fh:
            write_model(model, fh, preallocate=True)
        _readable(tmp)
        yield tmp
        if path is not None:
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def _writing(path: Any) -> Iterator[None]:
    """An OSError while the bytes are written (disk full, quota) is an export error."""
    try:
        yield
    except OSError as exc:
        raise ExportWriteError(
            f"cannot write {os.fspath(path) if path is not None else 'the model'!r}: {exc}. The "
            "previous file, if any, is unchanged. Free space or choose another folder, then "
            "export again.") from exc


def copy_file(path: str, f: Any) -> None:
    """Copy a staged model file into the binary file object ``f``, in chunks."""
    with open(path, "rb") as fh:
        _write_stream(f, lambda stream: shutil.copyfileobj(fh, stream, 16 * 2**20))


@contextlib.contextmanager
def staged_external(model: ir.Model, path: str | None) -> Iterator[str]:
    """Save ``model`` with its initializers in ``<file>.data`` into a staging folder.

    Yields the staged model's path (to verify it). On a clean exit the two files are moved to
    ``path`` and ``path + ".data"``; on an exception, or when ``path`` is None, nothing is left.
    The staging folder sits beside ``path`` so the moves are renames on one file system.
    """
    folder = os.path.dirname(os.path.abspath(path)) if path is not None else None
    base = os.path.basename(path) if path is not None else "model.onnx"
    with tempfile.TemporaryDirectory(prefix=".onnxplug-", dir=folder) as tmpdir:
        tmp_model = os.path.join(tmpdir, base)
        with _writing(path):
            write_external(model, tmp_model, base + ".data")
        yield tmp_model
        if path is not None:
            for name in (base + ".data", base):
                _readable(os.path.join(tmpdir, name))
            os.replace(os.path.join(tmpdir, base + ".data"), os.path.join(folder, base + ".data"))
            os.replace(tmp_model, path)


def write(data: bytes, f: Any) -> None:
    """Write serialized model bytes to a path (atomically) or to a binary file object."""
    if isinstance(f, (str, os.PathLike)):
        folder = os.path.dirname(os.path.abspath(os.fspath(f)))
        fd, tmp = tempfile.mkstemp(prefix=".onnxplug-", suffix=".tmp", dir=folder)
        try:
            with _writing(f), os.fdopen(fd, "wb") as fh:
                fh.write(data)
            _readable(tmp)
            os.replace(tmp, os.fspath(f))
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    else:
        _write_stream(f, lambda stream: stream.write(data))


def _write_stream(f: Any, fill: Any) -> None:
    stream: BinaryIO = f
    fill(stream)
    if hasattr(stream, "flush"):
        stream.flush()


def save(model: ir.Model, f: Any, external: bool) -> None:
    """Save ``model`` to a path (atomically) or a binary file object, streaming its tensors."""
    if external:
        with staged_external(model, require_path_for_external(f)):
            pass
    elif isinstance(f, (str, os.PathLike)):
        with staged_file(model, os.fspath(f)):
            pass
    else:
        _write_stream(f, lambda stream: write_model(model, stream))


def require_path_for_external(f: Any) -> str:
    if not isinstance(f, (str, os.PathLike)):
        raise OnnxExporterError(
            "the model's initializers exceed the 2 GB protobuf limit, so they must be saved as "
            "external data beside the model file: pass f as a path, not a file object or None.")
    return os.fspath(f)

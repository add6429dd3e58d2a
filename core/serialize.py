"""Saving: atomic writes to a path or a binary file object, external data past 2 GB.

A model is written to a temporary file in the destination folder and renamed into place, so
a failed export never leaves a partial file. A file object gets the bytes in one ``write``
after everything else succeeded.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO

import onnx
import onnx_ir as ir

from .check import check_model
from .errors import OnnxExporterError

PROTOBUF_LIMIT = 2**31 - 1
EXTERNAL_MARGIN = 64 * 2**20  # graph structure needs room beside the weights


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
    return ir.serde.serialize_model(model)


def _atomic_write_bytes(path: str, data: bytes) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".onnxplug-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OnnxExporterError(
                f"cannot write {path!r}: {exc}. The previous file, if any, is unchanged. Free "
                "space or choose another folder, then export again.") from exc
        raise


@contextlib.contextmanager
def staged_external(model: ir.Model, path: str | None) -> Iterator[str]:
    """Save ``model`` with its initializers in ``<file>.data`` into a staging folder and check it.

    Yields the staged model's path (to verify it). On a clean exit the two files are moved to
    ``path`` and ``path + ".data"``; on an exception, or when ``path`` is None, nothing is left.
    The staging folder sits beside ``path`` so the moves are renames on one file system.
    """
    folder = os.path.dirname(os.path.abspath(path)) if path is not None else None
    base = os.path.basename(path) if path is not None else "model.onnx"
    with tempfile.TemporaryDirectory(prefix=".onnxplug-", dir=folder) as tmpdir:
        tmp_model = os.path.join(tmpdir, base)
        ir.save(model, tmp_model, external_data=base + ".data")
        check_model(tmp_model)
        yield tmp_model
        if path is not None:
            os.replace(os.path.join(tmpdir, base + ".data"), os.path.join(folder, base + ".data"))
            os.replace(tmp_model, path)


def write(data: bytes, f: Any) -> None:
    """Write serialized model bytes to a path (atomically) or to a binary file object."""
    if isinstance(f, (str, os.PathLike)):
        _atomic_write_bytes(os.fspath(f), data)
    else:
        stream: BinaryIO = f
        stream.write(data)
        if hasattr(stream, "flush"):
            stream.flush()


def require_path_for_external(f: Any) -> str:
    if not isinstance(f, (str, os.PathLike)):
        raise OnnxExporterError(
            "the model's initializers exceed the 2 GB protobuf limit, so they must be saved as "
            "external data beside the model file: pass f as a path, not a file object or None."
        )
    return os.fspath(f)

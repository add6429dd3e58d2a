"""Small ONNX building blocks shared by the conversions, written with ops whose signature is
the same at every opset these conversions serve (Gather, Reshape, Cast, Sub, Mul)."""

from __future__ import annotations

import torch

FLOAT = torch.float32


def column(g, rois, index: int):
    """``rois[:, index]`` (shape ``[K]``)."""
    return g.op("Gather", rois, g.constant(torch.tensor(index, dtype=torch.int64)), axis_i=1)


def columns(g, rois, indices: list[int]):
    """``rois[:, indices]`` (shape ``[K, len(indices)]``)."""
    return g.op("Gather", rois, g.constant(torch.tensor(indices, dtype=torch.int64)), axis_i=1)


def reshape(g, x, shape: list[int]):
    return g.op("Reshape", x, g.constant(torch.tensor(shape, dtype=torch.int64)))


def as_float32(g, x):
    """``x`` as float32 (NonMaxSuppression takes no other type)."""
    return x if g.dtype(x) == FLOAT else g.op("Cast", x, to_i=1)


def roi_parts(g, rois, shift: float = 0.0):
    """torchvision's ``[K, 5]`` rois (batch index, x1, y1, x2, y2) as RoiAlign's two inputs:
    the boxes ``[K, 4]`` (minus ``shift``) and the batch indices ``[K]`` as int64."""
    boxes = columns(g, rois, [1, 2, 3, 4])
    if shift:
        boxes = g.op("Sub", boxes, g.constant(torch.tensor(shift, dtype=g.dtype(rois))))
    batch = g.op("Cast", column(g, rois, 0), to_i=7)
    return boxes, batch


def static_dim(g, x, axis: int, what: str) -> int:
    """A dimension that must be known when exporting; NotImplementedError otherwise."""
    shape = g.shape(x)
    if shape is None or not isinstance(shape[axis], int):
        raise NotImplementedError(f"{what} needs a fixed size at axis {axis} of its input")
    return shape[axis]

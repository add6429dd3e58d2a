"""Dropout in inference (the identity); training mode comes with Dropout-12 (before it, only
p == 1 converts here: it drops everything; other p decline to PyTorch's decomposition)."""

from __future__ import annotations

from ..nn_helpers import all_true_mask, drop_everything
from ..registration import op


@op("aten::dropout", "aten::feature_dropout")
def dropout(g, x, p, train):
    """Identity in inference; before opset 12 ONNX's Dropout cannot run in training mode, but
    p == 1 drops everything (whole channels too): zeros."""
    if not train or p == 0:
        return x
    if float(p) >= 1.0:
        return drop_everything(g, x)[0]
    raise NotImplementedError("dropout in training mode needs opset >= 12")


@op("aten::alpha_dropout", "aten::feature_alpha_dropout")
def alpha_dropout(g, x, p, train):
    """Identity in inference; training mode declines to PyTorch's decomposition."""
    if not train or p == 0:
        return x
    raise NotImplementedError("alpha dropout in training mode has no ONNX form")


@op("aten::native_dropout")
def native_dropout(g, x, p, train):
    if not train or p == 0:
        return x, all_true_mask(g, x)
    if float(p) >= 1.0:
        return drop_everything(g, x)
    raise NotImplementedError("dropout in training mode needs opset >= 12")

"""Dropout in inference (the identity); training mode comes with Dropout-12."""

from __future__ import annotations

from ..nn_helpers import all_true_mask
from ..registration import op


@op("aten::dropout", "aten::feature_dropout", "aten::alpha_dropout", "aten::feature_alpha_dropout")
def dropout(g, x, p, train):
    """Identity in inference; before opset 12 ONNX's Dropout cannot run in training mode."""
    if not train or p == 0:
        return x
    raise NotImplementedError("dropout in training mode needs opset >= 12")


@op("aten::native_dropout")
def native_dropout(g, x, p, train):
    if not train or p == 0:
        return x, all_true_mask(g, x)
    raise NotImplementedError("dropout in training mode needs opset >= 12")

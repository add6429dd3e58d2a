"""torchvision's detection models as export cases: how to build each one (random weights,
eval mode, a score threshold of 0 so that detections are never empty) and how to compare the
exported model's boxes, scores and labels with eager PyTorch.

Used by the plugin's tests (``tests/test_detection_models.py``) and by
``benchmarks/realops_detection.py``. Needs torchvision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

IMAGE = (3, 320, 320)


@dataclass(frozen=True)
class DetectionCase:
    """``name`` is the torchvision builder; ``threshold`` the keyword of its score threshold;
    ``resize``: the model's transform resizes images (to 800 by default), and is told to keep
    them at ``IMAGE``'s 320 (smaller graphs to trace and run); ``std`` and ``conv_gain``: how
    :func:`spread` draws the weights again."""

    name: str
    threshold: str = "box_score_thresh"
    resize: bool = False
    std: float = 1.0
    conv_gain: float | None = None

    def build(self) -> torch.nn.Module:
        """The model with random weights, eval mode, score threshold 0.

        torchvision's own initialisation (zero biases, unit batch norms, heads at std 0.01)
        gives every detection of a random image the same score, and then which boxes are kept
        is a matter of tie-breaking; the batch-norm scales and shifts and every bias are drawn
        at std 1 instead, so that scores differ."""
        from torchvision.models import detection

        torch.manual_seed(0)
        builder = getattr(detection, self.name)
        sizes = {"min_size": IMAGE[1], "max_size": IMAGE[2]} if self.resize else {}
        model = builder(weights=None, weights_backbone=None, **{self.threshold: 0.0},
                        **sizes).eval()
        spread(model, std=self.std, conv_gain=self.conv_gain)
        return model


def spread(model: torch.nn.Module, seed: int = 1, std: float = 1.0,
           conv_gain: float | None = None) -> None:
    """Batch-norm scales and shifts and every bias drawn at ``std``; with ``conv_gain``, the
    convolution weights too, at ``conv_gain / sqrt(fan_in)``.

    SSDlite needs the latter: its own initialisation (std 0.03) shrinks the activations layer
    after layer until whole feature maps are constant, and then the anchors of one aspect
    ratio all have the same score (of 3234 candidates per class, about 1200 distinct values,
    and up to 155 tied with the 300th). Which of the tied anchors ``topk`` keeps is a
    tie-break that onnxruntime and PyTorch make differently, and NMS over different boxes
    keeps different detections: the export was right but the comparison could not tell.

    Mask R-CNN, Keypoint R-CNN and RetinaNet need a smaller ``std`` (0.1): at 1 the
    ResNet-50's activations grow until the softmax or sigmoid saturates: the background class
    took every softmax (no detection at all, and a trace of the empty branch), and RetinaNet's
    300 detections all scored 1.0 (a comparison that could tell nothing)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if conv_gain is not None and isinstance(m, torch.nn.Conv2d):
                m.weight.normal_(0.0, conv_gain / m.weight[0].numel() ** 0.5, generator=g)
            if isinstance(m, torch.nn.BatchNorm2d):
                torch.nn.init.normal_(m.weight, 1.0, std, generator=g)
                torch.nn.init.normal_(m.bias, 0.0, std, generator=g)
            elif isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)) and m.bias is not None:
                torch.nn.init.normal_(m.bias, 0.0, std, generator=g)


# The six families of issue 14, smallest variant each.
CASES = (
    DetectionCase("fasterrcnn_mobilenet_v3_large_320_fpn"),
    DetectionCase("maskrcnn_resnet50_fpn", resize=True, std=0.1, conv_gain=1.0),
    DetectionCase("keypointrcnn_resnet50_fpn", resize=True, std=0.1, conv_gain=1.0),
    DetectionCase("retinanet_resnet50_fpn", "score_thresh", resize=True, std=0.1),
    DetectionCase("fcos_resnet50_fpn", "score_thresh", resize=True),
    DetectionCase("ssdlite320_mobilenet_v3_large", "score_thresh", conv_gain=1.0),
)


def images(seed: int) -> list[torch.Tensor]:
    """The model's input: a list of one ``IMAGE``-sized image."""
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(*IMAGE, generator=g)]


def eager_outputs(model: torch.nn.Module, imgs: list[torch.Tensor]) -> list[np.ndarray]:
    """The eager detections, flattened as the ONNX outputs are (boxes, labels, scores, ...)."""
    from torch.utils import _pytree as pytree

    with torch.no_grad():
        return [t.numpy() for t in pytree.tree_leaves(model(imgs))]


# Mask R-CNN's masks are MASK_SIZE pixels square; pasting one widens its box by
# (MASK_SIZE + 2) / MASK_SIZE and truncates it to whole pixels. A box edge within float
# rounding of a whole pixel (8.9999 in eager, 9.0001 in onnxruntime, the boxes equal to 1e-6)
# puts the mask one pixel over: such a mask is not compared pixel by pixel (its box was).
MASK_SIZE = 28


def _pasted_at(box: np.ndarray) -> tuple[int, ...]:
    """The whole pixels a mask of ``box`` is pasted at (torchvision's ``expand_boxes``)."""
    scale = np.float32((MASK_SIZE + 2) / MASK_SIZE)
    box = box.astype(np.float32)
    w, h = (box[2] - box[0]) * np.float32(0.5) * scale, (box[3] - box[1]) * np.float32(0.5) * scale
    x, y = (box[2] + box[0]) * np.float32(0.5), (box[3] + box[1]) * np.float32(0.5)
    return tuple(int(v) for v in np.trunc([x - w, y - h, x + w, y + h]))


def compare(onnx_outputs: list[np.ndarray], eager: list[np.ndarray], rtol: float = 1e-3,
            atol: float = 1e-3, score_tol: float = 1e-4) -> None:
    """The exported model's detections are the eager ones (AssertionError otherwise).

    Outputs are matched by kind: boxes ``[N, 4]`` float, labels ``[N]`` int, scores ``[N]``
    float; any further output (masks, keypoints and their scores) is compared detection by
    detection, each with its eager counterpart. The counts are equal,
    the sorted scores agree, and every detection has an eager one with the same label, the same
    box and the same score (within ``score_tol``): scores that tie within rounding may come out
    in another order. Only detections tied with the lowest kept score may differ (which of
    two equal scores makes the cut is a tie-break)."""
    if eager and not eager[0].size:
        raise AssertionError("eager PyTorch detects nothing: the case compares no detection")
    _, _, score_index = _kinds(eager)
    if score_index is not None and len(np.unique(eager[score_index])) < 0.9 * eager[score_index].size:
        raise AssertionError("eager PyTorch's scores mostly tie: which detections are kept is a "
                             "tie-break, and the case cannot tell a right export from a wrong one")
    if len(onnx_outputs) != len(eager):
        raise AssertionError(f"{len(onnx_outputs)} ONNX outputs, {len(eager)} eager ones")
    for i, (got, want) in enumerate(zip(onnx_outputs, eager)):
        if got.shape != want.shape or got.dtype.kind != want.dtype.kind:
            raise AssertionError(f"output {i}: {got.dtype}{list(got.shape)}, eager "
                                 f"{want.dtype}{list(want.shape)}")
    boxes, labels, scores = _kinds(eager)
    if boxes is None or labels is None or scores is None:
        for i, (got, want) in enumerate(zip(onnx_outputs, eager)):
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"output {i}")
        return
    gb, gl, gs = (onnx_outputs[boxes], onnx_outputs[labels], onnx_outputs[scores])
    wb, wl, ws = eager[boxes], eager[labels], eager[scores]
    np.testing.assert_allclose(np.sort(gs), np.sort(ws), rtol=rtol, atol=score_tol,
                               err_msg="sorted scores")
    cut = ws.min() if ws.size else 0.0
    free = np.ones(len(ws), dtype=bool)
    missing, pairs = [], []
    for i in range(len(gs)):
        near = free & (wl == gl[i]) & (np.abs(ws - gs[i]) <= score_tol + rtol * abs(gs[i])) & \
            np.all(np.abs(wb - gb[i]) <= atol + rtol * np.abs(gb[i]), axis=1)
        hits = np.flatnonzero(near)
        if hits.size:
            free[hits[0]] = False
            pairs.append((i, hits[0]))
        elif gs[i] - cut > score_tol:
            missing.append(i)
    if missing:
        i = missing[0]
        raise AssertionError(
            f"{len(missing)} of {len(gs)} ONNX detections have no eager counterpart; the first: "
            f"label {gl[i]}, score {gs[i]:.6f}, box {gb[i].tolist()}")
    for k in range(len(eager)):  # masks, keypoints: per detection, with its eager counterpart
        if k in (boxes, labels, scores):
            continue
        for i, j in pairs:
            got, want = onnx_outputs[k][i], eager[k][j]
            if got.ndim == 3 and np.allclose(got, want, rtol=rtol, atol=atol):
                continue
            if got.ndim == 3 and _pasted_at(gb[i]) != _pasted_at(wb[j]):
                continue  # the same box, rounded to other pixels: see MASK_SIZE
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol,
                                       err_msg=f"output {k} of detection {i} (eager {j})")


def _kinds(outputs: list[np.ndarray]) -> tuple[int | None, int | None, int | None]:
    """Indices of the boxes, labels and scores outputs (the first of each kind)."""
    boxes = labels = scores = None
    for i, o in enumerate(outputs):
        if o.ndim == 2 and o.shape[1] == 4 and o.dtype.kind == "f" and boxes is None:
            boxes = i
        elif o.ndim == 1 and o.dtype.kind in "iu" and labels is None:
            labels = i
        elif o.ndim == 1 and o.dtype.kind == "f" and scores is None:
            scores = i
    return boxes, labels, scores

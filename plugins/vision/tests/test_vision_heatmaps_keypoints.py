"""Keypoint R-CNN's heatmaps to keypoints (``onnxplug_vision.keypoints``, used while the model
is captured): the op's eager kernel is torchvision's function, and its ONNX ``Loop`` resizes
each detection's maps to that box's run-time size, so an export holds for other boxes and
another number of detections than the example's."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from vision_testing import require_torchvision

import onnxplug

require_torchvision()

from torchvision.models.detection import roi_heads  # noqa: E402

from onnxplug_vision.keypoints import define  # noqa: E402


def _inputs(seed: int, k: int):
    g = torch.Generator().manual_seed(seed)
    maps = torch.randn(k, 17, 56, 56, generator=g)
    xy = torch.rand(k, 2, generator=g) * 200
    rois = torch.cat([xy, xy + 0.5 + torch.rand(k, 2, generator=g) * 150], dim=1)
    rois[0, 2] = rois[0, 0] + 0.4  # under a pixel wide: resized to a width of 1
    scores = torch.rand(k, generator=g)
    scores[0] = 1.0  # the narrow box is always kept
    return maps, rois, scores


class Keypoints(torch.nn.Module):
    """The detections scoring over 0.3 (a data-dependent count, as in the model) to keypoints."""

    def forward(self, maps, rois, scores):
        keep = torch.where(scores > 0.3)[0]
        return roi_heads.heatmaps_to_keypoints(maps[keep], rois[keep])


def test_kernel_is_torchvisions():
    maps, rois, _ = _inputs(0, 6)
    got = define()(maps, rois)
    want = roi_heads.heatmaps_to_keypoints(maps, rois)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("opset", [11, 17, 18])
def test_keypoints_follow_runtime_boxes(opset):
    example = _inputs(1, 8)
    r = onnxplug.export(Keypoints(), example, capture="trace", opset_version=opset)
    onnx.checker.check_model(r.model, full_check=True)
    assert "Loop" in {n.op_type for n in r.model.graph.node}
    sess = ort.InferenceSession(r.model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    counts = set()
    none = _inputs(4, 8)
    none[2].zero_()  # no detection kept
    for inputs in (example, _inputs(2, 8), _inputs(3, 8), none):
        want = [t.numpy() for t in Keypoints()(*inputs)]
        counts.add(want[0].shape[0])
        got = sess.run(None, dict(zip(names, (t.numpy() for t in inputs))))
        assert got[0].shape == want[0].shape and got[1].shape == want[1].shape
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-4)  # whole pixels
        np.testing.assert_allclose(got[1], want[1], rtol=1e-4, atol=1e-4)
    assert len(counts) > 2, "the inputs keep as many detections as the example"

"""torchvision ops beyond the declared cases: data-dependent sizes, the refusals with their
reasons, and the capture settings. Every export is checked, run in onnxruntime and compared
with eager torchvision."""

from __future__ import annotations

import pytest
import torch
from vision_testing import require_torchvision

import onnxplug
from onnxplug.testing import export_and_compare
from onnxplug_vision.cases import random_boxes, random_rois

ops = require_torchvision()


class Nms(torch.nn.Module):
    def forward(self, boxes, scores):
        return ops.nms(boxes, scores, 0.4)


class Align(torch.nn.Module):
    def __init__(self, aligned: bool):
        super().__init__()
        self.aligned = aligned

    def forward(self, x, rois):
        return ops.roi_align(x, rois, 2, spatial_scale=0.25, sampling_ratio=-1,
                             aligned=self.aligned)


def test_nms_keeps_a_run_time_count_of_boxes():
    boxes, scores = random_boxes(20), torch.rand(20)
    r = export_and_compare(Nms(), (boxes, scores), run_inputs=(random_boxes(50), torch.rand(50)),
                           input_names=["boxes", "scores"],
                           dynamic_axes={"boxes": {0: "n"}, "scores": {0: "n"}})
    out = r.model.graph.output[0].type.tensor_type
    assert out.elem_type == 7 and out.shape.dim[0].dim_param  # int64, dynamic count


def test_nms_of_float64_boxes():
    boxes, scores = random_boxes(12).double(), torch.rand(12, dtype=torch.float64)
    export_and_compare(Nms(), (boxes, scores))


@pytest.mark.parametrize("aligned", [False, True])
def test_roi_align_with_a_run_time_count_of_rois(aligned):
    x = torch.randn(2, 4, 10, 10)
    r = export_and_compare(Align(aligned), (x, random_rois(3, size=40.0)),
                           run_inputs=(x, random_rois(7, size=40.0)), opset=16,
                           input_names=["x", "rois"], dynamic_axes={"rois": {0: "k"}}, rtol=1e-4)
    modes = [a.s for n in r.model.graph.node if n.op_type == "RoiAlign" for a in n.attribute
             if a.name == "coordinate_transformation_mode"]
    assert modes == [b"half_pixel" if aligned else b"output_half_pixel"]


def test_roi_align_aligned_below_16_says_which_opset():
    with pytest.raises(onnxplug.OnnxExporterError, match="opset_version >= 16"):
        onnxplug.export(Align(True), (torch.randn(1, 2, 8, 8), random_rois(2, batch=1)),
                        opset_version=15)


def test_ps_roi_pool_is_refused_with_the_reason():
    def ps_pool(x, rois):
        return ops.ps_roi_pool(x, rois, 2, 0.5)

    with pytest.raises(onnxplug.OnnxExporterError, match="(?s)ps_roi_pool.*ps_roi_align"):
        onnxplug.export(ps_pool, (torch.randn(1, 8, 8, 8), random_rois(2, batch=1)))


def test_deform_conv2d_below_19_names_the_opset():
    from onnxplug_vision.cases import DeformConv

    x, offset = torch.randn(1, 4, 9, 9), torch.randn(1, 36, 7, 7)
    with pytest.raises(onnxplug.UnsupportedOperatorError, match="19"):
        onnxplug.export(DeformConv(), (x, offset), opset_version=18)


def test_batched_nms_of_many_boxes_is_one_nms_per_class():
    """1500 boxes: torchvision loops over the classes; the capture makes that one op, one
    NonMaxSuppression with a class axis, which also serves classes the example lacks."""
    import torchvision.ops.boxes as box_ops

    def batched(boxes, scores, labels):
        return ops.batched_nms(boxes, scores, labels, 0.5)

    n, loop = 1500, box_ops._batched_nms_vanilla
    args = (random_boxes(n, 64.0), torch.rand(n), torch.randint(0, 4, (n,)))
    other = (random_boxes(n, 64.0), torch.rand(n), torch.randint(0, 9, (n,)))
    r = export_and_compare(batched, args, run_inputs=other, capture="trace")
    assert sum(node.op_type == "NonMaxSuppression" for node in r.model.graph.node) == 1
    assert box_ops._batched_nms_vanilla is loop  # restored


@pytest.mark.parametrize("opset", [11, 17, 21])
def test_batched_nms_op_at_its_opsets(opset):
    from onnxplug_vision.batched_nms import define

    op = define()

    def batched(boxes, scores, labels):
        return op(boxes, scores, labels, 0.5)

    n = 300
    args = (random_boxes(n, 64.0), torch.rand(n), torch.randint(-2, 3, (n,)))
    export_and_compare(batched, args, opset=opset,
                       run_inputs=(random_boxes(40, 64.0), torch.rand(40),
                                   torch.randint(0, 7, (40,))),
                       input_names=["b", "s", "l"],
                       dynamic_axes={"b": {0: "n"}, "s": {0: "n"}, "l": {0: "n"}})

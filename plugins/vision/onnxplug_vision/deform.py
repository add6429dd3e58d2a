"""``torchvision::deform_conv2d`` -> ``DeformConv`` (opset 19).

torchvision's offsets ``[N, 2 * offset_groups * kh * kw, H_out, W_out]`` (y, x pairs per kernel
position) and mask ``[N, offset_groups * kh * kw, H_out, W_out]`` are DeformConv's layouts. The
op passes an empty mask when ``mask=None`` (``use_mask=False``): DeformConv's mask input is then
left out. Below opset 19 there is no registration, so the export error says it exists from 19:
a bilinear-sampling composition would be a GridSample per kernel position, itself opset 16+.
"""

from __future__ import annotations

from onnxplug import symbolic


@symbolic("torchvision::deform_conv2d", opset=19)
def deform_conv2d(g, x, weight, offset, mask, bias, stride_h, stride_w, pad_h, pad_w,
                  dilation_h, dilation_w, groups, offset_groups, use_mask):
    kh, kw = _kernel(g, weight)
    inputs = [x, weight, offset, bias] + ([mask] if use_mask else [])
    return g.op("DeformConv", *inputs, dilations_is=[dilation_h, dilation_w], group_i=groups,
                kernel_shape_is=[kh, kw], offset_group_i=offset_groups,
                pads_is=[pad_h, pad_w, pad_h, pad_w], strides_is=[stride_h, stride_w])


def _kernel(g, weight) -> tuple[int, int]:
    shape = g.shape(weight)
    if shape is None or not all(isinstance(d, int) for d in shape[2:]):
        raise NotImplementedError("deform_conv2d needs a weight of known kernel size")
    return shape[2], shape[3]


ALL = [deform_conv2d]

"""Convolutions, transposed convolutions and ``im2col`` (``F.unfold``), as of opset 7."""

from __future__ import annotations

import torch

from .. import forms
from ..forms import squeeze, unsqueeze
from ..helpers import is_float, reshape, transpose
from ..nn_helpers import channel_shape, int_conv, per_axis
from ..registration import op


def conv(g, x, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    n = g.rank(weight) - 2
    if g.rank(x) == n + 1:  # an unbatched input: add the batch axis and drop it after
        y = conv(g, unsqueeze(g, x, [0]), weight, bias, stride, padding, dilation, transposed,
                 output_padding, groups)
        return squeeze(g, y, [0])
    kernel = list(g.shape(weight)[2:])
    attrs = dict(kernel_shape_is=kernel, strides_is=per_axis(stride, n), dilations_is=per_axis(dilation, n),
                 group_i=groups)
    if isinstance(padding, str):
        if padding == "valid":
            attrs["pads_is"] = [0] * (2 * n)
        else:  # "same": torch pads the extra element at the end, like SAME_UPPER
            total = [d * (k - 1) for d, k in zip(per_axis(dilation, n), kernel)]
            attrs["pads_is"] = [t // 2 for t in total] + [t - t // 2 for t in total]
    else:
        p = per_axis(padding, n)
        attrs["pads_is"] = p + p
    op_type = "ConvTranspose" if transposed else "Conv"
    out_pad = per_axis(output_padding, n) if transposed else [0] * n
    dt = g.dtype(x)
    if not is_float(dt):  # ONNX's Conv is float-only: gathered windows and an int64 MatMul
        return int_conv(g, x, weight, bias, per_axis(stride, n), attrs["pads_is"], per_axis(dilation, n), transposed,
                        out_pad, groups, dt)
    if any(o >= s for o, s in zip(out_pad, per_axis(stride, n))):
        return conv_transpose_wide_output_padding(g, x, weight, bias, attrs, out_pad, n)
    if any(out_pad):
        attrs["output_padding_is"] = out_pad
    inputs = [x, weight] + ([bias] if bias is not None else [])
    return g.op(op_type, *inputs, **attrs)


def conv_transpose_wide_output_padding(g, x, weight, bias, attrs, out_pad, n):
    """ConvTranspose whose output_padding reaches the stride (PyTorch allows it up to the dilation).

    onnxruntime rejects that; the same output is cropped less at the end (fewer end pads), and
    where even no crop is not enough, zeros are appended: no input reaches those positions, so
    they hold only the bias, added after.
    """
    pads = list(attrs["pads_is"])
    extra = []
    for i in range(n):
        end = pads[n + i] - out_pad[i]
        pads[n + i] = max(end, 0)
        extra.append(max(-end, 0))
    attrs["pads_is"] = pads
    y = g.op("ConvTranspose", x, weight, **attrs)
    if any(extra):
        pad_amounts = [0] * (n + 2) + [0, 0] + extra
        y = forms.pad(g, y, pad_amounts)
    if bias is not None:
        y = g.op("Add", y, reshape(g, bias, channel_shape(n + 2)))
    return y


@op("aten::convolution")
def convolution(g, x, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    return conv(g, x, weight, bias, stride, padding, dilation, transposed, output_padding, groups)


@op("aten::conv1d", "aten::conv2d", "aten::conv3d", "aten::conv1d.padding", "aten::conv2d.padding",
    "aten::conv3d.padding")
def conv_nd(g, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return conv(g, x, weight, bias, stride, padding, dilation, False, 0, groups)


@op("aten::conv_transpose1d", "aten::conv_transpose2d.input", "aten::conv_transpose3d.input")
def conv_transpose_nd(g, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return conv(g, x, weight, bias, stride, padding, dilation, True, output_padding, groups)


@op("aten::im2col")
def im2col(g, x, kernel_size, dilation, padding, stride):
    """``F.unfold``: each sliding block becomes a column, ``[N, C, H, W] -> [N, C*kh*kw, L]``.

    Two Gathers with ``[kernel, output]`` index tables pick each block's rows and then its
    columns from the zero-padded input (exact for any values), a Transpose puts the kernel axes
    beside the channel and a Reshape merges them. The batch axis is never named in a shape (the
    Reshape keeps it with a 0), so a dynamic or empty batch works too. Channels and spatial
    sizes must be static.
    """
    from .shape import pad_op

    if g.rank(x) == 3:  # unbatched [C, H, W]
        c, h, w = g.shape(x)
        x = g.set_type(unsqueeze(g, x, [0]), shape=[1, c, h, w])
        return squeeze(g, im2col(g, x, kernel_size, dilation, padding, stride), [0])
    n, c, h, w = g.shape(x)
    if not all(isinstance(v, int) for v in (c, h, w)):
        raise NotImplementedError("im2col with a dynamic channel count or spatial size")
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = (per_axis(v, 2) for v in (kernel_size, dilation, padding, stride))
    x = pad_op(g, x, [pw, pw, ph, ph], "constant", 0)

    def table(size, k, d, s):
        """``[k, out]``: the input position of kernel tap ``i`` in output block ``j``."""
        out = (size - d * (k - 1) - 1) // s + 1
        return torch.arange(k).reshape(k, 1) * d + torch.arange(out).reshape(1, out) * s, out

    rows, oh = table(h + 2 * ph, kh, dh, sh)
    cols, ow = table(w + 2 * pw, kw, dw, sw)
    y = g.op("Gather", x, g.constant(rows), axis_i=2)  # [N, C, kh, oh, W]
    y = g.op("Gather", y, g.constant(cols), axis_i=4)  # [N, C, kh, oh, kw, ow]
    y = transpose(g, y, [0, 1, 2, 4, 3, 5])  # [N, C, kh, kw, oh, ow]
    return reshape(g, y, [0, c * kh * kw, oh * ow])

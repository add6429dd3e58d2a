"""Opset 11: Resize with PyTorch's coordinate conventions."""

from __future__ import annotations

import torch

from ..helpers import cast
from ..nn_helpers import per_axis, resize_scale, upsample_scales_of
from ..registration import op

_LINEAR = ("aten::upsample_linear1d", "aten::upsample_bilinear2d", "aten::upsample_trilinear3d")


def resize(g, x, output_size, scale_factors, mode, align_corners=False, exact=False, antialias=False):
    """``Resize`` the spatial axes of ``x`` to PyTorch's ``interpolate`` result.

    With a scale factor PyTorch maps coordinates by the factor itself (not by the size ratio),
    so it goes to ``scales``; otherwise the output sizes go to ``sizes``. ``antialias`` (Resize
    from opset 18) is PyTorch's ``antialias=True``, the PIL-style filter: half-pixel centres,
    weights renormalised over the pixels inside the image (``exclude_outside``) and, for cubic,
    the coefficient -0.5.
    """
    dt = g.dtype(x)
    rank = g.rank(x)
    n = rank - 2
    attrs = {"mode_s": mode}
    if antialias:
        if align_corners:
            raise NotImplementedError("antialiased interpolate with align_corners=True: Resize's antialias "
                                      "filter does not reproduce it")
        attrs.update(antialias_i=1, exclude_outside_i=1, coordinate_transformation_mode_s="half_pixel")
        if mode == "cubic":
            attrs["cubic_coeff_a_f"] = -0.5
    elif mode == "nearest":
        attrs["coordinate_transformation_mode_s"] = "half_pixel" if exact else "asymmetric"
        attrs["nearest_mode_s"] = "round_prefer_ceil" if exact else "floor"
    else:
        # pytorch_half_pixel samples an output axis of size 1 at 0; PyTorch at the centre, as
        # half_pixel does (the same elsewhere: PyTorch clamps where half_pixel pads by the edge)
        ones = any(d == 1 for d in g.out_shape()[2:])
        attrs["coordinate_transformation_mode_s"] = ("align_corners" if align_corners else
                                                     "half_pixel" if ones else "pytorch_half_pixel")
        if mode == "cubic":
            attrs["cubic_coeff_a_f"] = -0.75
    compute = dt if dt in (torch.float16, torch.float32, torch.float64) else torch.float32
    xc = cast(g, x, compute)
    roi = g.constant(torch.zeros(0, dtype=torch.float32))
    scales = scale_factors if scale_factors and not align_corners else None
    if scales is not None and all(s is not None for s in scales):
        sc = g.constant(torch.tensor([1.0, 1.0] + _onnx_scales(g, x, per_axis(scales, n), mode), dtype=torch.float32))
        y = g.op("Resize", xc, roi, sc, **attrs)
    else:
        out = list(g.out_shape())
        if not all(isinstance(d, int) for d in out[2:]):
            raise NotImplementedError("interpolate to a dynamic output size")
        sizes = _sizes(g, x, out)
        empty = g.constant(torch.zeros(0, dtype=torch.float32))
        y = g.op("Resize", xc, roi, empty, sizes, **attrs)
    return cast(g, y, dt)


def _onnx_scales(g, x, factors, mode) -> list[float]:
    """PyTorch's scale factors as float32 Resize scales that give PyTorch's output sizes.

    Where a factor's float32 rounding falls short of the size (``nn_helpers.resize_scale``),
    the next float32 up is used; nearest modes decline then, as that step can move a source
    index, and PyTorch's decomposition is exported.
    """
    sizes_in, sizes_out = g.shape(x)[2:], g.out_shape()[2:]
    scales = []
    for n_in, n_out, factor in zip(sizes_in, sizes_out, factors):
        if not (isinstance(n_in, int) and isinstance(n_out, int)):
            scales.append(float(factor))
            continue
        s = resize_scale(n_in, n_out, factor)
        exact = s is not None and float(s) == float(torch.tensor(float(factor), dtype=torch.float32))
        if s is None or (mode == "nearest" and not exact):
            raise NotImplementedError(f"no float32 Resize scale near {factor} gives PyTorch's size {n_out} "
                                      f"from {n_in} with the same sampling")
        scales.append(float(s))
    return scales


def _sizes(g, x, out):
    """``[N, C, *out]`` as an int64 tensor (N and C read from ``x`` when dynamic)."""
    from ..helpers import int_list, dim_size

    return int_list(g, [dim_size(g, x, 0), dim_size(g, x, 1)] + list(out[2:]))


@op("aten::upsample_nearest1d.vec", "aten::upsample_nearest2d.vec", "aten::upsample_nearest3d.vec")
def upsample_nearest_vec(g, x, output_size, scale_factors):
    return resize(g, x, output_size, scale_factors, "nearest")


@op("aten::_upsample_nearest_exact1d.vec", "aten::_upsample_nearest_exact2d.vec",
    "aten::_upsample_nearest_exact3d.vec")
def upsample_nearest_exact_vec(g, x, output_size, scale_factors):
    return resize(g, x, output_size, scale_factors, "nearest", exact=True)


@op("aten::upsample_nearest1d", "aten::upsample_nearest2d", "aten::upsample_nearest3d")
def upsample_nearest(g, x, output_size, *scales):
    return resize(g, x, output_size, upsample_scales_of(scales), "nearest")


@op("aten::_upsample_nearest_exact1d", "aten::_upsample_nearest_exact2d", "aten::_upsample_nearest_exact3d")
def upsample_nearest_exact(g, x, output_size, *scales):
    return resize(g, x, output_size, upsample_scales_of(scales), "nearest", exact=True)


@op(*[k + ".vec" for k in _LINEAR])
def upsample_linear_vec(g, x, output_size, align_corners, scale_factors):
    return resize(g, x, output_size, scale_factors, "linear", align_corners)


@op(*_LINEAR)
def upsample_linear(g, x, output_size, align_corners, *scales):
    return resize(g, x, output_size, upsample_scales_of(scales), "linear", align_corners)


@op("aten::upsample_bicubic2d.vec")
def upsample_bicubic_vec(g, x, output_size, align_corners, scale_factors):
    return resize(g, x, output_size, scale_factors, "cubic", align_corners)


@op("aten::upsample_bicubic2d")
def upsample_bicubic(g, x, output_size, align_corners, *scales):
    return resize(g, x, output_size, upsample_scales_of(scales), "cubic", align_corners)

"""Opset 11: ``grid_sample`` composed from Gather before ONNX has GridSample.

ONNX's GridSample takes 4-D inputs from opset 16 (``opset16/nn.py``) and 5-D ones from opset 20
(``opset20/nn.py``); these conversions serve the opsets below (2-D grids 11-15, 3-D grids 11-19).

The composition follows PyTorch's CPU kernel (``aten/src/ATen/native/GridSampler.h``) step by
step, for every spatial axis separately:

1. unnormalise the grid coordinate in ``[-1, 1]`` to a pixel position (``align_corners`` picks
   whether -1/1 are the centres or the outer edges of the corner pixels);
2. apply the padding mode to it: ``border`` clips to ``[0, size - 1]``, ``reflection`` reflects
   about the borders (the corner centres, or the outer edges) and then clips, ``zeros`` leaves it;
3. pick the taps: ``nearest`` rounds half to even (``nearbyint``), ``bilinear`` takes the floor
   and the next pixel with the linear weights, ``bicubic`` the four pixels around the floor with
   the cubic-convolution weights (A = -0.75), each tap's position padded again as PyTorch does.

A tap outside the input contributes zero: its gathered value is replaced by 0 (``Where``, so an
inf or NaN at the clamped stand-in position cannot leak in), then weighted. The taps of the axes
combine as a product (2 x 2 for bilinear, 4 x 4 for bicubic, 2 x 2 x 2 for trilinear).

Each combined tap is one ``Gather`` along the first axis of the input seen as
``[N * prod(spatial), C]``, at the flat position ``n * prod(spatial) + sum(index_k * stride_k)``:
it gives ``[N, Q, C]`` for the ``Q`` grid points. Only static shapes are handled.
"""

from __future__ import annotations

import itertools
import math

import torch

from ..dtypes import FLOATS
from ..forms import unsqueeze
from ..helpers import cast, onnx_type, transpose
from ..registration import op
from ..shape_helpers import rs

INTERP = {0: "bilinear", 1: "nearest", 2: "bicubic"}
PADDING = {0: "zeros", 1: "border", 2: "reflection"}
CUBIC_A = -0.75  # PyTorch's bicubic (and Resize's cubic_coeff_a default)


# -- coordinates (one spatial axis, values of shape [N, Q]) -------------------------------------
def _unnormalize(g, coord, size: int, align_corners: bool, dt):
    """``[-1, 1]`` to a pixel position: ``(c + 1) / 2 * (size - 1)`` with corners aligned,
    ``((c + 1) * size - 1) / 2`` without (PyTorch's ``grid_sampler_unnormalize``)."""
    plus = g.op("Add", coord, g.constant(1.0, dt))
    if align_corners:
        return g.op("Mul", plus, g.constant((size - 1) / 2, dt))
    scaled = g.op("Mul", plus, g.constant(float(size), dt))
    return g.op("Div", g.op("Sub", scaled, g.constant(1.0, dt)), g.constant(2.0, dt))


def _reflect(g, x, twice_low: int, twice_high: int, dt):
    """PyTorch's ``reflect_coordinates``: fold ``x`` into ``[low, high]`` (bounds given doubled so
    the half-pixel ones stay integers) by mirroring about both ends."""
    if twice_low == twice_high:
        return g.op("Mul", x, g.constant(0.0, dt))
    low = twice_low / 2
    span = (twice_high - twice_low) / 2
    dist = g.op("Abs", g.op("Sub", x, g.constant(low, dt)))
    extra = g.op("Mod", dist, g.constant(span, dt), fmod_i=1)
    flips = g.op("Floor", g.op("Div", dist, g.constant(span, dt)))
    half = g.op("Mul", flips, g.constant(0.5, dt))
    even = g.op("Equal", g.op("Floor", half), half)
    forward = g.op("Add", extra, g.constant(low, dt))
    backward = g.op("Sub", g.constant(span + low, dt), extra)
    return g.op("Where", even, forward, backward)


def _clamp(g, x, size: int, dt):
    """``x`` clamped into ``[0, size - 1]`` with Max/Min (onnxruntime's Clip-11 has no double kernel)."""
    low = g.op("Max", x, g.constant(0.0, dt))
    return g.op("Min", low, g.constant(float(size - 1), dt))


def _pad(g, x, size: int, padding: str, align_corners: bool, dt):
    """PyTorch's ``compute_coordinates``: the padding mode applied to a pixel position."""
    if padding == "zeros":
        return x
    if padding == "reflection":
        if align_corners:
            x = _reflect(g, x, 0, 2 * (size - 1), dt)
        else:
            x = _reflect(g, x, -1, 2 * size - 1, dt)
    return _clamp(g, x, size, dt)


def _cubic_weights(g, t, dt):
    """The four cubic-convolution weights of the taps at floor - 1 .. floor + 2 for the
    fraction ``t`` (PyTorch's ``get_cubic_upsample_coefficients``)."""
    a = CUBIC_A

    def poly(x, coeffs):  # Horner: coeffs from the highest power down
        acc = g.constant(coeffs[0], dt)
        for c in coeffs[1:]:
            acc = g.op("Add", g.op("Mul", acc, x), g.constant(c, dt))
        return acc

    near = [a + 2, -(a + 3), 0.0, 1.0]  # |x| <= 1
    far = [a, -5 * a, 8 * a, -4 * a]  # 1 < |x| < 2
    one = g.constant(1.0, dt)
    rest = g.op("Sub", one, t)
    return [poly(g.op("Add", t, one), far), poly(t, near),
            poly(rest, near), poly(g.op("Add", rest, one), far)]


def _taps(g, coord, size: int, mode: str, padding: str, align_corners: bool, dt):
    """The taps of one axis: ``(position, weight, checked)`` with an integer-valued float
    position, its weight (None for 1) and whether it may fall outside ``[0, size - 1]``."""
    x = _unnormalize(g, coord, size, align_corners, dt)
    if mode == "bicubic":
        # PyTorch pads each tap, not the sampling point
        base = g.op("Floor", x)
        weights = _cubic_weights(g, g.op("Sub", x, base), dt)
        taps = []
        for k, w in zip((-1, 0, 1, 2), weights):
            pos = g.op("Add", base, g.constant(float(k), dt))
            if padding != "zeros":
                # the padded position is truncated to an int; it is >= 0 after the clip
                pos = g.op("Floor", _pad(g, pos, size, padding, align_corners, dt))
            taps.append((pos, w, padding == "zeros"))
        return taps
    x = _pad(g, x, size, padding, align_corners, dt)
    if mode == "nearest":
        return [(g.op("Round", x), None, padding == "zeros")]
    low = g.op("Floor", x)
    high = g.op("Add", low, g.constant(1.0, dt))
    return [(low, g.op("Sub", high, x), padding == "zeros"),
            (high, g.op("Sub", x, low), True)]


def _inside(g, pos, size: int, dt):
    """Whether an integer-valued tap position lies in ``[0, size - 1]`` (Greater/Less with
    half-pixel margins: GreaterOrEqual and LessOrEqual come only at opset 12)."""
    ge = g.op("Greater", pos, g.constant(-0.5, dt))
    le = g.op("Less", pos, g.constant(size - 0.5, dt))
    return g.op("And", ge, le)


def _index(g, pos, size: int, dt):
    """A tap position as an int64 index, clamped into the input (a tap outside is masked)."""
    return g.op("Cast", _clamp(g, pos, size, dt), to_i=onnx_type(torch.int64))


def sample_grid(g, x, grid, mode: str, padding: str, align_corners: bool):
    """PyTorch's ``grid_sample`` of ``x`` ``[N, C, *S]`` at ``grid`` ``[N, *O, d]`` (``d`` =
    ``len(S)``; component k of the grid indexes spatial axis ``d - 1 - k``, x first) as
    ``[N, C, *O]``, with Gather (see the module docstring)."""
    xs, gs = g.static_shape(x), g.static_shape(grid)
    if xs is None or gs is None:
        raise NotImplementedError("grid_sample before GridSample is composed for static shapes only")
    dt = g.dtype(x)
    if dt not in FLOATS or g.dtype(grid) != dt:
        raise NotImplementedError("grid_sample takes floating inputs of one dtype")
    d = len(xs) - 2
    n, c, spatial = xs[0], xs[1], list(xs[2:])
    out_spatial = list(gs[1:-1])
    if len(gs) != d + 2 or gs[0] != n or gs[-1] != d:
        raise NotImplementedError(f"grid of shape {gs} does not match input of shape {xs}")
    if min(spatial) == 0:
        raise NotImplementedError("grid_sample of an input with empty spatial dims")
    q = math.prod(out_spatial)
    points = math.prod(spatial)
    # half-precision arithmetic would move the positions: compute them in float32
    cdt = dt if dt in (torch.float32, torch.float64) else torch.float32
    flat_grid = cast(g, rs(g, grid, [n, q, d]), cdt)
    # axis k of the grid indexes spatial axis d - 1 - k
    coords = [g.op("Gather", flat_grid, g.constant(k, torch.int64), axis_i=2) for k in range(d)]
    sizes = spatial[::-1]
    strides = [math.prod(spatial[d - k:]) for k in range(d)]  # stride of spatial axis d - 1 - k
    axis_taps = [_taps(g, coords[k], sizes[k], mode, padding, align_corners, cdt) for k in range(d)]

    table = rs(g, transpose(g, rs(g, x, [n, c, points]), [0, 2, 1]), [n * points, c])
    batch = g.constant(torch.arange(n, dtype=torch.int64).reshape(n, 1) * points)
    total = None
    for combo in itertools.product(*axis_taps):
        flat = batch
        weight = mask = None
        for k, (pos, w, checked) in enumerate(combo):
            idx = _index(g, pos, sizes[k], cdt)
            if strides[k] != 1:
                idx = g.op("Mul", idx, g.constant(strides[k], torch.int64))
            flat = g.op("Add", flat, idx)
            if w is not None:
                weight = w if weight is None else g.op("Mul", weight, w)
            if checked:
                m = _inside(g, pos, sizes[k], cdt)
                mask = m if mask is None else g.op("And", mask, m)
        value = g.op("Gather", table, flat, axis_i=0)  # [N, Q, C]
        value = cast(g, value, cdt)
        if mask is not None:
            value = g.op("Where", unsqueeze(g, mask, [2]), value,
                         g.constant(0.0, cdt))
        if weight is not None:
            value = g.op("Mul", value, unsqueeze(g, weight, [2]))
        total = value if total is None else g.op("Add", total, value)
    out = transpose(g, g.set_type(cast(g, total, dt), shape=[n, q, c]), [0, 2, 1])
    return rs(g, out, [n, c, *out_spatial])


def _modes(interpolation_mode, padding_mode) -> tuple[str, str]:
    if interpolation_mode not in INTERP or padding_mode not in PADDING:
        raise NotImplementedError(f"unknown grid_sample modes {interpolation_mode}, {padding_mode}")
    return INTERP[interpolation_mode], PADDING[padding_mode]


@op("aten::grid_sampler_2d", "aten::grid_sampler")
def grid_sampler_2d(g, x, grid, interpolation_mode, padding_mode, align_corners):
    """4-D ``grid_sample`` (bilinear, nearest, bicubic) until GridSample at 16.

    ``aten::grid_sampler`` takes 5-D inputs too, which GridSample at 16-19 declines: so does this
    conversion (the core's decomposition reaches ``aten::grid_sampler_3d``)."""
    if g.rank(x) != 4:
        raise NotImplementedError("the 4-D grid_sample conversion takes 4-D inputs")
    mode, padding = _modes(interpolation_mode, padding_mode)
    return sample_grid(g, x, grid, mode, padding, bool(align_corners))


@op("aten::grid_sampler_3d")
def grid_sampler_3d(g, x, grid, interpolation_mode, padding_mode, align_corners):
    """5-D ``grid_sample`` (trilinear, nearest; PyTorch has no bicubic here) until GridSample at 20."""
    if g.rank(x) != 5:
        raise NotImplementedError("the 5-D grid_sample conversion takes 5-D inputs")
    mode, padding = _modes(interpolation_mode, padding_mode)
    if mode == "bicubic":
        raise NotImplementedError("PyTorch has no bicubic 5-D grid_sample")
    return sample_grid(g, x, grid, mode, padding, bool(align_corners))

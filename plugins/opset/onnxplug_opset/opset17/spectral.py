"""Opset 17: ``DFT``, ``STFT`` and the window ops arrive; FFTs, spectrograms and complex values.

``torch.fft.*`` reaches lowering as ``_fft_r2c`` / ``_fft_c2c`` / ``_fft_c2r`` (PyTorch's own
decompositions of ``fft_rfft``, ``fft_hfft``... do the padding and trimming of ``n``/``s``);
each becomes one ``DFT`` per transformed dim, plus a scaling for ``norm``. The two-sided
``fft_fft``/``fft2``/``fftn`` and their inverses without ``n``/``s`` convert directly, to the
same forms: their decomposition can fix a dynamic signal size.
Complex values are real pair tensors (see :mod:`onnxplug_opset.complex_helpers`): a complex
graph output is returned as its ``torch.view_as_real``.

``stft`` becomes ``STFT`` (frames on a ``[batch, samples, 1|2]`` signal) with PyTorch's
``center`` padding, window padding to ``n_fft`` and ``normalized`` scaling; windows become
``HannWindow`` / ``BlackmanWindow``, and ``hamming_window`` an affine map of ``HannWindow``
(ONNX's ``HammingWindow`` has fixed coefficients 25/46 and 21/46, PyTorch's default is 0.54/0.46).
"""

from __future__ import annotations

import torch

from .. import complex_helpers as ch
from .. import forms
from ..forms import expand, slice_, squeeze, unsqueeze
from ..helpers import as_value, cast, dim_size, norm_dims, onnx_type, reshape, transpose
from ..registration import op

_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


# -- FFT ---------------------------------------------------------------------------------------
@op("aten::_fft_r2c")
def fft_r2c(g, x, dim, normalization, onesided):
    """Real-to-complex FFT over ``dim``: the last dim one-sided when ``onesided``."""
    xv, dt = ch.compute_pairs(g, x)
    dims = norm_dims(dim, g.rank(x))
    n = ch.signal_size(g, x, dims)
    out = ch.dft(g, ch.real_signal(g, xv), dims[-1], onesided=bool(onesided))
    for d in dims[:-1]:
        out = ch.dft(g, out, d)
    out = ch.scale(g, out, ch.norm_factor(g, n, normalization, False, g.dtype(out)))
    return cast(g, out, dt)


@op("aten::_fft_c2c", complex=True)
def fft_c2c(g, x, dim, normalization, forward):
    """Complex-to-complex FFT (``forward``) or inverse FFT over ``dim``."""
    xv, dt = ch.compute_pairs(g, x)
    dims = norm_dims(dim, g.rank(x) - 1)
    n = ch.signal_size(g, x, dims)
    out = xv
    for d in dims:
        out = ch.dft(g, out, d, inverse=not forward)
    out = ch.scale(g, out, ch.norm_factor(g, n, normalization, not forward, g.dtype(out)))
    return cast(g, out, dt)


@op("aten::_fft_c2r", complex=True)
def fft_c2r(g, x, dim, normalization, last_dim_size):
    """Complex-to-real inverse FFT: inverse DFTs over ``dim[:-1]``, then ONNX's one-sided inverse
    (irfft) of ``last_dim_size`` samples over the last; PyTorch ignores the imaginary parts that
    a real signal cannot have, as that form does."""
    xv, dt = ch.compute_pairs(g, x)
    dims = norm_dims(dim, g.rank(x) - 1)
    half = last_dim_size // 2 + 1 if isinstance(last_dim_size, int) else None
    size = g.shape(xv)[dims[-1]] if g.shape(xv) is not None else None
    if half is not None and isinstance(size, int) and size > half:
        xv = slice_(g, xv, [0], [half], [dims[-1]])
    out = xv
    for d in dims[:-1]:
        out = ch.dft(g, out, d, inverse=True)
    out = ch.drop_last(g, ch.dft(g, out, dims[-1], inverse=True, onesided=True, length=last_dim_size))
    n = ch.signal_size(g, x, dims[:-1]) if len(dims) > 1 else 1
    if isinstance(n, int) and isinstance(last_dim_size, int):
        n *= last_dim_size
    else:
        n = g.op("Mul", cast(g, as_value(g, n, torch.float32), torch.float32),
                 cast(g, as_value(g, last_dim_size, torch.int64), torch.float32), dtype=torch.float32)
    out = ch.scale(g, out, ch.norm_factor(g, n, normalization, True, g.dtype(out)))
    return cast(g, out, dt)


# PyTorch's normalization enum of _fft_*: 0 none, 1 by sqrt(n), 2 by n; ``norm`` picks it
# relative to the direction ("backward", the default, scales the inverse).
_NORM = {(None, True): 0, ("backward", True): 0, ("ortho", True): 1, ("forward", True): 2,
         (None, False): 2, ("backward", False): 2, ("ortho", False): 1, ("forward", False): 0}


def _full_fft(g, x, s, dim, norm, forward):
    """A two-sided FFT over ``dim`` as the ``_fft_*`` form PyTorch's decomposition reaches:
    ``_fft_r2c`` (not one-sided) of a real signal, ``_fft_c2c`` of a complex one. Converted
    directly, the signal's sizes stay symbolic; the decomposition can fix them. A size (``s``,
    ``n``: padding or trimming) and the inverse of a real signal go to the decomposition."""
    if s is not None:
        raise NotImplementedError("a signal size (s=/n=) pads or trims: PyTorch's decomposition")
    normalization = _NORM[(norm, forward)]
    if ch.is_complex(x):
        dims = dim if dim is not None else list(range(g.rank(x) - 1))
        return fft_c2c(g, x, dims, normalization, forward)
    if not forward:
        raise NotImplementedError("the inverse FFT of a real signal: PyTorch's decomposition")
    dims = dim if dim is not None else list(range(g.rank(x)))
    if not g.dtype(x).is_floating_point:  # integers and bools transform as float32, as in PyTorch
        x = cast(g, x, torch.float32)
    return fft_r2c(g, x, dims, normalization, False)


@op("aten::fft_fftn", "aten::fft_fft2", complex=True)
def fft_fftn(g, x, s=None, dim=None, norm=None):
    return _full_fft(g, x, s, dim, norm, True)


@op("aten::fft_ifftn", "aten::fft_ifft2", complex=True)
def fft_ifftn(g, x, s=None, dim=None, norm=None):
    return _full_fft(g, x, s, dim, norm, False)


@op("aten::fft_fft", complex=True)
def fft_fft(g, x, n=None, dim=-1, norm=None):
    return _full_fft(g, x, n, [dim], norm, True)


@op("aten::fft_ifft", complex=True)
def fft_ifft(g, x, n=None, dim=-1, norm=None):
    return _full_fft(g, x, n, [dim], norm, False)


# -- complex values ----------------------------------------------------------------------------
@op("aten::view_as_real", "aten::view_as_real_copy", "aten::view_as_complex",
    "aten::view_as_complex_copy", complex=True)
def view_as_real(g, x):
    """The pair tensor itself: complex values already are their ``view_as_real``."""
    return g.op("Identity", x, dtype=g.dtype(x))


@op("aten::real", complex=True)
def real(g, x):
    return ch.part(g, x, 0) if ch.is_complex(x) else x


@op("aten::imag", complex=True)
def imag(g, x):
    if not ch.is_complex(x):
        raise ValueError("imag is not implemented for real tensors (as in PyTorch)")
    return ch.part(g, x, 1)


@op("aten::_conj", "aten::conj", "aten::conj_physical", "aten::_conj_physical", "aten::_conj_copy",
    complex=True)
def conj(g, x):
    """Lazy and physical conjugation alike: the pair's imaginary part negated."""
    return ch.conj(g, x) if ch.is_complex(x) else g.op("Identity", x, dtype=g.dtype(x))


@op("aten::resolve_conj", "aten::resolve_neg", complex=True)
def resolve(g, x):
    """Pair tensors hold their values: a lazy conjugate or negation is already applied."""
    return g.op("Identity", x, dtype=g.dtype(x))


@op("aten::_neg_view", complex=True)
def neg_view(g, x):
    return g.op("Neg", x, dtype=g.dtype(x))


@op("aten::complex")
def complex_(g, re, im):
    """``torch.complex(real, imag)``, broadcast to one shape."""
    dt = g.out_dtype().to_real()
    re, im = cast(g, re, dt), cast(g, im, dt)
    shape = g.op("Shape", g.op("Add", re, im, dtype=dt), dtype=torch.int64)
    return ch.pair(g, g.op("Expand", re, shape, dtype=dt), g.op("Expand", im, shape, dtype=dt))


@op("aten::polar")
def polar(g, r, theta):
    """``r * (cos(theta) + i sin(theta))``."""
    dt = g.out_dtype().to_real()
    r, theta = cast(g, r, dt), cast(g, theta, dt)
    re = g.op("Mul", r, g.op("Cos", theta, dtype=dt), dtype=dt)
    im = g.op("Mul", r, g.op("Sin", theta, dtype=dt), dtype=dt)
    return ch.pair(g, re, im)


# -- windows ------------------------------------------------------------------------------------
def _window(g, op_type, n, periodic, dtype):
    dt = dtype or torch.get_default_dtype()
    if isinstance(n, int) and n <= 1:  # PyTorch: [] or [1.] (ONNX's symmetric form divides by 0)
        return g.constant(torch.ones(n, dtype=dt))
    size = as_value(g, n, torch.int64)
    out = g.op(op_type, size, periodic_i=int(periodic), output_datatype_i=onnx_type(dt), dtype=dt)
    return g.set_type(out, shape=[n]) if isinstance(n, int) else out


@op("aten::hann_window", "aten::hann_window.periodic")
def hann_window(g, window_length, periodic=True, dtype=None, layout=None, device=None,
                pin_memory=None):
    return _window(g, "HannWindow", window_length, periodic, dtype)


@op("aten::blackman_window", "aten::blackman_window.periodic")
def blackman_window(g, window_length, periodic=True, dtype=None, layout=None, device=None,
                    pin_memory=None):
    return _window(g, "BlackmanWindow", window_length, periodic, dtype)


@op("aten::hamming_window", "aten::hamming_window.periodic", "aten::hamming_window.periodic_alpha",
    "aten::hamming_window.periodic_alpha_beta")
def hamming_window(g, window_length, periodic=True, alpha=0.54, beta=0.46, dtype=None,
                   layout=None, device=None, pin_memory=None):
    """``alpha - beta cos(2 pi n / N)`` = ``(alpha - beta) + 2 beta hann(n)``; ONNX's
    ``HammingWindow`` where alpha and beta are its 25/46 and 21/46."""
    if abs(alpha - 25 / 46) < 1e-12 and abs(beta - 21 / 46) < 1e-12:
        return _window(g, "HammingWindow", window_length, periodic, dtype)
    hann = _window(g, "HannWindow", window_length, periodic, dtype)
    if isinstance(window_length, int) and window_length <= 1:
        return hann
    dt = g.dtype(hann)
    out = g.op("Add", g.op("Mul", hann, g.constant(2 * beta, dt), dtype=dt), g.constant(alpha - beta, dt),
               dtype=dt)
    return g.set_type(out, shape=g.shape(hann))


# -- STFT ---------------------------------------------------------------------------------------
def _full_window(g, window, n_fft, win_length, dt):
    """The window as STFT wants it: ``n_fft`` long, a shorter one zero-padded on both sides
    (ones of ``win_length`` when there is none), as PyTorch centres it."""
    win_length = win_length or n_fft
    left = (n_fft - win_length) // 2
    if window is None:
        w = torch.zeros(n_fft, dtype=dt)
        w[left:left + win_length] = 1
        return g.constant(w)
    window = cast(g, window, dt)
    if win_length == n_fft:
        return window
    pads = g.constant([left, n_fft - win_length - left], torch.int64)
    return g.set_type(g.op("Pad", window, pads, dtype=dt), shape=[n_fft])


def _stft(g, x, n_fft, hop_length, win_length, window, center, pad_mode, normalized, onesided,
          return_complex, align_to_window):
    if align_to_window:
        raise NotImplementedError("stft with align_to_window=True")
    xv, dt = ch.compute_pairs(g, x)
    cdt = g.dtype(xv)
    complex_in = ch.is_complex(x) or (window is not None and ch.is_complex(window))
    if window is not None and ch.is_complex(window):
        raise NotImplementedError("stft with a complex window")
    batched = g.rank(x) - int(ch.is_complex(x)) == 2
    signal = xv if batched else unsqueeze(g, xv, [0])
    if center:
        mode = _PAD_MODES.get(pad_mode)
        if mode is None:
            raise NotImplementedError(f"stft with pad_mode={pad_mode!r}")
        if mode == "wrap":
            forms.require(g, "Pad's wrap mode", f"stft with pad_mode={pad_mode!r}")
        half = n_fft // 2
        pads = [0, half] + ([0] if complex_in else []) + [0, half] + ([0] if complex_in else [])
        signal = g.op("Pad", signal, g.constant(pads, torch.int64), mode_s=mode, dtype=cdt)
    if not complex_in:
        signal = ch.real_signal(g, signal)
    hop = hop_length or n_fft // 4
    win = _full_window(g, window, n_fft, win_length, cdt)
    one_sided = (not complex_in) if onesided is None else bool(onesided)
    frames = g.op("STFT", signal, g.constant(hop, torch.int64), win, g.constant(n_fft, torch.int64),
                  onesided_i=int(one_sided), dtype=cdt)
    out = transpose(g, frames, [0, 2, 1, 3])  # [batch, bins, frames, 2]
    if normalized:
        out = ch.scale(g, out, float(n_fft) ** -0.5)
    if not batched:
        out = squeeze(g, out, [0])
    return cast(g, out, dt)


@op("aten::stft", complex=True)
def stft(g, x, n_fft, hop_length=None, win_length=None, window=None, normalized=False,
         onesided=None, return_complex=None, align_to_window=None):
    """``torch.stft`` after its own centre padding (the Python wrapper pads before this op);
    ``return_complex=False`` gives the same pair tensor, which is then the real result."""
    return _stft(g, x, n_fft, hop_length, win_length, window, False, "reflect", normalized,
                 onesided, return_complex, align_to_window)


@op("aten::stft.center", complex=True)
def stft_center(g, x, n_fft, hop_length=None, win_length=None, window=None, center=True,
                pad_mode="reflect", normalized=False, onesided=None, return_complex=None,
                align_to_window=None):
    """``stft`` that pads ``n_fft // 2`` samples on both sides itself when ``center``."""
    return _stft(g, x, n_fft, hop_length, win_length, window, center, pad_mode, normalized,
                 onesided, return_complex, align_to_window)


# -- ISTFT --------------------------------------------------------------------------------------
def _overlap_add(g, frames, rank, k, hop):
    """Overlap-add rank-``rank`` ``[..., T, k * hop]`` frames placed ``hop`` apart: ``[..., (T + k - 1) * hop]``.

    Frame ``t``'s ``j``-th block of ``hop`` samples lands in block ``t + j``, so the sum over ``j``
    of the blocks padded by ``j`` before and ``k - 1 - j`` after (along T) is the signal.
    """
    blocks = reshape(g, frames, [0] * (rank - 1) + [k, hop]) if k > 1 else unsqueeze(g, frames, [-2])
    dt = g.dtype(frames)
    total = None
    for j in range(k):
        part = squeeze(g, slice_(g, blocks, [j], [j + 1], [rank - 1]), [rank - 1])
        pads = [0] * (rank - 2) + [j, 0] + [0] * (rank - 2) + [k - 1 - j, 0]
        part = g.op("Pad", part, g.constant(pads, torch.int64), dtype=dt) if k > 1 else part
        total = part if total is None else g.op("Add", total, part, dtype=dt)
    return reshape(g, total, [0] * (rank - 2) + [-1])


@op("aten::istft", complex=True)
def istft(g, x, n_fft, hop_length=None, win_length=None, window=None, center=True, normalized=False,
          onesided=None, length=None, return_complex=False):
    """The inverse STFT: a one-sided (or two-sided) inverse DFT per frame, the window applied,
    overlap-added, divided by the overlap-added squared window, and trimmed (``center``,
    ``length``) as ``torch.istft`` does. The hop must divide ``n_fft`` (it does for the usual
    ``n_fft // 4``)."""
    hop = hop_length or n_fft // 4
    if n_fft % hop or return_complex:
        raise NotImplementedError("istft with a hop that does not divide n_fft, or a complex result")
    xv, dt = ch.compute_pairs(g, x)
    cdt = g.dtype(xv)
    batched = g.rank(x) == 4  # [batch, bins, frames, 2]
    spec = xv if batched else unsqueeze(g, xv, [0])
    bins = g.shape(spec)[1]
    one_sided = (bins != n_fft) if onesided is None else bool(onesided)
    spec = transpose(g, spec, [0, 2, 1, 3])  # [batch, frames, bins, 2]
    if normalized:
        spec = ch.scale(g, spec, float(n_fft) ** 0.5)
    if one_sided:
        frames = ch.drop_last(g, ch.dft(g, spec, 2, inverse=True, onesided=True, length=n_fft))
    else:
        frames = ch.part(g, ch.dft(g, spec, 2, inverse=True), 0)
    win = _full_window(g, window, n_fft, win_length, cdt)
    k = n_fft // hop
    y = _overlap_add(g, g.op("Mul", frames, win, dtype=cdt), 3, k, hop)
    n_frames = dim_size(g, frames, 1)
    envelope = _overlap_add(g, expand(g, g.op("Mul", win, win, dtype=cdt), [n_frames, n_fft]), 2, k, hop)
    start = n_fft // 2 if center else 0
    if length is not None:
        end = start + length
    else:
        end = -(n_fft // 2) if center else None
    ends = [end] if end is not None else [2 ** 62]
    y = slice_(g, y, [start], ends, [1])
    envelope = slice_(g, envelope, [start], ends, [0])
    y = g.op("Div", y, envelope, dtype=cdt)
    if length is not None:  # a length beyond the frames: zeros after them
        missing = g.op("Sub", as_value(g, length, torch.int64), dim_size_value(g, y, 1), dtype=torch.int64)
        pads = g.op("Concat", g.constant([0, 0, 0], torch.int64),
                    unsqueeze(g, g.op("Max", missing, g.constant(0, torch.int64), dtype=torch.int64), [0]),
                    axis_i=0, dtype=torch.int64)
        y = g.op("Pad", y, pads, dtype=cdt)
    if not batched:
        y = squeeze(g, y, [0])
    return cast(g, y, dt)


def dim_size_value(g, x, axis):
    """Size of ``axis`` of ``x`` as a 0-d int64 value (even when static)."""
    size = dim_size(g, x, axis)
    return g.constant(size, torch.int64) if isinstance(size, int) else size

"""torch.stft as ONNX ``STFT`` and the window functions as ``HannWindow`` / ``BlackmanWindow`` /
``HammingWindow`` (opset 17), up to the torchaudio-style MelSpectrogram (STFT, power, mel
filterbank, decibels) built from torch ops. Each model is exported, checked, run in onnxruntime
and compared with eager PyTorch at opset 17 and the newest.
"""

from __future__ import annotations

import math

import pytest
import torch

from onnxplug.capture import FunctionModule as Fn
from onnxplug.testing import NEWEST_OPSET as NEWEST
from onnxplug.testing import export_and_run
from onnxplug.verify import compare

OPSETS = [17, NEWEST]


def mel_filterbank(n_freqs: int, n_mels: int, sample_rate: int, f_min: float = 0.0,
                   f_max: float | None = None) -> torch.Tensor:
    """Triangular HTK mel filters, ``[n_freqs, n_mels]`` (torchaudio's ``melscale_fbanks``)."""
    f_max = f_max or sample_rate / 2
    freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    mel = lambda f: 2595.0 * math.log10(1.0 + f / 700.0)  # noqa: E731
    m_pts = torch.linspace(mel(f_min), mel(f_max), n_mels + 2)
    f_pts = 700.0 * (10 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - freqs.unsqueeze(1)
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.clamp(torch.min(down, up), min=0.0)


class MelSpectrogram(torch.nn.Module):
    """What torchaudio.transforms.MelSpectrogram + AmplitudeToDB compute, in torch ops."""

    def __init__(self, sample_rate=16000, n_fft=400, hop_length=160, n_mels=40, window_in_forward=False):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop_length
        self.window_in_forward = window_in_forward
        self.register_buffer("window", torch.hann_window(n_fft))
        self.register_buffer("fb", mel_filterbank(n_fft // 2 + 1, n_mels, sample_rate))

    def forward(self, wave):
        window = torch.hann_window(self.n_fft) if self.window_in_forward else self.window
        spec = torch.stft(wave, self.n_fft, self.hop, window=window, center=True, pad_mode="reflect",
                          normalized=False, onesided=True, return_complex=True)
        power = spec.abs().pow(2.0)
        mel = torch.matmul(power.transpose(-1, -2), self.fb).transpose(-1, -2)
        return 10.0 * torch.log10(torch.clamp(mel, min=1e-10))


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("window_in_forward", [False, True])
def test_mel_spectrogram(check, opset, window_in_forward):
    model = MelSpectrogram(window_in_forward=window_in_forward).eval()
    result = check(model, (torch.randn(2, 4000),), opset=opset, rtol=1e-3, atol=2e-3)
    assert "STFT" in [n.op_type for n in result.model.graph.node]


def test_mel_spectrogram_dynamic(check):
    """Batch and length vary: one model for other sizes."""
    model = MelSpectrogram().eval()
    axes = {"wave": {0: "batch", 1: "samples"}}
    check(model, (torch.randn(2, 4000),), opset=NEWEST, rtol=1e-3, atol=2e-3, input_names=["wave"],
          dynamic_axes=axes)
    other = torch.randn(3, 5123)
    _, outputs = export_and_run(model, (torch.randn(2, 4000),), opset=NEWEST, run_inputs=(other,),
                                input_names=["wave"], dynamic_axes=axes)
    with torch.no_grad():
        compare([model(other)], outputs, rtol=1e-3, atol=2e-3)


class Variants(torch.nn.Module):
    """stft's options: no centring, a shorter window, no window, normalized, two-sided,
    return_complex=False, pad modes, a 1-D signal, the ``stft.center`` overload."""

    def forward(self, x):  # x: [2, 300]
        R = torch.view_as_real
        w = torch.hamming_window(48)
        return (
            R(torch.stft(x, 64, 16, window=torch.hann_window(64), center=False, return_complex=True)),
            R(torch.stft(x, 64, 20, win_length=48, window=w, return_complex=True, pad_mode="constant")),
            R(torch.stft(x[0], 32, return_complex=True, normalized=True, pad_mode="replicate")),
            R(torch.stft(x, 32, 8, win_length=30, return_complex=True, onesided=False, center=False)),
            torch.stft(x, 32, 8, window=torch.blackman_window(32), return_complex=False),
            R(torch.ops.aten.stft.center(x, 32, 8, None, torch.hann_window(32), True, "reflect",
                                         False, None, True)),
            R(torch.ops.aten.stft.center(x, 32, 8, None, None, True, "constant", True, False, True)),
        )


@pytest.mark.parametrize("opset", OPSETS)
def test_stft_variants(check, opset):
    check(Variants(), (torch.randn(2, 300),), opset=opset, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("opset", OPSETS)
def test_stft_complex_input(check, opset):
    """A complex signal (a two-sided spectrum). Not centred: the centring pad would reshape and
    pad the complex signal, which those conversions do not do on pairs."""
    def fn(re, im):
        return torch.view_as_real(torch.stft(torch.complex(re, im), 32, 8, center=False,
                                             window=torch.hann_window(32), return_complex=True))
    check(Fn(fn), (torch.randn(2, 200), torch.randn(2, 200)), opset=opset, rtol=1e-3, atol=1e-3)


class Windows(torch.nn.Module):
    def forward(self, x):
        return (torch.hann_window(16) + x, torch.hann_window(15, periodic=False) + x[:15],
                torch.hamming_window(16) + x, torch.hamming_window(9, periodic=False) + x[:9],
                torch.hamming_window(16, True, 25 / 46, 21 / 46) + x,
                torch.hamming_window(16, True, 0.5) + x,
                torch.blackman_window(16) + x, torch.blackman_window(11, periodic=False) + x[:11],
                torch.hann_window(1) + x[:1], torch.hamming_window(1) + x[:1],
                torch.hann_window(16, dtype=torch.float64) + x.double())


@pytest.mark.parametrize("opset", OPSETS)
def test_windows(check, opset):
    # without constant folding, which turns fixed-size windows into constants
    result = check(Windows(), (torch.zeros(16),), opset=opset, rtol=1e-5, atol=1e-6,
                   do_constant_folding=False)
    ops = {n.op_type for n in result.model.graph.node}
    assert {"HannWindow", "HammingWindow", "BlackmanWindow"} <= ops


class Roundtrip(torch.nn.Module):
    """istft of stft: centred or not, a given length (shorter and longer), normalized, two-sided."""

    def forward(self, x):  # x: [2, 256]
        w = torch.hann_window(64)
        s = torch.stft(x, 64, 16, window=w, return_complex=True)
        s2 = torch.stft(x[0], 32, 8, return_complex=True, center=False, normalized=True)
        s3 = torch.stft(x, 32, 8, window=torch.hann_window(32), return_complex=True, onesided=False)
        return (torch.istft(s, 64, 16, window=w), torch.istft(s, 64, 16, window=w, length=200),
                torch.istft(s * 2, 64, 16, window=w, length=300),
                torch.istft(s2, 32, 8, window=torch.ones(32), center=False, normalized=True),
                torch.istft(s3, 32, 8, window=torch.hann_window(32), onesided=False, length=250))


@pytest.mark.parametrize("opset", OPSETS)
def test_istft(check, opset):
    check(Roundtrip(), (torch.randn(2, 256),), opset=opset, rtol=1e-3, atol=1e-4)


def test_istft_dynamic_frames(check):
    """The number of frames varies with the signal length."""
    def fn(x):
        w = torch.hann_window(64)
        return torch.istft(torch.stft(x, 64, 16, window=w, return_complex=True), 64, 16, window=w)
    axes = {"x": {1: "samples"}}
    x = torch.randn(2, 320)
    check(Fn(fn), (x,), opset=NEWEST, rtol=1e-3, atol=1e-4, input_names=["x"], dynamic_axes=axes)
    other = torch.randn(2, 480)
    _, outputs = export_and_run(Fn(fn), (x,), opset=NEWEST, run_inputs=(other,), input_names=["x"],
                                dynamic_axes=axes)
    compare([fn(other)], outputs, rtol=1e-3, atol=1e-4)

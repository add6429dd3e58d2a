"""The op itself: a PyTorch custom op, ``example::rms_norm``, and a module using it.

``torch.library.custom_op`` makes it an opaque op that ``torch.export`` keeps as one node
(``example.rms_norm.default``), which is what our symbolic functions convert. ``register_fake``
tells PyTorch the output's shape and dtype without running the kernel.
"""

from __future__ import annotations

import torch


@torch.library.custom_op("example::rms_norm", mutates_args=())
def rms_norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``x / sqrt(mean(x**2, last dim) + eps)``: RMS normalization without a weight."""
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)


@rms_norm.register_fake
def _(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    return torch.empty_like(x)


class RMSNorm(torch.nn.Module):
    """``rms_norm`` followed by a learned per-channel scale."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.eps) * self.weight


def build() -> tuple[torch.nn.Module, tuple[torch.Tensor]]:
    """A CLI factory: ``onnxplug export onnxplug_example.ops:build -o rms.onnx --verify``."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), RMSNorm(16), torch.nn.Linear(16, 4))
    return model.eval(), (torch.randn(2, 5, 8),)

"""The bundled example model: a small text classifier (embedding, transformer encoder, head).

``onnxplug export onnxplug.example:build -o example.onnx --verify`` exports and verifies it; a
``MODULE:FACTORY`` for the CLI is any function returning ``(module, example_inputs)``.
"""

from __future__ import annotations

import torch
from torch import nn


class TinyClassifier(nn.Module):
    def __init__(self, vocab: int = 100, dim: int = 32, heads: int = 4, classes: int = 3):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.encoder = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=64, activation="gelu",
                                                  batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.encoder(self.embed(ids)))
        return torch.softmax(self.head(h.mean(dim=1)), dim=-1)


def build() -> tuple[nn.Module, tuple[torch.Tensor]]:
    torch.manual_seed(0)
    return TinyClassifier().eval(), (torch.randint(0, 100, (2, 8)),)

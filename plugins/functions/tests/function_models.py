"""Small models for the functions plugin's tests and declared cases."""

from __future__ import annotations

import torch
from torch import nn


class FeedForward(nn.Module):
    def __init__(self, dim: int = 8, hidden: int = 16):
        super().__init__()
        self.up = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.down = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.down(self.act(self.up(x)))


class Layer(nn.Module):
    """A pre-norm residual block: LayerNorm, FeedForward, residual add."""

    eps: float
    kind: str

    def __init__(self, dim: int = 8):
        super().__init__()
        self.eps = 1e-5
        self.kind = "pre-norm"
        self.norm = nn.LayerNorm(dim, eps=self.eps)
        self.ff = FeedForward(dim)

    def forward(self, x):
        return x + self.ff(self.norm(x))


class Encoder(nn.Module):
    def __init__(self, depth: int = 3, dim: int = 8):
        super().__init__()
        self.layers = nn.ModuleList([Layer(dim) for _ in range(depth)])
        self.final = nn.LayerNorm(dim)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.final(x)


class Scale(nn.Module):
    """``x * factor``: the factor is a plain Python float the module's ops use."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


class Scales(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Scale(0.5)
        self.b = Scale(0.25)
        self.c = Scale(0.5)

    def forward(self, x):
        return self.c(self.b(self.a(x)))


class Gate(nn.Module):
    """Two structures from one class: with and without the sigmoid gate."""

    def __init__(self, gated: bool, dim: int = 8):
        super().__init__()
        self.gated = gated
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        y = self.proj(x)
        return y * torch.sigmoid(y) if self.gated else y


class Gates(nn.Module):
    def __init__(self):
        super().__init__()
        self.g1 = Gate(True)
        self.g2 = Gate(False)
        self.g3 = Gate(True)

    def forward(self, x):
        return self.g3(self.g2(self.g1(x)))


class Shared(nn.Module):
    """One module object called twice."""

    def __init__(self):
        super().__init__()
        self.block = FeedForward()

    def forward(self, x):
        return self.block(self.block(x))


class Annotated(nn.Module):
    alpha: float
    name: str
    dims: list
    count: int
    enabled: bool

    def __init__(self, alpha: float, name: str):
        super().__init__()
        self.alpha = alpha
        self.name = name
        self.dims = [1, 2]
        self.count = 3
        self.enabled = True
        self.proj = nn.Linear(4, 4)

    def forward(self, x):
        return self.proj(x).relu()


class TwoAnnotated(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Annotated(0.5, "first")
        self.second = Annotated(2.0, "second")

    def forward(self, x):
        return self.second(self.first(x))


class Conv(nn.Module):
    """Conv + BatchNorm + ReLU blocks, as in a CNN."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.blocks = nn.Sequential(*[nn.Sequential(nn.Conv2d(8, 8, 3, padding=1),
                                                    nn.BatchNorm2d(8), nn.ReLU())
                                      for _ in range(2)])

    def forward(self, x):
        return self.blocks(self.stem(x)).mean((2, 3))


def encoder(depth: int = 3) -> Encoder:
    torch.manual_seed(0)
    return Encoder(depth).eval()


def conv() -> Conv:
    torch.manual_seed(0)
    model = Conv()
    with torch.no_grad():  # non-trivial running statistics
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


class Gcd(nn.Module):
    """``gcd(a * k, b) + 1``: the opset plugin lowers gcd to a Loop (a node with a subgraph)."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def forward(self, a, b):
        return torch.gcd(a * self.k, b) + 1


class Gcds(nn.Module):
    def __init__(self):
        super().__init__()
        self.g1, self.g2, self.g3 = Gcd(2), Gcd(3), Gcd(2)

    def forward(self, a, b):
        return self.g3(self.g2(self.g1(a, b), b), b)

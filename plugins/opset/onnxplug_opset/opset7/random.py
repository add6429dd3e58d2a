"""Random numbers: ONNX's RandomUniform(Like) / RandomNormal(Like) in place of PyTorch's generator.

The exported graph draws new numbers on every run, from the same distribution as PyTorch, but
not the same numbers: no ONNX runtime reproduces PyTorch's generator. The distributions other
than uniform and normal are drawn by inverting their CDF on a uniform draw. A
``generator=`` argument has no counterpart and is ignored (torch.export lifts it out of the
graph). From opset 22 the random ops have a new version that onnxruntime (1.32) does not
implement, so there they are declined with that reason rather than exported into a graph that
does not run.
"""

from __future__ import annotations

import math

import torch

from .. import forms
from ..dtypes import float_compute
from ..helpers import cast, onnx_type
from ..registration import op

ORT_LAST_RANDOM_OPSET = 21


def _random_op(g, op_type: str, *inputs, **attrs):
    return forms.random_op(g, op_type, *inputs, last=ORT_LAST_RANDOM_OPSET, **attrs)


def uniform_like(g, like, low: float = 0.0, high: float = 1.0, dt: torch.dtype = torch.float32):
    """Uniform numbers in ``[low, high)`` of ``like``'s shape, as ``dt`` (a float type)."""
    return _random_op(g, "RandomUniformLike", like, low_f=float(low), high_f=float(high),
                      dtype_i=onnx_type(dt))


def normal_like(g, like, mean: float = 0.0, std: float = 1.0, dt: torch.dtype = torch.float32):
    """Normal numbers ``N(mean, std)`` of ``like``'s shape, as ``dt`` (a float type)."""
    return _random_op(g, "RandomNormalLike", like, mean_f=float(mean), scale_f=float(std),
                      dtype_i=onnx_type(dt))


def _static_size(g) -> list[int]:
    shape = g.out_shape()
    if shape is None or not all(isinstance(d, int) for d in shape):
        raise NotImplementedError("RandomUniform/RandomNormal need a static shape")
    return list(shape)


@op("aten::rand_like")
def rand_like(g, x, *, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None):
    dt = g.out_dtype()
    return cast(g, uniform_like(g, x, dt=float_compute(dt)), dt)


@op("aten::randn_like")
def randn_like(g, x, *, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None):
    dt = g.out_dtype()
    return cast(g, normal_like(g, x, dt=float_compute(dt)), dt)


@op("aten::randint_like", "aten::randint_like.low_dtype")
def randint_like(g, x, *bounds, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None):
    """``floor(low + (high - low) * u)``: integers in ``[low, high)``, uniformly."""
    low, high = (0, bounds[0]) if len(bounds) == 1 else bounds
    if not isinstance(low, int) or not isinstance(high, int):
        raise NotImplementedError("randint_like with tensor bounds")
    dt = g.out_dtype()
    u = uniform_like(g, x, float(low), float(high), torch.float64 if high - low > 2**24 else torch.float32)
    return cast(g, g.op("Floor", u), dt)


@op("aten::rand", "aten::rand.generator")
def rand(g, size, *, generator=None, dtype=None, layout=None, device=None, pin_memory=None):
    dt = g.out_dtype()
    draw = float_compute(dt)
    u = _random_op(g, "RandomUniform", shape_is=_static_size(g), dtype_i=onnx_type(draw))
    return cast(g, u, dt)


@op("aten::randn", "aten::randn.generator")
def randn(g, size, *, generator=None, dtype=None, layout=None, device=None, pin_memory=None):
    dt = g.out_dtype()
    draw = float_compute(dt)
    z = _random_op(g, "RandomNormal", shape_is=_static_size(g), dtype_i=onnx_type(draw))
    return cast(g, z, dt)


@op("aten::uniform")
def uniform(g, x, low=0.0, high=1.0, *, generator=None):
    """``x.uniform_(low, high)``: numbers in ``[low, high)`` of x's shape and dtype."""
    dt = g.dtype(x)
    return cast(g, uniform_like(g, x, low, high, float_compute(dt)), dt)


@op("aten::normal_functional")
def normal_(g, x, mean=0.0, std=1.0, *, generator=None):
    """``x.normal_(mean, std)``."""
    dt = g.dtype(x)
    return cast(g, normal_like(g, x, mean, std, float_compute(dt)), dt)


@op("aten::normal.Tensor_float", "aten::normal.float_Tensor", "aten::normal.Tensor_Tensor")
def normal(g, mean, std=1.0, *, generator=None):
    """``mean + std * z`` with ``z`` standard normal, of the broadcast shape of mean and std."""
    dt = g.out_dtype()
    mean_v = mean if not isinstance(mean, (int, float)) else g.constant(float(mean), dt)
    std_v = std if not isinstance(std, (int, float)) else g.constant(float(std), dt)
    shaped = g.op("Add", mean_v, g.op("Mul", std_v, g.constant(0.0, dt)))
    z = normal_like(g, shaped, dt=dt)
    return g.op("Add", mean_v, g.op("Mul", std_v, z))


@op("aten::bernoulli", "aten::bernoulli.p", "aten::bernoulli.Tensor")
def bernoulli(g, x, p=None, *, generator=None):
    """1 where a uniform draw is below the probability (``x`` itself, or ``p``), else 0."""
    dt = g.dtype(x)
    draw = float_compute(dt)
    prob = cast(g, x, draw) if p is None else (g.constant(float(p), draw) if isinstance(p, (int, float))
                                               else cast(g, p, draw))
    hit = g.op("Less", uniform_like(g, x, dt=draw), prob)
    return cast(g, hit, dt)


@op("aten::exponential")
def exponential(g, x, lambd=1.0, *, generator=None):
    """``-log(1 - u) / lambd``."""
    dt = g.dtype(x)
    draw = float_compute(dt)
    one_minus_u = g.op("Sub", g.constant(1.0, draw), uniform_like(g, x, dt=draw))
    y = g.op("Div", g.op("Neg", g.op("Log", one_minus_u)),
             g.constant(float(lambd), draw))
    return cast(g, y, dt)


@op("aten::cauchy")
def cauchy(g, x, median=0.0, sigma=1.0, *, generator=None):
    """``median + sigma * tan(pi * (u - 1/2))``."""
    dt = g.dtype(x)
    draw = float_compute(dt)
    angle = g.op("Mul", g.op("Sub", uniform_like(g, x, dt=draw), g.constant(0.5, draw)),
                 g.constant(math.pi, draw))
    y = g.op("Add", g.constant(float(median), draw),
             g.op("Mul", g.constant(float(sigma), draw), g.op("Tan", angle)))
    return cast(g, y, dt)


@op("aten::log_normal")
def log_normal(g, x, mean=1.0, std=2.0, *, generator=None):
    """``exp(N(mean, std))``."""
    dt = g.dtype(x)
    draw = float_compute(dt)
    return cast(g, g.op("Exp", normal_like(g, x, mean, std, draw)), dt)


@op("aten::geometric")
def geometric(g, x, p, *, generator=None):
    """Trials until the first success: ``floor(log(1 - u) / log(1 - p)) + 1``."""
    dt = g.dtype(x)
    f64 = torch.float64
    one_minus_u = g.op("Sub", g.constant(1.0, f64), uniform_like(g, x, dt=f64))
    ratio = g.op("Div", g.op("Log", one_minus_u), g.constant(math.log1p(-float(p)), f64))
    k = g.op("Add", g.op("Floor", ratio), g.constant(1.0, f64))
    return cast(g, k, dt)

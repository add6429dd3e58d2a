"""Tensor factories, as of opset 7.

Static sizes give constants (small) or ``ConstantOfShape`` (``forms.constant_fill``: from
opset 9, large or dynamic); ``arange`` and ``eye`` change at opsets 11 and 9 (Range, EyeLike);
``*_like`` factories read the shape from the other tensor only when a dim is dynamic.
``empty`` is a zero fill (its contents are unspecified, zeros are an honest choice). The
random factories (``rand``, ``randn``...) are left unregistered: ONNX cannot match them.
"""

from __future__ import annotations

import torch

from ..helpers import cast, int_list
from ..registration import op
from ..shape_helpers import arange as arange_values, const_int, filled, shape_value


def _out_dt(g, fallback=torch.float32):
    return g.out_dtype() or fallback


def _size_arg(g, size):
    """A factory's size: a list of ints when static, else a 1-D int64 value."""
    if size is None:
        return []
    if all(isinstance(s, int) for s in size):
        return list(size)
    return int_list(g, list(size))


@op("aten::zeros", "aten::zeros.names", "aten::empty.memory_format", "aten::empty.names",
    "aten::new_zeros", "aten::new_empty", "aten::empty_permuted", "aten::new_empty_strided",
    "aten::empty_strided")
def zeros(g, *args, **kwargs):
    size = args[1] if args and not isinstance(args[0], (list, tuple)) else args[0]
    return filled(g, _size_arg(g, size), 0, _out_dt(g))


@op("aten::ones", "aten::ones.names", "aten::new_ones")
def ones(g, *args, **kwargs):
    size = args[1] if args and not isinstance(args[0], (list, tuple)) else args[0]
    return filled(g, _size_arg(g, size), 1, _out_dt(g))


@op("aten::full", "aten::full.names")
def full(g, size, fill_value, *args, **kwargs):
    return filled(g, _size_arg(g, size), _fill(fill_value), _out_dt(g))


@op("aten::new_full")
def new_full(g, x, size, fill_value, *args, **kwargs):
    return filled(g, _size_arg(g, size), _fill(fill_value), _out_dt(g))


def _fill(v):
    return bool(v) if isinstance(v, bool) else v


@op("aten::zeros_like", "aten::empty_like")
def zeros_like(g, x, *args, **kwargs):
    return filled(g, _like_shape(g, x), 0, _out_dt(g))


@op("aten::ones_like")
def ones_like(g, x, *args, **kwargs):
    return filled(g, _like_shape(g, x), 1, _out_dt(g))


@op("aten::full_like")
def full_like(g, x, fill_value, *args, **kwargs):
    return filled(g, _like_shape(g, x), _fill(fill_value), _out_dt(g))


@op("aten::fill.Scalar", "aten::fill.Tensor")
def fill(g, x, value):
    return filled(g, _like_shape(g, x), value, g.dtype(x))


@op("aten::zero")
def zero(g, x):
    return filled(g, _like_shape(g, x), 0, g.dtype(x))


def _like_shape(g, x):
    static = g.static_shape(x)
    return list(static) if static is not None else shape_value(g, x)


@op("aten::scalar_tensor")
def scalar_tensor(g, s, *args, **kwargs):
    dt = _out_dt(g)
    if isinstance(s, (int, float, bool)):
        return g.constant(s, dt)
    return cast(g, s, dt)


# -- ranges ------------------------------------------------------------------------------------
def out_dtype(g, fallback=torch.float32):
    """The factory's result dtype (``fallback`` when PyTorch's is unknown)."""
    return _out_dt(g, fallback)


def arange_bounds(args) -> tuple:
    """``(start, end, step)`` of ``aten::arange``'s positional forms (end / start, end / + step)."""
    nums = [a for a in args if a is not None]
    return (0, nums[0], 1) if len(nums) == 1 else (nums[0], nums[1], nums[2] if len(nums) > 2 else 1)


def static_arange(g, start, end, step, dt) -> torch.Tensor | None:
    """The result as a tensor when every bound is static, else None."""
    vals = [const_int(g, v) if not isinstance(v, float) else v for v in (start, end, step)]
    return torch.arange(*vals, dtype=dt) if all(v is not None for v in vals) else None


def arange_work(g, start, end, step, dt):
    """The bounds as values of the dtype the range is computed in (``dt`` where onnxruntime has
    the kernels, else float32) and that dtype."""
    work = dt if dt in (torch.float32, torch.float64, torch.int32, torch.int64, torch.int16) else torch.float32
    return [cast(g, v, work) if not isinstance(v, (int, float)) else g.constant(v, work)
            for v in (start, end, step)], work


@op("aten::arange", "aten::arange.start", "aten::arange.start_step")
def arange(g, *args, **kwargs):
    """Static bounds: a constant (there is no Range before opset 11). Dynamic ones:
    ``start + step * (0..n-1)`` with the count ``ceil((end - start) / step)`` computed."""
    start, end, step = arange_bounds(args)
    dt = _out_dt(g, torch.int64)
    t = static_arange(g, start, end, step, dt)
    if t is not None:
        return g.constant(t)
    (s, e, d), work = arange_work(g, start, end, step, dt)
    f = torch.float64
    n = g.op("Ceil", g.op("Div", g.op("Sub", cast(g, e, f), cast(g, s, f)), cast(g, d, f)))
    idx = arange_values(g, cast(g, n, torch.int64), work)
    return cast(g, g.op("Add", s, g.op("Mul", idx, d)), dt)


@op("aten::linspace", "aten::linspace.Tensor_Tensor", "aten::linspace.Tensor_Scalar",
    "aten::linspace.Scalar_Tensor")
def linspace(g, start, end, steps, *args, **kwargs):
    return _linspace(g, start, end, steps, _out_dt(g))


def _linspace(g, start, end, steps, dt):
    if isinstance(start, (int, float)) and isinstance(end, (int, float)):
        t = torch.linspace(start, end, steps, dtype=torch.float64)
        return g.constant(t.to(dt) if dt.is_floating_point else torch.linspace(start, end, steps, dtype=dt))
    # PyTorch's symmetric formula: the first half counts up from start, the second down from end
    work = torch.float64
    s = cast(g, start, work) if not isinstance(start, (int, float)) else g.constant(float(start), work)
    e = cast(g, end, work) if not isinstance(end, (int, float)) else g.constant(float(end), work)
    if steps == 1:
        return cast(g, g.op("Reshape", s, g.constant([1], torch.int64), dtype=work), dt)
    step = g.op("Div", g.op("Sub", e, s), g.constant(float(steps - 1), work))
    i = torch.arange(steps, dtype=work)
    half = steps // 2
    up = g.op("Add", s, g.op("Mul", g.constant(i[:half]), step))
    down = g.op("Sub", e, g.op("Mul", g.constant(steps - 1 - i[half:]), step))
    return cast(g, g.op("Concat", up, down, axis_i=0), dt)


@op("aten::logspace", "aten::logspace.Tensor_Tensor", "aten::logspace.Tensor_Scalar",
    "aten::logspace.Scalar_Tensor")
def logspace(g, start, end, steps, base=10.0, *args, **kwargs):
    dt = _out_dt(g)
    if isinstance(start, (int, float)) and isinstance(end, (int, float)):
        return g.constant(torch.logspace(start, end, steps, base, dtype=torch.float64).to(dt))
    lin = _linspace(g, start, end, steps, torch.float64)
    out = g.op("Pow", g.constant(float(base), torch.float64), lin)
    return cast(g, out, dt)


@op("aten::eye", "aten::eye.m")
def eye(g, n, m=None, *args, **kwargs):
    """A constant of static sizes; dynamic ones need EyeLike (``opset9.creation``)."""
    m = n if m is None else m
    if not (isinstance(n, int) and isinstance(m, int)):
        raise NotImplementedError("a dynamic eye needs EyeLike (opset 9)")
    return g.constant(torch.eye(n, m, dtype=_out_dt(g)))

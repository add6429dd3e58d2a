"""Complex tensors as (real, imaginary) pairs, and the DFT they go through.

ONNX runtimes have almost no kernels for complex types, and ``DFT``/``STFT`` themselves take and
give complex numbers as a trailing dimension of 2. So inside an exported graph a complex PyTorch
tensor of shape ``S`` is a real tensor of shape ``S + [2]`` (what ``torch.view_as_real`` gives):
complex64 is a float32 pair tensor, complex128 a float64 one.

How a conversion knows a value is complex: lowering marks every value whose FX node has a complex
``meta["val"]`` (graph inputs, op results, folded constants) with ``value.meta["complex_pairs"]``
and gives it the real dtype and the shape with the trailing 2. :func:`is_complex` reads that mark.
Values a conversion builds inside itself are plain pair tensors; lowering marks the one it
returns from the op's own ``meta["val"]``.

Consequences a user sees: a complex graph input or output is its ``view_as_real`` pair tensor.

An op that is not complex-aware sees a real tensor with one more trailing dim; the element-wise
conversions that are (``add``, ``sub``, ``mul``, ``div``, ``neg``, ``abs``, ``angle``, the casts)
dispatch to the helpers here on their first line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import onnx_ir as ir
import torch

from onnxplug.lowering import COMPLEX_PAIRS

from . import forms
from .forms import reduce, squeeze, unsqueeze
from .helpers import as_value, cast

Value = ir.Value
DFT_DTYPES = (torch.float32, torch.float64)  # what onnxruntime's DFT/STFT kernels take


# -- which values are complex --------------------------------------------------------------
def is_complex(x: Any) -> bool:
    """Whether ``x`` is a complex pair value (or a Python complex number)."""
    if isinstance(x, ir.Value):
        return bool(x.meta.get(COMPLEX_PAIRS))
    return isinstance(x, complex)


def any_complex(*xs: Any) -> bool:
    return any(is_complex(x) for x in xs)


def real_dtype(g, x: Any) -> torch.dtype:
    """The float dtype of a pair value, of a real value, or of a Python number."""
    if isinstance(x, ir.Value):
        return g.dtype(x)
    return torch.get_default_dtype()


def _out_real_dtype(g, *xs: Any) -> torch.dtype:
    dt = g.out_dtype()
    if dt is not None:
        return dt.to_real() if dt.is_complex else dt
    dts = [real_dtype(g, x) for x in xs if isinstance(x, ir.Value)]
    return torch.float64 if torch.float64 in dts else torch.float32


# -- parts and pairs -------------------------------------------------------------------------
def part(g, p: Value, index: int) -> Value:
    """The real (0) or imaginary (1) part of pair value ``p``: its last dim dropped."""
    out = g.op("Gather", p, g.constant(index, torch.int64), axis_i=-1, dtype=g.dtype(p))
    shape = g.shape(p)
    return g.set_type(out, shape=shape[:-1]) if shape is not None else out


def pair(g, re: Value, im: Value) -> Value:
    """The pair value of ``re + i*im`` (``re`` and ``im`` of one shape and dtype)."""
    out = g.op("Concat", unsqueeze(g, re, [-1]), unsqueeze(g, im, [-1]), axis_i=-1, dtype=g.dtype(re))
    shape = g.shape(re)
    return g.set_type(out, shape=[*shape, 2]) if shape is not None else out


def zeros_like(g, x: Value) -> Value:
    """Zeros of ``x``'s shape and dtype (Expand of a 0-d zero; ``x * 0`` would turn inf to NaN)."""
    out = g.op("Expand", g.constant(0, g.dtype(x)), g.op("Shape", x, dtype=torch.int64), dtype=g.dtype(x))
    return g.set_type(out, shape=g.shape(x)) if g.shape(x) is not None else out


def from_real(g, x: Value, dt: torch.dtype | None = None) -> Value:
    """A real value as a pair value with zero imaginary part (cast to float ``dt`` first)."""
    x = cast(g, x, dt or (g.dtype(x) if g.dtype(x).is_floating_point else torch.float32))
    return pair(g, x, zeros_like(g, x))


def as_pair(g, x: Any, dt: torch.dtype) -> Value:
    """``x`` as a pair value of float ``dt``: a pair value, a real value or a Python number."""
    if isinstance(x, ir.Value):
        return cast(g, x, dt) if is_complex(x) else from_real(g, x, dt)
    z = complex(x)
    return g.constant([z.real, z.imag], dt)


def scale(g, p: Value, factor: Any) -> Value:
    """``p * factor`` for a real factor (a Python number or a 0-d value); nothing for 1."""
    if isinstance(factor, (int, float)) and factor == 1:
        return p
    return g.op("Mul", p, as_value(g, factor, g.dtype(p)), dtype=g.dtype(p))


def _real_operand(g, p: Value, x: Any) -> Value:
    """A real operand made to broadcast against pair value ``p`` (a trailing dim of 1)."""
    v = as_value(g, x, g.dtype(p))
    return unsqueeze(g, v, [-1]) if isinstance(x, ir.Value) else v


# -- arithmetic ------------------------------------------------------------------------------
def add(g, x: Any, y: Any, alpha: Any = 1, subtract: bool = False) -> Value:
    """``x + alpha * y`` (``x - alpha * y`` with ``subtract``) where either may be complex."""
    dt = _out_real_dtype(g, x, y)
    a, b = as_pair(g, x, dt), as_pair(g, y, dt)
    if isinstance(alpha, complex):
        b = cmul(g, b, as_pair(g, alpha, dt))
    elif alpha is not None:
        b = scale(g, b, alpha)
    return g.op("Sub" if subtract else "Add", a, b, dtype=dt)


def cmul(g, p: Value, q: Value) -> Value:
    """The product of two pair values: ``(ac - bd) + (ad + bc)i``."""
    dt = g.dtype(p)
    a, b, c, d = part(g, p, 0), part(g, p, 1), part(g, q, 0), part(g, q, 1)
    re = g.op("Sub", g.op("Mul", a, c, dtype=dt), g.op("Mul", b, d, dtype=dt), dtype=dt)
    im = g.op("Add", g.op("Mul", a, d, dtype=dt), g.op("Mul", b, c, dtype=dt), dtype=dt)
    return g.op("Concat", unsqueeze(g, re, [-1]), unsqueeze(g, im, [-1]), axis_i=-1, dtype=dt)


def mul(g, x: Any, y: Any) -> Value:
    """``x * y`` where either may be complex; a real operand scales both parts."""
    dt = _out_real_dtype(g, x, y)
    if is_complex(x) and is_complex(y):
        return cmul(g, as_pair(g, x, dt), as_pair(g, y, dt))
    z, r = (x, y) if is_complex(x) else (y, x)
    p = as_pair(g, z, dt)
    return g.op("Mul", p, _real_operand(g, p, r), dtype=dt)


def div(g, x: Any, y: Any) -> Value:
    """``x / y`` where either may be complex: by a real ``y`` both parts divide; else
    ``x * conj(y) / |y|^2``."""
    dt = _out_real_dtype(g, x, y)
    if not is_complex(y):
        p = as_pair(g, x, dt)
        return g.op("Div", p, _real_operand(g, p, y), dtype=dt)
    q = as_pair(g, y, dt)
    c, d = part(g, q, 0), part(g, q, 1)
    denom = g.op("Add", g.op("Mul", c, c, dtype=dt), g.op("Mul", d, d, dtype=dt), dtype=dt)
    num = cmul(g, as_pair(g, x, dt), conj(g, q))
    return g.op("Div", num, unsqueeze(g, denom, [-1]), dtype=dt)


def neg(g, p: Value) -> Value:
    return g.op("Neg", p, dtype=g.dtype(p))


def conj(g, p: Value) -> Value:
    """The complex conjugate: the imaginary part negated."""
    return g.op("Mul", p, g.constant([1.0, -1.0], g.dtype(p)), dtype=g.dtype(p))


def abs_(g, p: Value) -> Value:
    """``|z|``: the L2 norm of each pair."""
    return reduce(g, "ReduceL2", p, [-1], False)


def angle(g, p: Value) -> Value:
    """``atan2(imag, real)``, PyTorch's branch cuts and signed zeros included."""
    from .opset9.elementwise import atan2  # a conversion module: imported late (no cycle)

    return atan2(g, part(g, p, 1), part(g, p, 0))


def to_dtype(g, x: Value, to: torch.dtype) -> Value:
    """``x.to(to)`` where ``x`` or ``to`` is complex: real -> complex gets a zero imaginary part,
    complex -> real keeps the real part (as PyTorch does, with its warning), complex -> complex
    casts both parts."""
    if to.is_complex:
        return cast(g, x, to.to_real()) if is_complex(x) else from_real(g, x, to.to_real())
    return cast(g, part(g, x, 0), to)


# -- the DFT ---------------------------------------------------------------------------------
def dft(g, x: Value, axis: int, *, inverse: bool = False, onesided: bool = False,
        length: int | Value | None = None) -> Value:
    """ONNX ``DFT`` over ``axis`` of ``x`` (``[..., 1]`` real or ``[..., 2]`` complex).

    The axis is an attribute at opset 17 and an input from 20. ``onesided`` with a real input
    is PyTorch's rfft; with ``inverse`` and a complex input it is irfft (a ``[..., 1]`` result
    of ``length`` samples).
    """
    dt = g.dtype(x)
    n = None if length is None else as_value(g, length, torch.int64)
    attrs = {"inverse_i": int(inverse), "onesided_i": int(onesided)}
    out = forms.dft(g, x, n, axis, dt, **attrs)
    shape = g.shape(x)
    if shape is not None:  # declared, so that shape-aware helpers can follow
        size = length if isinstance(length, int) else shape[axis]
        if isinstance(size, int) and onesided:
            size = size // 2 + 1 if not inverse else size if isinstance(length, int) else 2 * (size - 1)
        elif onesided:
            size = None
        dims = [*shape[:-1], 1 if inverse and onesided else 2]
        dims[axis] = size
        out.shape = ir.Shape([d if isinstance(d, int) else ir.SymbolicDim(d) for d in dims])
    return out


def signal_size(g, x: Value, dims: Sequence[int]) -> int | Value:
    """The number of elements over ``dims`` of ``x``: an int when static, else a float value."""
    from .helpers import dim_size

    sizes = [dim_size(g, x, d) for d in dims]
    if all(isinstance(s, int) for s in sizes):
        return math.prod(sizes)
    out = None
    for s in sizes:
        s = cast(g, s, torch.float32) if isinstance(s, ir.Value) else g.constant(float(s))
        out = s if out is None else g.op("Mul", out, s, dtype=torch.float32)
    return out


def norm_factor(g, n: int | Value, normalization: int, inverse: bool, dt: torch.dtype) -> Any:
    """The factor that turns ONNX's DFT into PyTorch's ``normalization`` (0: none, 1: 1/sqrt(n),
    2: 1/n). ONNX's inverse DFT already divides by n; its forward one does not."""
    power = {0: 0.0, 1: -0.5, 2: -1.0}[normalization] + (1.0 if inverse else 0.0)
    if power == 0:
        return 1
    if isinstance(n, int):
        return float(n) ** power
    n = cast(g, n, dt)
    if power == 0.5:
        return g.op("Sqrt", n, dtype=dt)
    if power == -0.5:
        return g.op("Reciprocal", g.op("Sqrt", n, dtype=dt), dtype=dt)
    return n if power == 1 else g.op("Reciprocal", n, dtype=dt)


def compute_pairs(g, x: Value) -> tuple[Value, torch.dtype]:
    """``x`` in a dtype the DFT kernels take (half precision runs in float32), and ``x``'s dtype."""
    dt = g.dtype(x)
    return (x, dt) if dt in DFT_DTYPES else (cast(g, x, torch.float32), dt)


def real_signal(g, x: Value) -> Value:
    """A real value as DFT's real input: a trailing dim of 1."""
    return unsqueeze(g, x, [-1])


def drop_last(g, x: Value) -> Value:
    """DFT's ``[..., 1]`` real output as a plain real value."""
    return squeeze(g, x, [-1])

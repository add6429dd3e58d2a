"""Complex forms of element-wise arithmetic, casts and layout ops, as of opset 7.

Registered with ``complex=True``: the registry gives a node with a complex input (a tensor, or a
Python complex number) only to these, and a node without one to the real conversions in
``elementwise.py``/``shape.py``. Complex values are (real, imag) pairs (``complex_helpers``).
"""

from __future__ import annotations

import onnx_ir as ir

from .. import complex_helpers as ch
from .. import forms
from ..forms import unsqueeze
from ..helpers import norm_dim, norm_dims, reshape, transpose
from ..registration import op
from . import shape as shape_ops




def _real_operands_supported(g, *xs) -> None:
    """Decline a real tensor operand of a complex op below opset 11: the helpers that turn it
    into a pair (or broadcast it against one) need negative ``Unsqueeze`` axes and ``Expand``."""
    if any(isinstance(x, ir.Value) and not ch.is_complex(x) for x in xs):
        forms.require(g, "Unsqueeze with negative axes",
                      f"a real tensor operand of a complex {g.target_name()}",
                      hint="or make the operand complex first")


@op("aten::add.Tensor", "aten::add.Scalar", complex=True)
def complex_add(g, x, y, alpha=1):
    _real_operands_supported(g, x, y)
    return ch.add(g, x, y, alpha)


@op("aten::sub.Tensor", "aten::sub.Scalar", complex=True)
def complex_sub(g, x, y, alpha=1):
    _real_operands_supported(g, x, y)
    return ch.add(g, x, y, alpha, subtract=True)


@op("aten::mul.Tensor", "aten::mul.Scalar", complex=True)
def complex_mul(g, x, y):
    _real_operands_supported(g, x, y)
    return ch.mul(g, x, y)


@op("aten::div.Tensor", "aten::div.Scalar", complex=True)
def complex_div(g, x, y):
    _real_operands_supported(g, x, y)
    return ch.div(g, x, y)


@op("aten::neg", complex=True)
def complex_neg(g, x):
    return ch.neg(g, x)


@op("aten::abs", complex=True)
def complex_abs(g, x):
    """``|x|``: a real tensor."""
    return ch.abs_(g, x)


@op("aten::_to_copy", "aten::to.dtype", "aten::to.dtype_layout", "aten::to.device",
    "aten::type_as", complex=True)
def complex_to_copy(g, x, *args, **kwargs):
    """A cast from or to a complex dtype (complex -> real keeps the real part, as PyTorch)."""
    _real_operands_supported(g, x)  # type_as(real, complex)
    return ch.to_dtype(g, x, g.out_dtype())


# -- layout: the real conversions, with dims counted without the pair's trailing 2 ------------
def _rank(g, x) -> int:
    """The rank of the complex tensor that pair value ``x`` carries."""
    return g.rank(x) - 1


@op("aten::clone", "aten::contiguous", "aten::alias", "aten::detach", "aten::lift_fresh_copy",
    "aten::lift_fresh", "aten::alias_copy", "aten::detach_copy", complex=True)
def complex_identity(g, x, *_, **__):
    return x


@op("aten::view", "aten::reshape", "aten::_unsafe_view", "aten::view_copy", complex=True)
def complex_view(g, x, shape):
    return reshape(g, x, [*shape, 2])


@op("aten::slice.Tensor", complex=True)
def complex_slice(g, x, dim=0, start=None, end=None, step=1):
    return shape_ops.slice_tensor(g, x, norm_dim(dim, _rank(g, x)), start, end, step)


@op("aten::select.int", complex=True)
def complex_select(g, x, dim, index):
    return shape_ops.select(g, x, norm_dim(dim, _rank(g, x)), index)


@op("aten::unsqueeze", complex=True)
def complex_unsqueeze(g, x, dim):
    return unsqueeze(g, x, [norm_dim(dim, _rank(g, x) + 1)])


@op("aten::permute", complex=True)
def complex_permute(g, x, dims):
    rank = _rank(g, x)
    return transpose(g, x, [*norm_dims(dims, rank), rank])


@op("aten::transpose.int", "aten::swapaxes", "aten::swapdims", complex=True)
def complex_transpose(g, x, dim0, dim1):
    rank = _rank(g, x)
    perm = list(range(rank + 1))
    a, b = norm_dim(dim0, rank), norm_dim(dim1, rank)
    perm[a], perm[b] = perm[b], perm[a]
    return x if a == b else transpose(g, x, perm)


@op("aten::cat", complex=True)
def complex_cat(g, tensors, dim=0):
    """``torch.cat`` where some inputs are complex: real ones get a zero imaginary part."""
    _real_operands_supported(g, *tensors)
    dt = g.out_dtype().to_real()
    pairs = [ch.as_pair(g, t, dt) for t in tensors]
    pairs = [p for p in pairs if tuple(g.shape(p) or ()) != (0, 2)] or pairs[:1]
    if len(pairs) == 1:
        return pairs[0]
    return g.op("Concat", *pairs, axis_i=norm_dim(dim, _rank(g, pairs[0])), dtype=dt)


@op("aten::constant_pad_nd", complex=True)
def complex_constant_pad_nd(g, x, pad, value=0):
    """Zero padding (what ``fft2``/``fftn`` with ``s=`` pad with): the pairs' trailing axis of
    2 is not padded, so ``(0, 0)`` goes first (PyTorch lists the last axis first). A non-zero
    complex fill value would need the two parts filled differently: declined."""
    if value not in (0, 0.0, None) and value != 0j:
        raise NotImplementedError("complex constant_pad_nd with a non-zero value")
    return shape_ops.pad_op(g, x, [0, 0, *pad], "constant", 0)

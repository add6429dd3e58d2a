"""Linear layers and matrix products (Gemm where onnxruntime has a kernel, else MatMul), as of opset 7."""

from __future__ import annotations

import torch

from ..forms import reduce, unsqueeze
from ..helpers import cast, reshape, transpose
from ..nn_helpers import matmul as matmul_op
from ..registration import op


def matmul_weight_t(g, w):
    """``w.T`` for a MatMul: a transposed initializer when ``w`` is constant, else Transpose."""
    const = g.const_value(w)
    if const is not None and const.dim() == 2:
        # a view: the graph holds no copy, the transposed bytes are made only while saving
        return g.initializer(const.t(), name=f"{w.name}_T")
    return transpose(g, w, [1, 0])


def gemm_dtype(dt: torch.dtype) -> bool:
    """Whether onnxruntime has a Gemm kernel for ``dt`` (it has none for integers)."""
    return dt in (torch.float16, torch.float32, torch.float64)


@op("aten::linear")
def linear(g, x, weight, bias=None):
    """``x @ weight.T + bias``: Gemm for a 2-D float input with a bias (Gemm's C is required
    before opset 11, see ``opset11/linear.py``), else MatMul (integers: see ``nn_helpers.matmul``)
    and Add."""
    dt = g.dtype(x)
    if g.rank(x) == 2 and gemm_dtype(dt) and bias is not None:
        return g.op("Gemm", x, weight, bias, transB_i=1)
    y = matmul_op(g, x, matmul_weight_t(g, weight), dt)
    return y if bias is None else g.op("Add", y, cast(g, bias, dt))


@op("aten::matmul", "aten::mm", "aten::bmm")
def matmul(g, x, y):
    return matmul_op(g, x, y, g.out_dtype())


@op("aten::addmm")
def addmm(g, bias, x, y, beta=1, alpha=1):
    """``beta * bias + alpha * (x @ y)``: Gemm for floats; integers (no Gemm kernel) compose it."""
    dt = g.out_dtype()
    if gemm_dtype(dt):
        return g.op("Gemm", x, y, bias, alpha_f=float(alpha), beta_f=float(beta))
    from .linalg import _add_scaled

    return _add_scaled(g, bias, matmul_op(g, x, y, dt), beta, alpha)


@op("aten::bilinear")
def bilinear(g, x1, x2, weight, bias=None):
    """``y_o = sum_ij x1_i W_oij x2_j + b_o``: one MatMul against W laid out as ``[i, o*j]``."""
    dt = g.dtype(x1)
    o, i, j = g.shape(weight)
    if not all(isinstance(d, int) for d in (o, i, j)):
        raise NotImplementedError("bilinear with a dynamic weight shape")
    lead = list(g.out_shape()[:-1])
    if not all(isinstance(d, int) for d in lead):
        raise NotImplementedError("bilinear with dynamic batch dimensions")
    w = reshape(g, g.op("Transpose", weight, perm_is=[1, 0, 2]), [i, o * j])
    t = reshape(g, matmul_op(g, x1, w, dt), lead + [o, j], allowzero=True)
    y = reduce(g, "ReduceSum", g.op("Mul", t, unsqueeze(g, x2, [len(lead)])), [len(lead) + 1], False)
    return y if bias is None else g.op("Add", y, bias)

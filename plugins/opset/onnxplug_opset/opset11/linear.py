"""Opset 11: Gemm's C input became optional, so a 2-D linear layer without a bias is one Gemm."""

from __future__ import annotations

from ..opset7.linear import gemm_dtype, linear as linear_at_7
from ..registration import op


@op("aten::linear")
def linear(g, x, weight, bias=None):
    """``x @ weight.T``: one Gemm (``transB``) for a 2-D float input without a bias; everything
    else as at opset 7 (Gemm with a bias, MatMul and Add otherwise)."""
    if bias is None and g.rank(x) == 2 and gemm_dtype(g.dtype(x)):
        return g.op("Gemm", x, weight, transB_i=1)
    return linear_at_7(g, x, weight, bias)

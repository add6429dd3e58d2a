"""Conversions of the custom ops transformers defines for its mixture-of-experts layers.

transformers (5.x) routes tokens to experts and multiplies each expert's rows with its own
weight. Where PyTorch's grouped matmul is unavailable (CPU, float32 weights), it calls the custom
op ``transformers::grouped_mm_fallback(input, weight, offs)``:

* ``input`` is ``(S, K)``, its rows sorted by expert;
* ``weight`` is ``(E, K, N)``, one matrix per expert;
* ``offs`` is ``(E,)``, the cumulative end row of each expert's block;
* rows past ``offs[-1]`` are zeros in the output ``(S, N)``.

The number of experts is static (a weight dimension), so the conversion unrolls into one
``MatMul`` per expert over a ``Slice`` of its rows, and a ``Concat``. That avoids gathering an
``(S, K, N)`` tensor of per-row weights.
"""

from __future__ import annotations

import torch

import onnxplug

OPSET = 13  # Slice with tensor bounds (10), Split/Squeeze with axes as inputs (13)


@onnxplug.symbolic("transformers::grouped_mm_fallback", opset=OPSET)
def grouped_mm_fallback(g, x, weight, offs):
    """``out[r] = x[r] @ weight[expert(r)]``: one MatMul per expert, rows past the last block zero."""
    shape = g.shape(weight)
    if not shape or not isinstance(shape[0], int):
        raise NotImplementedError("grouped_mm_fallback needs a static number of experts")
    experts = shape[0]
    dt = g.dtype(x)
    axis0 = g.constant(torch.tensor([0]))
    ends = g.op("Cast", offs, to_i=onnx_int64())
    end_of = [g.op("Slice", ends, g.constant(torch.tensor([i])), g.constant(torch.tensor([i + 1])), axis0)
              for i in range(experts)]
    weights = (g.op("Split", weight, axis_i=0, outputs=experts) if experts > 1 else [weight])
    if not isinstance(weights, (list, tuple)):
        weights = [weights]
    start = g.constant(torch.tensor([0]))
    blocks = []
    for i in range(experts):
        rows = g.op("Slice", x, start, end_of[i], axis0)
        blocks.append(g.op("MatMul", rows, g.op("Squeeze", weights[i], axis0)))
        start = end_of[i]
    # Rows past the last block are zeros: a (S - offs[-1], N) block of zeros closes the output.
    rows_left = g.op("Sub", g.op("Slice", g.op("Shape", x), axis0, g.constant(torch.tensor([1]))), start)
    width = g.op("Slice", g.op("Shape", weight), g.constant(torch.tensor([2])), g.constant(torch.tensor([3])))
    zeros = g.op("ConstantOfShape", g.op("Concat", rows_left, width, axis_i=0),
                 value_t=torch.zeros(1, dtype=dt))
    return g.op("Concat", *blocks, zeros, axis_i=0)


def onnx_int64() -> int:
    from onnxplug.graph import onnx_dtype

    return int(onnx_dtype(torch.int64))


ALL = [grouped_mm_fallback]

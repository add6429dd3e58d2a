"""Finite differences as of opset 7: ``torch.diff``.

transformers' masking code calls ``torch.diff`` on position ids (packed-sequence detection), so
GPT-2 and Llama carry it; without a conversion it costs a decomposition of the program. A
difference is two Slices of the same tensor and a Sub (an Xor for bool, as PyTorch does),
``n`` times, after concatenating ``prepend`` and ``append``.
"""

from __future__ import annotations

import torch

from .. import elementwise_helpers as eh
from ..forms import slice_
from ..helpers import cast, norm_dim
from ..registration import op

INT64_MAX = 2**63 - 1


@op("aten::diff")
def diff(g, x, n=1, dim=-1, prepend=None, append=None):
    dt = g.out_dtype() or g.dtype(x)
    dim = norm_dim(dim, g.rank(x))
    parts = [p for p in (prepend, x, append) if p is not None]
    sizes = [(g.shape(p) or (None,) * (dim + 1))[dim] for p in parts]
    size = sum(sizes) if all(isinstance(s, int) for s in sizes) else None  # None: dynamic
    if len(parts) > 1:
        x = g.op("Concat", *[cast(g, p, dt) for p in parts], axis_i=dim)
    for _ in range(n):
        later = slice_(g, x, [1], [INT64_MAX if size is None else size], [dim])
        earlier = slice_(g, x, [0], [-1 if size is None else max(size - 1, 0)], [dim])
        size = None if size is None else max(size - 1, 0)
        if dt == torch.bool:
            x = g.op("Xor", later, earlier)
        else:
            x = eh.arith(g, "Sub", later, earlier, dt)
    return x

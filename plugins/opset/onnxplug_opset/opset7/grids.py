"""Coordinate grids as of opset 7: ``torch.meshgrid`` (torchvision's anchor generators call it).

Each input (1-D, or 0-d as one element) is reshaped to vary along its own axis and broadcast
to the grid's shape; ``indexing="xy"`` swaps the first two axes, as NumPy does. Without a
conversion it cost a decomposition of the whole program.
"""

from __future__ import annotations

from ..forms import expand
from ..helpers import dim_size, reshape
from ..registration import op


@op("aten::meshgrid")
def meshgrid(g, tensors, indexing="ij"):
    ts = [reshape(g, t, [1]) if g.rank(t) == 0 else t for t in tensors]
    k = len(ts)
    axes = list(range(k))  # the grid axis along which input i varies
    if indexing == "xy" and k >= 2:
        axes[0], axes[1] = 1, 0
    grid: list = [None] * k
    for t, axis in zip(ts, axes):
        grid[axis] = dim_size(g, t, 0)
    outs = []
    for t, axis in zip(ts, axes):
        shape = [1] * k
        shape[axis] = -1
        outs.append(expand(g, reshape(g, t, shape), grid))
    return tuple(outs)

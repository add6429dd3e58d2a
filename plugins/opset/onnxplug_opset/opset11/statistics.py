"""Opset 11: statistics: ``mode``, ``histogram``, ``histogramdd`` and ``segment_reduce``.

Opset 11 is where these compositions become possible: ``Equal`` compares floats, ``CumSum``
turns segment lengths into boundaries and ``Range`` numbers a dynamic dimension. Each op is
built from comparisons (a pairwise ``Equal`` for ``mode``, element-against-edge for
``histogram``, position-against-boundary for ``segment_reduce``) followed by a plain reduction,
so memory grows with the product of the two compared sizes: fine for the modest sizes these
ops see, and exact.
"""

from __future__ import annotations

import torch

from ..elementwise_helpers import and_, compare
from ..forms import reduce, slice_, squeeze, unsqueeze
from ..helpers import cast, dim_size, reshape, scalar
from ..registration import op
from ..shape_helpers import arange


def work_dtype(dt: torch.dtype) -> torch.dtype:
    """The dtype to compare and reduce in: one onnxruntime's Equal/ReduceMin/Where all take.

    Exact for every input: halves widen to float32, small integers and bools to int32.
    """
    if dt in (torch.float32, torch.float64, torch.int32, torch.int64):
        return dt
    return torch.float32 if dt.is_floating_point else torch.int32


# -- mode ---------------------------------------------------------------------------------------
@op("aten::mode")
def mode(g, x, dim=-1, keepdim=False):
    """``(values, indices)``: the most frequent value along ``dim`` and where it occurs.

    What PyTorch's CPU kernel returns (it sorts each slice and scans the runs of equal values):
    among the values that occur most often the *smallest* wins, and its index is the *last*
    position holding it. (For slices longer than 16 the kernel's sort is not stable, so PyTorch's
    index is then any position of the value; this conversion always gives the last one.)

    Composition, per slice of ``n`` elements: an ``n x n`` ``Equal`` counts how often each
    element's value occurs, ``ReduceMax`` gives the top count, the smallest value reaching it is a
    ``ReduceMin`` over the candidates (others masked to the dtype's largest value), and the index
    is the largest position whose element equals that value. NaN never equals itself, so NaNs
    count zero times: PyTorch's own result on NaNs depends on its sort and is not matched.
    """
    dt = g.dtype(x)
    rank = g.rank(x)
    if rank == 0:
        return x, g.constant(0, torch.int64)
    axis = dim % rank
    work = work_dtype(dt)
    xw = cast(g, x, work)
    # counts[..., i, ...] = number of j with x[..., j, ...] == x[..., i, ...]
    same = g.op("Equal", unsqueeze(g, xw, [axis + 1]), unsqueeze(g, xw, [axis]))
    counts = reduce(g, "ReduceSum", cast(g, same, torch.int64), [axis + 1], False)
    top = reduce(g, "ReduceMax", counts, [axis], True)
    candidate = g.op("Equal", counts, top)
    largest = float("inf") if work.is_floating_point else int(torch.iinfo(work).max)
    masked = g.op("Where", candidate, xw, scalar(g, largest, work))
    value = reduce(g, "ReduceMin", masked, [axis], True)
    # the last position holding the value (0 when none does, which only an all-NaN slice gives)
    pos = unsqueeze(g, arange(g, dim_size(g, x, axis)), list(range(1, rank - axis))) \
        if axis < rank - 1 else arange(g, dim_size(g, x, axis))
    hit = g.op("Equal", xw, value)
    index = reduce(g, "ReduceMax", g.op("Where", hit, pos, g.constant(0, torch.int64)),
                   [axis], True)
    if not keepdim:
        value, index = squeeze(g, value, [axis]), squeeze(g, index, [axis])
    return cast(g, value, dt), index


# -- histogram ----------------------------------------------------------------------------------
#
# PyTorch defines a bin by its edges: element ``e`` falls in bin ``i`` when
# ``edges[i] <= e < edges[i + 1]``, the last bin also takes ``e == edges[-1]``, and elements
# outside ``[edges[0], edges[-1]]`` (NaNs too) are not counted. Counting the edges each element
# reaches reproduces that exactly against the edges the graph itself computes (``histc`` in
# opset9/reduction.py scales and floors instead, which is ``histc``'s own definition).

def _outer_edges(g, column, rng, dt, empty: bool):
    """``(lo, hi)`` as 0-d ``dt`` values: ``rng`` when given, else the data's min and max.

    An empty range widens to ``[lo - 0.5, hi + 0.5]`` and an input known to be ``empty`` gets
    ``[0, 1]``, as PyTorch does.
    """
    if rng is not None:
        lo, hi = float(rng[0]), float(rng[1])
        if lo > hi:
            raise NotImplementedError(f"histogram range [{lo}, {hi}] is reversed (PyTorch rejects it)")
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        return scalar(g, lo, dt), scalar(g, hi, dt)
    if empty:
        return scalar(g, 0.0, dt), scalar(g, 1.0, dt)
    lo = reduce(g, "ReduceMin", column, [0], False)
    hi = reduce(g, "ReduceMax", column, [0], False)
    same = g.op("Equal", lo, hi)
    half = scalar(g, 0.5, dt)
    lo = g.op("Where", same, g.op("Sub", lo, half), lo)
    hi = g.op("Where", same, g.op("Add", hi, half), hi)
    return lo, hi


def _linspace_edges(g, lo, hi, bins: int, dt):
    """``bins + 1`` edges from ``lo`` to ``hi`` as ``torch.linspace`` computes them.

    The first half counts up from ``lo`` and the second half down from ``hi`` in steps of
    ``(hi - lo) / bins``, so both ends are exact. (PyTorch's vectorised kernel restarts its
    count every few elements, so inner edges may differ from it in the last bit.)
    """
    step = g.op("Div", g.op("Sub", hi, lo), scalar(g, float(bins), dt))
    k = torch.arange(bins + 1, dtype=torch.float64)
    up = g.op("Add", lo, g.op("Mul", step, g.constant(k.to(dt))))
    down = g.op("Sub", hi, g.op("Mul", step, g.constant((bins - k).to(dt))))
    first_half = g.constant(torch.arange(bins + 1) < (bins + 1) // 2)
    return g.set_type(g.op("Where", first_half, up, down), shape=[bins + 1])


def _bin_index(g, column, edges, bins: int):
    """The bin of each element of the 1-D ``column`` against 1-D ``edges``; -1 where none."""
    reached = compare(g, "ge", unsqueeze(g, column, [1]), unsqueeze(g, edges, [0]))  # [N, bins + 1]
    idx = g.op("Sub", reduce(g, "ReduceSum", cast(g, reached, torch.int64), [1], False),
               g.constant(1, torch.int64))
    last = g.op("Gather", edges, g.constant(bins, torch.int64), axis_i=0)
    # the top edge closes the last bin; beyond it nothing is counted
    top = g.op("Equal", column, last)
    idx = g.op("Where", top, g.constant(bins - 1, torch.int64), idx)
    beyond = g.op("Equal", idx, g.constant(bins, torch.int64))
    return g.op("Where", beyond, g.constant(-1, torch.int64), idx)


def _bin_sums(g, idx, total_bins: int, weight, dt):
    """``[total_bins]`` sums of ``weight`` (1-D, or None for counts) over elements per bin index."""
    onehot = g.op("Equal", unsqueeze(g, idx, [1]), g.constant(torch.arange(total_bins).reshape(1, -1)))
    if weight is None:
        hits = cast(g, onehot, dt)
    else:  # Where, not a product with the one-hot: an infinite weight must not spill NaN elsewhere
        hits = g.op("Where", onehot, unsqueeze(g, weight, [1]), scalar(g, 0.0, dt))
    return reduce(g, "ReduceSum", hits, [0], False)


def _flat(g, x, dt):
    return reshape(g, cast(g, x, dt), [-1])


def _hist_dtype(g, x):
    dt = g.dtype(x)
    if dt not in (torch.float32, torch.float64):
        raise NotImplementedError(f"histogram of {dt} (PyTorch's CPU kernel takes float32/float64)")
    return dt


def _known_empty(g, x) -> bool:
    return 0 in (g.shape(x) or ())


def _bin_widths(g, edges, bins: int, dt):
    return g.op("Sub", slice_(g, edges, [1], [bins + 1], [0]), slice_(g, edges, [0], [bins], [0]))


def _normalise(g, hist, dt):
    """``hist`` over its total (NaN when nothing was counted, as in PyTorch)."""
    return g.op("Div", hist, reduce(g, "ReduceSum", hist, None, False))


@op("aten::histogram.bin_ct")
def histogram(g, x, bins=100, *, range=None, weight=None, density=False):  # noqa: A002 - ATen's names
    """``(hist, bin_edges)`` with ``bins`` equal bins over ``range`` (the data's min/max when None).

    ``x`` of any shape is flattened; ``weight`` (x's shape) sums weights instead of counting;
    ``density`` divides by the total and by each bin's width. Bin rules: see the section comment.
    """
    dt = _hist_dtype(g, x)
    bins = int(bins)
    column = _flat(g, x, dt)
    lo, hi = _outer_edges(g, column, range, dt, _known_empty(g, x))
    edges = _linspace_edges(g, lo, hi, bins, dt)
    return _histogram(g, column, edges, bins, weight, bool(density), dt), edges


@op("aten::histogram.bins_tensor")
def histogram_bins_tensor(g, x, bins, *, weight=None, density=False):
    """``(hist, bin_edges)`` with the given increasing edges ``bins`` (static length)."""
    dt = _hist_dtype(g, x)
    n = (g.shape(bins) or (None,))[0]
    if not isinstance(n, int):
        raise NotImplementedError("histogram with a dynamic number of bin edges")
    edges = cast(g, bins, dt)
    return _histogram(g, _flat(g, x, dt), edges, n - 1, weight, bool(density), dt), edges


def _histogram(g, column, edges, bins: int, weight, density: bool, dt):
    w = None if weight is None else _flat(g, weight, dt)
    hist = _bin_sums(g, _bin_index(g, column, edges, bins), bins, w, dt)
    if density:
        hist = g.op("Div", _normalise(g, hist, dt), _bin_widths(g, edges, bins, dt))
    return hist


# -- histogramdd --------------------------------------------------------------------------------
def _histogramdd(g, x, bins, rng, weight, density: bool):
    """``(hist, [bin_edges per dim])`` of the points ``x[..., D]``; ``bins`` holds, per dim, a
    bin count (equal bins over the range) or a 1-D value of edges.

    Every point's bin along each dim is found as in ``histogram``; the per-dim indices combine
    into one row-major index over all ``prod(bins)`` cells, a point outside any dim's range
    counting nowhere.
    """
    dt = _hist_dtype(g, x)
    shape = g.shape(x)
    d = shape[-1] if shape else None
    if not isinstance(d, int) or len(bins) != d:
        raise NotImplementedError("histogramdd needs a static number of dimensions")
    if rng is not None and len(rng) != 2 * d:
        raise NotImplementedError("histogramdd range must hold two bounds per dimension")
    points = reshape(g, cast(g, x, dt), [-1, d])
    counts, all_edges, index, valid = [], [], None, None
    for k, b in enumerate(bins):
        column = g.op("Gather", points, g.constant(k, torch.int64), axis_i=1)
        if isinstance(b, int):
            lo, hi = _outer_edges(g, column, None if rng is None else rng[2 * k:2 * k + 2], dt,
                                  _known_empty(g, x))
            edges = _linspace_edges(g, lo, hi, b, dt)
            n = b
        else:
            m = (g.shape(b) or (None,))[0]
            if not isinstance(m, int):
                raise NotImplementedError("histogramdd with a dynamic number of bin edges")
            edges, n = cast(g, b, dt), m - 1
        counts.append(n)
        all_edges.append(edges)
        idx = _bin_index(g, column, edges, n)
        inside = compare(g, "ge", idx, g.constant(0, torch.int64))
        valid = inside if valid is None else and_(g, valid, inside)
        index = idx if index is None else g.op(
            "Add", g.op("Mul", index, g.constant(n, torch.int64)), idx)
    total = 1
    for n in counts:
        total *= n
    index = g.op("Where", valid, index, g.constant(-1, torch.int64))
    w = None if weight is None else _flat(g, weight, dt)
    hist = reshape(g, _bin_sums(g, index, total, w, dt), counts)
    if density:
        hist = _normalise(g, hist, dt)
        for k, (edges, n) in enumerate(zip(all_edges, counts)):
            widths = _bin_widths(g, edges, n, dt)
            if k < d - 1:
                widths = unsqueeze(g, widths, list(range(1, d - k)))
            hist = g.op("Div", hist, widths)
    return hist, all_edges


@op("aten::histogramdd")
def histogramdd(g, x, bins, range=None, weight=None, density=False):  # noqa: A002 - ATen's names
    """``(hist, bin_edges)``: ``bins[k]`` equal bins along dim ``k`` of the points ``x[..., D]``
    over ``range[2k:2k + 2]`` (the data's min/max along k when None)."""
    return _histogramdd(g, x, [int(b) for b in bins], range, weight, bool(density))


@op("aten::histogramdd.int_bins")
def histogramdd_int_bins(g, x, bins, range=None, weight=None, density=False):  # noqa: A002
    """``histogramdd`` with the same bin count along every dim."""
    shape = g.shape(x)
    if not shape or not isinstance(shape[-1], int):
        raise NotImplementedError("histogramdd needs a static number of dimensions")
    return _histogramdd(g, x, [int(bins)] * shape[-1], range, weight, bool(density))


@op("aten::histogramdd.TensorList_bins")
def histogramdd_tensor_bins(g, x, bins, range=None, weight=None, density=False):  # noqa: A002
    """``histogramdd`` with given increasing edges (one 1-D value per dim, static lengths)."""
    return _histogramdd(g, x, list(bins), range, weight, bool(density))


# -- segment_reduce -----------------------------------------------------------------------------
_SEGMENT_OPS = {"sum": ("ReduceSum", 0.0), "mean": ("ReduceSum", 0.0), "prod": ("ReduceProd", 1.0),
                "max": ("ReduceMax", float("-inf")), "min": ("ReduceMin", float("inf"))}


@op("aten::segment_reduce")
def segment_reduce(g, data, reduce_, *, lengths=None, indices=None, offsets=None, axis=0, unsafe=False,
                   initial=None):
    """Reduce consecutive segments of ``data`` along ``axis``; the segments come from ``lengths``
    (``[..., S]``) or ``offsets`` (``[..., S + 1]``), whose leading dims are data's before ``axis``.

    Each segment's reduction (``sum``, ``mean``, ``prod``, ``max``, ``min``) starts from
    ``initial`` when given. An empty segment gives ``initial``, else 0 (sum), 1 (prod), NaN
    (mean), -inf (max) or +inf (min); NaNs propagate as in PyTorch.

    The number of segments ``S`` must be static (it is the result's size); the lengths
    themselves may be runtime values. A ``[..., S, D]`` mask compares every position along
    ``axis`` with every segment's ``[start, end)``, and a masked ``ReduceX`` over ``D`` gives
    each segment (``unsafe`` only skips PyTorch's checks, so it changes nothing here).
    """
    if indices is not None:
        raise NotImplementedError("segment_reduce with indices (PyTorch does not implement it either)")
    if reduce_ not in _SEGMENT_OPS:
        raise NotImplementedError(f"segment_reduce reduction {reduce_!r}")
    bounds = lengths if lengths is not None else offsets
    if bounds is None:
        raise NotImplementedError("segment_reduce needs lengths or offsets")
    dt = g.dtype(data)
    if not dt.is_floating_point:
        raise NotImplementedError(f"segment_reduce of {dt} (PyTorch's CPU kernel takes floats)")
    rank, k = g.rank(data), g.rank(bounds) - 1
    if axis % rank != k:
        raise NotImplementedError("segment_reduce: axis must be the last dim of lengths/offsets")
    work = dt if dt in (torch.float32, torch.float64) else torch.float32
    b = g.set_type(cast(g, bounds, torch.int64), shape=g.shape(bounds))
    n = g.shape(b)[k]
    if not isinstance(n, int):
        raise NotImplementedError("segment_reduce with a dynamic number of segments")
    if lengths is not None:
        ends = g.op("CumSum", b, g.constant(k, torch.int64))
        starts = g.op("Sub", ends, b)
    else:
        starts, ends = slice_(g, b, [0], [n - 1], [k]), slice_(g, b, [1], [n], [k])
    # mask[..., s, p]: position p along axis lies in segment s; then room for data's trailing dims
    pos = arange(g, dim_size(g, data, k))
    inside = and_(g, compare(g, "ge", pos, unsqueeze(g, starts, [k + 1])),
                  compare(g, "lt", pos, unsqueeze(g, ends, [k + 1])))
    trailing = list(range(k + 2, rank + 1))
    mask = unsqueeze(g, inside, trailing) if trailing else inside
    x = unsqueeze(g, cast(g, data, work), [k])  # [..., 1, D, rest]
    op_type, identity = _SEGMENT_OPS[reduce_]
    out = reduce(g, op_type, g.op("Where", mask, x, scalar(g, identity, work)), [k + 1], False)
    init = None if initial is None else scalar(g, float(initial), work)
    if reduce_ in ("max", "min"):
        if init is not None:
            out = g.op("Max" if reduce_ == "max" else "Min", out, init)
        # ReduceMax/ReduceMin may skip NaNs; a masked sum of the NaNs alone puts them back
        out = g.op("Add", out, _nan_sum(g, mask, x, [k + 1], work))
    elif reduce_ == "prod" and init is not None:
        out = g.op("Mul", out, init)
    elif init is not None:
        out = g.op("Add", out, init)
    if reduce_ == "mean":
        count = cast(g, g.op("Sub", ends, starts), work)
        count = unsqueeze(g, count, list(range(k + 1, rank))) if rank > k + 1 else count
        out = g.op("Div", out, count)
        if init is not None:  # an empty segment is initial itself, not initial / 0
            empty = g.op("Equal", count, scalar(g, 0.0, work))
            out = g.op("Where", empty, init, out)
    return cast(g, out, dt)


def _nan_sum(g, mask, x, axes, dt):
    """Sum over ``axes`` of the masked elements of ``x`` that are NaN: NaN where one is, else 0."""
    nan = and_(g, mask, g.op("IsNaN", x))
    return reduce(g, "ReduceSum", g.op("Where", nan, x, scalar(g, 0.0, dt)), axes, False)

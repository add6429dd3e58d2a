"""Private maths of the shape, indexing and creation conversions.

Everything here keeps static facts static: a size known at export time is an int and becomes
a constant, and only a dim that is really dynamic costs a ``Shape``/``Gather`` subgraph.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx_ir as ir
import torch

from . import forms
from .bool_helpers import select_bool
from .forms import slice_, split, split_equal, squeeze, unsqueeze
from .helpers import as_value, cast, dim_size, int_list, onnx_type, reshape, result_type, transpose

SMALL = 4096  # results up to this many elements may be emitted as constants


# -- static facts ------------------------------------------------------------------------------
def const_int(g, v: Any) -> int | None:
    """``v`` as a Python int when it is one or a constant value, else None."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    t = g.const_value(v)
    if t is not None and t.numel() == 1:
        return int(t.reshape(()).item())
    return None


def const_tensor(g, v: Any) -> torch.Tensor | None:
    return g.const_value(v) if isinstance(v, ir.Value) else None


def numel(sizes: Sequence) -> int | None:
    n = 1
    for s in sizes:
        if not isinstance(s, int):
            return None
        n *= s
    return n


def sizes(g, x) -> list:
    """Per-dim sizes of ``x``: ints where static, 0-d int64 values where dynamic."""
    return [dim_size(g, x, i) for i in range(g.rank(x))]


def shape_value(g, x) -> ir.Value:
    """``x``'s shape as a 1-D int64 value: a constant when static, ``Shape(x)`` otherwise."""
    static = g.static_shape(x)
    if static is not None:
        return g.constant(list(static), torch.int64)
    return g.op("Shape", x)


def size_product(g, items: Sequence) -> int | ir.Value:
    """The product of sizes (ints and 0-d values)."""
    out: Any = 1
    for s in items:
        if isinstance(out, int) and isinstance(s, int):
            out *= s
        else:
            out = g.op("Mul", as_i64(g, out), as_i64(g, s))
    return out


def as_i64(g, v: Any) -> ir.Value:
    if isinstance(v, ir.Value):
        return cast(g, v, torch.int64)
    return g.constant(int(v), torch.int64)


def move_dims_front(g, x, dims: Sequence[int]) -> tuple[ir.Value, list[int]]:
    """Transpose ``dims`` (in order) to the front; returns the value and the permutation."""
    rank = g.rank(x)
    perm = list(dims) + [d for d in range(rank) if d not in dims]
    return transpose(g, x, perm), perm


def inverse(perm: Sequence[int]) -> list[int]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


# -- building values ---------------------------------------------------------------------------
def _finite_constant(g, v) -> bool:
    t = const_tensor(g, v)
    return t is not None and (not t.is_floating_point() or bool(torch.isfinite(t).all()))


def where(g, cond, a, b, dt: torch.dtype | None = None):
    """``Where(cond, a, b)``: the plugin's one selection, for values or Python scalars ``a``/``b``
    and a result of dtype ``dt`` (default: PyTorch's promotion of ``a`` and ``b``).

    * Booleans select with And/Or at every opset (``bool_helpers.select_bool``: onnxruntime has
      no bool ``Where`` kernel).
    * Otherwise :func:`forms.select`: ``Where`` from opset 9, run in a dtype onnxruntime has a
      kernel for (half precision as float32, narrow integers as int64) and cast back.
    * Below it there is no selection op (:func:`select_without_where`). Integers (and finite float constants) are blended,
      ``a*c + b*(1-c)``, which is exact for them; a float tensor may hold inf or NaN, which the
      blend would turn into NaN (``inf * 0``), so where the shapes are static the elements are
      picked exactly instead (``_pick``). Floats of dynamic shape are blended: exact for finite
      values only.
    """
    dt = dt or result_type(g, a, b)
    if dt == torch.bool:
        return select_bool(g, cond, a, b)
    return forms.select(g, cond, as_value(g, a, dt), as_value(g, b, dt), dt)


def select_without_where(g, cond, a, b, dt: torch.dtype) -> ir.Value:
    """``Where`` of values ``a``/``b`` of dtype ``dt`` from opset-7 ops (:func:`forms.select`
    below opset 9): a blend ``a*c + b*(1-c)``, or :func:`_pick` for floats of static shapes."""
    if dt.is_floating_point and not (_finite_constant(g, a) and _finite_constant(g, b)):
        shapes = [g.static_shape(v) for v in (cond, a, b)]
        if all(s is not None for s in shapes):
            return _pick(g, cond, a, b, dt, broadcast_shapes(shapes))
    c = g.op("Cast", cond, to_i=onnx_type(dt))
    one = g.constant(1, dt)
    a_part = g.op("Mul", a, c)
    b_part = g.op("Mul", b, g.op("Sub", one, c))
    return g.op("Add", a_part, b_part)


def _pick(g, cond, a, b, dt: torch.dtype, shape: list[int]) -> ir.Value:
    """``Where`` without Where (opsets 7-8), exact for any values: one Gather from ``[b..., a...]``
    (both broadcast to ``shape`` and flattened) at ``i + n * cond[i]``."""
    n = numel(shape)
    if n == 0:
        return g.constant(torch.zeros(shape, dtype=dt))

    def flat(v, vdt):
        v = cast(g, v, vdt)
        if list(g.static_shape(v)) != list(shape):
            v = g.set_type(expand_to(g, v, shape), shape=shape)
        return rs(g, v, [n])

    both = g.op("Concat", flat(b, dt), flat(a, dt), axis_i=0)
    offset = g.op("Mul", flat(cond, torch.int64), g.constant(n, torch.int64))
    index = g.op("Add", offset, g.constant(torch.arange(n)))
    out = g.op("Gather", both, index, axis_i=0)
    return rs(g, g.set_type(out, shape=[n]), shape)


def filled(g, shape: Sequence | ir.Value, value: Any, dt: torch.dtype) -> ir.Value:
    """A tensor of ``shape`` holding ``value`` (a Python number or a 0-d value)."""
    static = None if isinstance(shape, ir.Value) else numel(list(shape))
    if isinstance(value, ir.Value):
        v = cast(g, value, dt)
        if static is not None and list(shape) == list(g.shape(v) or ()):
            return v
        return expand_to(g, v, shape)
    if static is not None and static <= SMALL:
        return g.constant(torch.full(list(shape), value, dtype=dt))
    return forms.constant_fill(g, shape, value, dt)


def expand_to(g, v, shape: Sequence | ir.Value) -> ir.Value:
    """``v`` broadcast to ``shape`` (:func:`forms.expand`)."""
    return forms.expand(g, v, shape)


def arange(g, n: int | ir.Value, dt: torch.dtype = torch.int64) -> ir.Value:
    """``0..n-1`` as a 1-D value: a constant when ``n`` is static, else Range (11) / NonZero (9)."""
    if isinstance(n, int):
        return g.constant(torch.arange(n, dtype=dt))
    n64 = cast(g, n, torch.int64)
    if g.rank(n64) not in (0, None):
        n64 = squeeze(g, n64, [0])
    return forms.range_(g, n64, dt)


def normalize_index(g, idx: ir.Value, size: int | ir.Value) -> ir.Value:
    """Negative indices wrap around ``size`` (constants are folded here)."""
    t = const_tensor(g, idx)
    if t is not None and isinstance(size, int):
        return g.constant(torch.where(t < 0, t + size, t).to(torch.int64))
    shape = g.shape(idx)
    idx = g.set_type(cast(g, idx, torch.int64), shape=shape)
    if t is not None and bool((t >= 0).all()):
        return idx
    size_v = as_i64(g, size)
    shift = g.op("Cast", forms.is_negative(g, idx), to_i=onnx_type(torch.int64))
    out = g.op("Add", idx, g.op("Mul", shift, size_v))
    return g.set_type(out, shape=shape)


def flatten_all(g, x) -> ir.Value:
    return rs(g, x, [-1])


def rs(g, x, shape: Sequence[int]) -> ir.Value:
    """Reshape to a static ``shape`` as PyTorch reads it (a 0 is an empty dim, at most one -1);
    when ``x``'s shape is static the result's is declared (see ``helpers.reshape``)."""
    return reshape(g, x, list(shape), allowzero=True)


def broadcast_shapes(shapes: Sequence[Sequence]) -> list:
    """NumPy broadcasting of shapes whose dims are ints or names of dynamic dims."""
    rank = max((len(s) for s in shapes), default=0)
    out: list = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        names = [d for d in dims if not isinstance(d, int)]
        big = [d for d in dims if isinstance(d, int) and d != 1]
        out.append(big[0] if big else (names[0] if names else 1))
    return out


def gather_table(g, x, table: torch.Tensor, axis: int) -> ir.Value:
    """``Gather`` with a constant index table (the workhorse of static rearrangements)."""
    return g.op("Gather", x, g.constant(table.to(torch.int64)), axis_i=axis)


def elements_linear_index(g, index, dim: int, x_shape: Sequence[int]) -> ir.Value:
    """Flat offsets into ``x`` (static shape) of ``x[i0..index[i]..in]`` for every element of ``index``.

    ``index`` must have a static shape; it is how ``gather``/``scatter`` along ``dim`` are composed
    with a plain ``Gather`` on the flattened tensor where the element-wise ops do not exist.
    """
    ishape = g.static_shape(index)
    rank = len(x_shape)
    strides = [1] * rank
    for i in range(rank - 2, -1, -1):
        strides[i] = strides[i + 1] * x_shape[i + 1]
    offsets = torch.zeros(ishape, dtype=torch.int64)
    for d in range(rank):
        if d == dim:
            continue
        shape = [1] * rank
        shape[d] = ishape[d]
        offsets = offsets + torch.arange(ishape[d]).reshape(shape) * strides[d]
    idx = normalize_index(g, index, x_shape[dim])
    scaled = g.op("Mul", idx, g.constant(strides[dim], torch.int64))
    return g.set_type(g.op("Add", scaled, g.constant(offsets)), shape=list(ishape))


def dense_scatter(g, flat_x, flat_idx, flat_src, count: int, reduce: str, include_self: bool = True):
    """Scatter ``flat_src`` into ``flat_x`` (both 1-D) at ``flat_idx`` with ``reduce``.

    A composition for opsets without ScatterElements/ScatterND reductions: a [N, count] match
    matrix says which source element lands where; sums are a MatMul, the other reductions a
    masked ReduceX over the sources. Quadratic in memory, exact, and handles duplicates.

    ``reduce="none"`` (the last writer wins) only moves elements, so it takes every dtype.
    Integers reduce in int64 (:func:`_dense_reduce_int`): the narrow ones have no
    Mul/Add/Where/ReduceX at these opsets, and float64 would round int64 beyond 2**53.
    """
    dt = g.dtype(flat_x)
    pos = g.constant(torch.arange(count, dtype=torch.int64).reshape(1, count))
    match = g.op("Equal", unsqueeze(g, flat_idx, [1]), pos)  # [N, count]
    hit_f = reduce_any(g, match, 0)
    src_col = unsqueeze(g, flat_src, [1])
    if reduce == "none":
        # the last writer wins, like a sequential scatter
        n = g.static_shape(flat_idx)[0]
        order = g.constant(torch.arange(1, n + 1, dtype=torch.float32).reshape(n, 1))
        score = g.op("Mul", g.op("Cast", match, to_i=onnx_type(torch.float32)),
                     order)
        last = g.op("ArgMax", score, axis_i=0, keepdims_i=0)
        return _select_flat(g, hit_f, flat_src, last, flat_x, count)
    if not dt.is_floating_point:
        return _dense_reduce_int(g, flat_x, match, hit_f, flat_idx, flat_src, count, reduce, include_self)
    if reduce in ("sum", "add", "mean"):
        work = dt
        m = g.op("Cast", match, to_i=onnx_type(work))
        src_w = cast(g, flat_src, work)
        total = squeeze(g, g.op("MatMul", unsqueeze(g, src_w, [0]), m), [0])
        if reduce == "mean":
            cnt = squeeze(g, g.op("MatMul", g.constant(torch.ones(1, g.static_shape(flat_idx)[0], dtype=work)),
                                  m), [0])
            if include_self:
                total = g.op("Add", total, cast(g, flat_x, work))
                cnt = g.op("Add", cnt, g.constant(1, work))
            # max(cnt, 1) without Max's broadcasting (opset 8): add 1 where nothing landed
            empty = g.op("Less", cnt, g.constant(0.5, work))
            cnt = g.op("Add", cnt, g.op("Cast", empty, to_i=onnx_type(work)))
            mean = g.op("Div", total, cnt)
            return where(g, hit_f, mean, flat_x, dt)
        if include_self:
            return g.op("Add", flat_x, total)
        return where(g, hit_f, total, flat_x, dt)
    ident = _identity(reduce, dt)
    if reduce in ("amax", "amin"):
        ident = forms.blend_safe_constant(g, ident, dt)
    op_type = {"prod": "ReduceProd", "multiply": "ReduceProd", "amax": "ReduceMax", "amin": "ReduceMin"}[reduce]
    masked = where(g, match, src_col, g.constant(ident, dt), dt)
    from .forms import reduce as reduce_op

    if include_self and op_type != "ReduceProd":
        # x joins the reduction as one more row (onnxruntime's Max-6/Min-6 take only float32)
        masked = g.op("Concat", masked, unsqueeze(g, flat_x, [0]), axis_i=0)
        return reduce_op(g, op_type, masked, [0], False, dt)
    red = reduce_op(g, op_type, masked, [0], False, dt)
    if include_self:
        combine = {"ReduceProd": "Mul", "ReduceMax": "Max", "ReduceMin": "Min"}[op_type]
        return g.op(combine, flat_x, red)
    return where(g, hit_f, red, flat_x, dt)


def _select_flat(g, hit, src, pick, base, count: int):
    """``src[pick[i]]`` where ``hit[i]``, else ``base[i]`` (1-D, ``count`` long), for any dtype:
    one Gather from ``Concat(base, src)`` at ``i + hit[i] * (count + pick[i] - i)``, no Where
    (onnxruntime has none for int16) and no arithmetic on the values."""
    dt = g.dtype(base)
    i = g.constant(torch.arange(count, dtype=torch.int64))
    h = g.op("Cast", hit, to_i=onnx_type(torch.int64))
    jump = g.op("Sub", g.op("Add", pick, g.constant(count, torch.int64)), i)
    index = g.op("Add", i, g.op("Mul", h, jump))
    both = g.op("Concat", base, cast(g, src, dt), axis_i=0)
    out = g.op("Gather", both, index, axis_i=0)
    return g.set_type(out, shape=[count])


def _dense_reduce_int(g, flat_x, match, hit, flat_idx, flat_src, count: int, reduce: str,
                      include_self: bool):
    """:func:`dense_scatter`'s reductions of integers, computed in int64 and cast back.

    int64 arithmetic is exact and wraps like PyTorch's; the cast back to a narrower dtype keeps
    the low bits, which is what PyTorch's arithmetic in that dtype gives (a sum or product
    modulo 2**8 only depends on the operands modulo 2**8). Sums are a MatMul from opset 9 (ints
    from 9) and products a pairwise tree of Mul (:func:`_tree_reduce`): onnxruntime's int64
    ReduceSum/ReduceProd round beyond 2**53. ``mean`` is PyTorch's floor division of the
    wrapped sum by the count. ``amax``/``amin`` (exact ReduceMax/ReduceMin) take ``x`` into the
    reduction as one more row (``Max``/``Min`` take ints only from opset 12, ``Greater`` from 9).
    """
    from .forms import reduce as reduce_op

    dt = g.dtype(flat_x)
    i64 = torch.int64
    x = cast(g, flat_x, i64)
    src = cast(g, flat_src, i64)
    m = g.op("Cast", match, to_i=onnx_type(i64))
    n = g.static_shape(flat_idx)[0]
    if reduce in ("sum", "add", "mean"):
        total = forms.int_row_sum(g, g.op("Mul", unsqueeze(g, src, [1]), m), n, count)
        if include_self:
            total = g.op("Add", total, x)
        if reduce == "mean":
            total = cast(g, cast(g, total, dt), i64)  # the sum as PyTorch accumulates it in dt
            cnt = reduce_op(g, "ReduceSum", m, [0], False, i64)  # at most N: exact
            if include_self:
                cnt = g.op("Add", cnt, g.constant(1, i64))
            empty = g.op("Equal", cnt, g.constant(0, i64))
            cnt = g.op("Add", cnt, g.op("Cast", empty, to_i=onnx_type(i64)))
            total = _floor_div_positive(g, total, cnt)
        out = total if include_self and reduce != "mean" else where(g, hit, total, x, i64)
        return cast(g, out, dt)
    ident = _identity(reduce, i64)
    op_type = {"prod": "ReduceProd", "multiply": "ReduceProd", "amax": "ReduceMax", "amin": "ReduceMin"}[reduce]
    masked = where(g, match, unsqueeze(g, src, [1]), g.constant(ident, i64), i64)  # [N, count]
    if include_self and op_type != "ReduceProd":
        masked = g.op("Concat", masked, unsqueeze(g, x, [0]), axis_i=0)
    if op_type == "ReduceProd":
        red = tree_reduce(g, "Mul", masked, n, count)
    else:
        red = reduce_op(g, op_type, masked, [0], False, i64)
    if include_self:
        out = g.op("Mul", x, red) if op_type == "ReduceProd" else red
    else:
        out = where(g, hit, red, x, i64)
    return cast(g, out, dt)


def tree_reduce(g, op_type: str, rows, n: int, count: int):
    """``rows`` ([n, count], static) combined along axis 0 with the binary ``op_type``, exactly:
    the first half of the rows with the second, ``log2(n)`` times (an odd row waits its turn)."""
    while n > 1:
        half = n // 2
        a = slice_(g, rows, [0], [half], [0])
        b = slice_(g, rows, [n - half], [n], [0])
        out = g.op(op_type, a, b)
        if n % 2:
            out = g.op("Concat", out, slice_(g, rows, [half], [half + 1], [0]), axis_i=0)
        rows, n = g.set_type(out, shape=[half + n % 2, count]), half + n % 2
    return g.set_type(reshape(g, rows, [count]), shape=[count])


def _floor_div_positive(g, a, b):
    """``floor(a / b)`` of int64 ``a`` by a positive int64 ``b`` (Div truncates toward zero):
    one less where the remainder is negative. The remainder is smaller than ``b`` (a count
    here), so its sign is read from a float64 copy (``Less`` takes ints only from opset 9)."""
    i64 = torch.int64
    q = g.op("Div", a, b)
    r = g.op("Sub", a, g.op("Mul", q, b))
    neg = g.op("Less", cast(g, r, torch.float64), g.constant(0.0, torch.float64))
    return g.op("Sub", q, g.op("Cast", neg, to_i=onnx_type(i64)))


def _identity(reduce: str, dt: torch.dtype):
    if reduce in ("prod", "multiply"):
        return 1
    if reduce == "amax":
        return float("-inf") if dt.is_floating_point else int(torch.iinfo(dt).min)
    if reduce == "amin":
        return float("inf") if dt.is_floating_point else int(torch.iinfo(dt).max)
    return 0


def equal(g, a, b) -> ir.Value:
    """``a == b`` of values of one dtype (``forms.float_equal`` for floats, where ``Equal`` takes
    them only from opset 11)."""
    dt = g.dtype(a)
    if dt is not None and dt.is_floating_point:
        return forms.float_equal(g, a, b)
    return g.op("Equal", a, b)


def reduce_any(g, mask, axis: int) -> ir.Value:
    """Logical OR of a bool value along ``axis`` (dropped)."""
    from .forms import reduce as reduce_op

    f = g.op("Cast", mask, to_i=onnx_type(torch.float32))
    m = reduce_op(g, "ReduceMax", f, [axis], False, torch.float32)
    return g.op("Cast", m, to_i=onnx_type(torch.bool))


def identity_of(reduce: str, dt: torch.dtype):
    return _identity(reduce, dt)


# -- advanced indexing (x[i0, :, i2] and x[mask]) ---------------------------------------------
def expand_masks(g, indices: Sequence) -> list:
    """Bool mask indices become one long index per masked dim (NonZero; static masks fold)."""
    out: list = []
    for idx in indices:
        if idx is None or g.dtype(idx) not in (torch.bool, torch.uint8):
            out.append(idx)
            continue
        t = const_tensor(g, idx)
        if t is not None:
            out.extend(g.constant(c) for c in torch.nonzero(t.bool(), as_tuple=True))
            continue
        forms.require(g, "NonZero", "indexing with a dynamic bool mask")
        nz = g.op("NonZero", idx)
        for k in range(g.rank(idx)):
            v = g.op("Gather", nz, g.constant(k, torch.int64), axis_i=0)
            out.append(g.set_type(v, shape=[f"nonzero_{id(nz)}"]))
    return out


class Linear:
    """``x`` with its indexed dims moved to the front and merged, and the merged index ``L``.

    ``flat``: ``x`` reshaped to ``[P, *rest]``; ``index``: the broadcast linear index (shape B);
    ``front``: whether PyTorch puts the B dims first (non-adjacent indices, or starting at 0);
    ``out_perm``: the transpose from ``[*B, *rest]`` to PyTorch's result layout.
    """

    def __init__(self, g, x, indices: Sequence):
        indices = list(indices) + [None] * (g.rank(x) - len(indices))
        pairs = [(d, i) for d, i in enumerate(indices) if i is not None]
        self.dims = [d for d, _ in pairs]
        self.rank = g.rank(x)
        self.sizes = sizes(g, x)
        adjacent = self.dims == list(range(self.dims[0], self.dims[-1] + 1))
        self.p = self.dims[0] if adjacent else 0
        self.xt, self.perm = move_dims_front(g, x, self.dims)
        self.rest = [self.sizes[d] for d in range(self.rank) if d not in self.dims]
        lin, stride = None, 1
        for d, idx in reversed(pairs):
            term = normalize_index(g, idx, self.sizes[d])
            if not (isinstance(stride, int) and stride == 1):
                term = g.op("Mul", term, as_i64(g, stride))
            lin = term if lin is None else g.op("Add", term, lin)
            stride = size_product(g, [stride, self.sizes[d]])
        self.index = g.set_type(lin, shape=broadcast_shapes([g.shape(i) for _, i in pairs]))
        self.count = stride  # P
        self.nb = max(g.rank(i) for _, i in pairs)
        # the merged size is named, not -1: a -1 beside an empty dim of ``rest`` cannot be inferred
        self.flat = (reshape(g, self.xt, [self.count] + self.rest, allowzero=True) if len(self.dims) > 1
                     else self.xt)
        nr = len(self.rest)
        self.out_perm = ([self.nb + j for j in range(self.p)] + list(range(self.nb))
                         + [self.nb + j for j in range(self.p, nr)])

    def b_sizes(self, g) -> list:
        return sizes(g, self.index)

    def result_sizes(self, g) -> list:
        b = self.b_sizes(g)
        return self.rest[:self.p] + b + self.rest[self.p:]

    def unflatten(self, g, flat):
        """Back from ``[P, *rest]`` to ``x``'s layout."""
        if len(self.dims) > 1:
            flat = reshape(g, flat, [self.sizes[d] for d in self.dims] + self.rest, allowzero=True)
        return transpose(g, flat, inverse(self.perm))


def index_gather(g, x, indices: Sequence):
    """``x[indices]`` (PyTorch advanced indexing, indices already free of bool masks)."""
    lin = Linear(g, x, indices)
    out = g.op("Gather", lin.flat, lin.index, axis_i=0)
    return transpose(g, out, lin.out_perm)


def index_scatter(g, x, indices: Sequence, values, accumulate: bool):
    """``x[indices] = values`` (or ``+=``): ScatterND from opset 11 (its add from 16), dense below."""
    dt = g.dtype(x)
    x_shape = g.static_shape(x)
    if x_shape is not None and numel(x_shape) == 0:  # nothing to write into
        return x
    lin = Linear(g, x, indices)
    vals = cast(g, values, dt)
    target = lin.result_sizes(g)
    if list(g.shape(vals) or ()) != list(target) or not all(isinstance(s, int) for s in target):
        static = all(isinstance(s, int) for s in target)
        vals = expand_to(g, vals, list(target) if static else int_list(g, target))
    vals = transpose(g, vals, inverse(lin.out_perm))
    n_rest = len(lin.rest)
    n_vals = size_product(g, lin.b_sizes(g))  # named, not -1: ``rest`` may hold an empty dim
    vals = reshape(g, vals, [n_vals] + lin.rest, allowzero=True)
    flat_index = rs(g, lin.index, [-1, 1])
    return forms.scatter_nd(g, lin.flat, flat_index, vals, accumulate,
                            finish=lambda out: lin.unflatten(g, out),
                            stand_in=lambda: _dense_index_put(g, lin, vals, flat_index, accumulate, n_vals))


def _dense_index_put(g, lin, vals, flat_index, accumulate: bool, n_vals):
    """:func:`index_scatter` without ScatterND (before opset 11, or 16 to accumulate): a one-hot
    ``[N, P]`` match of the flat positions, applied by MatMul (accumulate) or by the last
    writer's Gather and a Where; the indexed dims must be static."""
    dt = g.dtype(vals)
    n_rest = len(lin.rest)
    if not isinstance(lin.count, int):
        raise NotImplementedError("index_put over a dynamic dim needs opset 11 (16 to accumulate)")
    work = dt if dt.is_floating_point else torch.float64
    rest_n = size_product(g, lin.rest) if n_rest else 1
    if isinstance(rest_n, int):
        x2 = reshape(g, cast(g, lin.xt, work), [lin.count, rest_n], allowzero=True)
        v2 = reshape(g, cast(g, vals, work), [n_vals, rest_n], allowzero=True)
    else:
        x2 = reshape(g, cast(g, lin.xt, work), [lin.count, -1])
        v2 = reshape(g, cast(g, vals, work), [-1, dim_size(g, x2, 1)])
    pos = g.constant(torch.arange(lin.count, dtype=torch.int64).reshape(1, -1))
    match = g.op("Equal", flat_index, pos)  # [N, P]
    m = g.op("Cast", match, to_i=onnx_type(work))
    if accumulate:
        upd = g.op("MatMul", g.op("Transpose", m, perm_is=[1, 0]), v2)  # [P, R]
        out = g.op("Add", x2, upd)
    else:
        # the last writer wins, as in PyTorch's sequential kernel
        n = dim_size(g, flat_index, 0)
        order = g.op("Add", unsqueeze(g, cast(g, arange(g, n, torch.int64), work), [1]),
                     g.constant(1.0, work))
        last = g.op("ArgMax", g.op("Mul", m, order), axis_i=0, keepdims_i=0)
        upd = g.op("Gather", v2, last, axis_i=0)
        hit = unsqueeze(g, reduce_any(g, match, 0), [1])
        out = where(g, hit, upd, x2, work)
    out = cast(g, out, dt)
    out = reshape(g, out, [lin.sizes[d] for d in lin.dims] + lin.rest, allowzero=True)
    return transpose(g, out, inverse(lin.perm))


# -- size arithmetic on ints and 0-d int64 values ------------------------------------------------
def size_add(g, a: int | ir.Value, b: int | ir.Value) -> int | ir.Value:
    """``a + b``: folded when both are ints, else an int64 ``Add``."""
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    if isinstance(b, int) and b == 0:
        return a
    if isinstance(a, int) and a == 0:
        return b
    return g.op("Add", as_i64(g, a), as_i64(g, b))


def size_sub(g, a: int | ir.Value, b: int | ir.Value) -> int | ir.Value:
    """``a - b``: folded when both are ints, else an int64 ``Sub``."""
    if isinstance(a, int) and isinstance(b, int):
        return a - b
    if isinstance(b, int) and b == 0:
        return a
    return g.op("Sub", as_i64(g, a), as_i64(g, b))


def size_times(g, a: int | ir.Value, k: int) -> int | ir.Value:
    """``a * k`` for a size ``a`` and an int ``k``: folded for an int, else an int64 ``Mul``."""
    if isinstance(a, int):
        return a * k
    if k == 1:
        return a
    return g.op("Mul", as_i64(g, a), g.constant(k, torch.int64))


def size_ceil_div(g, a: int | ir.Value, b: int) -> int | ir.Value:
    """``ceil(a / b)`` for a size ``a >= 0`` and a positive int ``b`` (int64 ``Div`` truncates)."""
    if isinstance(a, int):
        return -(-a // b)
    if b == 1:
        return a
    return g.op("Div", as_i64(g, size_add(g, a, b - 1)), g.constant(b, torch.int64))


def _clamp_low(g, v: ir.Value, lo: int | ir.Value) -> ir.Value:
    """``max(v, lo)`` on int64: ``Max`` takes ints from opset 12, ``Where`` stands in before."""
    lo_v = as_i64(g, lo)
    return forms.minmax_int(g, "Max", v, lo_v)


def _clamp_high(g, v: ir.Value, hi: int | ir.Value) -> ir.Value:
    """``min(v, hi)`` on int64 (``Min`` with ints from opset 12, ``Where`` before)."""
    hi_v = as_i64(g, hi)
    return forms.minmax_int(g, "Min", v, hi_v)


def slice_position(g, bound: int | ir.Value, size: int | ir.Value) -> int | ir.Value:
    """The position a Python slice bound names in a dim of ``size``: negatives count from the
    end, then the result is clamped to ``[0, size]`` (how PyTorch and ONNX ``Slice`` read it).

    Ints with a static size fold; otherwise a few int64 ops (``Where`` needs opset 9).
    """
    if isinstance(bound, int) and isinstance(size, int):
        return min(max(bound + size if bound < 0 else bound, 0), size)
    if isinstance(bound, int):
        if bound >= 0:
            return _clamp_high(g, as_i64(g, bound), size)
        return _clamp_low(g, as_i64(g, size_add(g, size, bound)), 0)
    v = as_i64(g, bound)
    negative = g.op("Less", v, g.constant(0, torch.int64))
    wrapped = where(g, negative, g.op("Add", v, as_i64(g, size)), v, torch.int64)
    return _clamp_high(g, _clamp_low(g, wrapped, 0), size)


# -- splitting a dim into parts -------------------------------------------------------------------
def output_count(g) -> int | None:
    """How many tensors the op being converted returns, from PyTorch's metadata (None: unknown).

    For ``split``/``chunk`` along a dynamic dim, ``torch.export`` fixes this number with guards
    (a derived dim such as ``2*k``, or a range), so it is a safe Python int to build the graph with.
    """
    return g.out_count()


def output_dim_sizes(g, dim: int, count: int) -> list[int | str | None]:
    """Size along ``dim`` of each of the ``count`` outputs: ints, strings for symbolic sizes."""
    out = []
    for i in range(count):
        shape = g.out_shape(i)
        out.append(shape[dim] if shape is not None and dim < len(shape) else None)
    return out


def equal_parts(g, dim: int, count: int) -> bool:
    """Whether PyTorch proved all ``count`` outputs the same (symbolic) size along ``dim``."""
    sizes = output_dim_sizes(g, dim, count)
    return count > 1 and sizes[0] is not None and all(s == sizes[0] for s in sizes)


def _folded(g, v: int | ir.Value) -> int | ir.Value:
    c = const_int(g, v)
    return v if c is None else c


def split_sizes(g, x, sizes: Sequence[int | ir.Value], dim: int) -> list[ir.Value]:
    """``x`` split along ``dim`` into parts of ``sizes`` (ints, or 0-d int64 values).

    * all sizes static: the same ``Split`` as :func:`helpers.split` (no ``Shape`` node);
    * parts PyTorch proves equal: :func:`split_equal`, at every opset;
    * otherwise ``Split`` with a computed ``split`` input from opset 13, and below it one
      ``Slice`` per part, bounded by running sums: attributes suffice (opset 7) when only the
      last size is dynamic, the others need Slice's input bounds (opset 10), and
      ``NotImplementedError`` says so below 10.

    A size PyTorch knows statically for an output replaces the computed one.
    """
    known = output_dim_sizes(g, dim, len(sizes))
    sizes = [k if isinstance(k, int) else _folded(g, s) for s, k in zip(sizes, known)]
    if all(isinstance(s, int) for s in sizes):
        return list(split(g, x, sizes, dim))
    if len(sizes) == 1:
        return [x]
    if equal_parts(g, dim, len(sizes)):
        return split_equal(g, x, dim, len(sizes))
    return forms.split_dynamic(g, x, sizes, dim)


def owns_contiguous_storage(g) -> bool:
    """Whether the input PyTorch strides over is exactly its own row-major elements."""
    val = g.arg_val(0)
    if not isinstance(val, torch.Tensor):
        return False
    try:
        return (val.is_contiguous() and val.storage_offset() == 0
                and val.untyped_storage().nbytes() == val.numel() * val.element_size())
    except Exception:  # noqa: BLE001 - storage of a fake tensor may be unavailable
        return False

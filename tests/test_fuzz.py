"""Fuzzing `export()` with Hypothesis: random small graphs must export exactly or be refused.

A case is a few input tensors (random dtypes, a random shape with size-1 broadcast dims, random
dynamic axes) and a random sequence of elementwise, broadcasting, reduction, shape and indexing
ops over them, at a random opset. Each case either

* exports, passes the ONNX checker, and matches eager PyTorch in onnxruntime both at the export
  shape and at a second size of every dynamic axis (the ONNX model is fed directly), or
* raises :class:`onnxplug.UnsupportedOperatorError`.

Anything else (another exception, an invalid model, a mismatch) is a bug. The default run uses a
fixed-seed profile of ``FUZZ_EXAMPLES`` cases (default 40); the long profile
(``ONNXPLUG_FUZZ_EXAMPLES=2000`` or ``pytest -m slow tests/test_fuzz.py``) draws many more.

Cases are planned in eager PyTorch before export: an op that fails eagerly on the example or on
the second size (shape or dtype mismatch) is dropped, so every planned graph is valid PyTorch.
Discontinuous ops (floor, comparisons, argmax, casts to integer) only take operands computed
exactly (inputs are multiples of 1/4, so sums and products of them are exact in float32), so a
last-bit difference between two correct runtimes is never reported as a mismatch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import onnx
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import onnxplug
from onnxplug.verify import compare, run_onnxruntime

NEWEST = onnx.defs.onnx_opset_version()
FUZZ_EXAMPLES = int(os.environ.get("ONNXPLUG_FUZZ_EXAMPLES", "40"))
LONG_EXAMPLES = 2000
STATIC_SIZES = (1, 2, 3, 4)  # a dynamic axis is never one of these sizes
DYNAMIC_SIZES = ((5, 7), (6, 9))  # (example size, second size) of dynamic dims d0, d1
MAX_ELEMENTS = 4096
DTYPES = (torch.float32, torch.float32, torch.int64, torch.int32, torch.bool, torch.float64)


# -- the op table ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Op:
    """One op of the fuzz grammar: ``fn(a, b, p)`` with two operands and a small int parameter.

    ``exact``: the result of exact operands is exact (no rounding). ``smooth``: the op is
    continuous, so it may take inexact operands without amplifying a last-bit difference.
    """

    name: str
    fn: Callable
    exact: bool = True
    smooth: bool = True
    binary: bool = False


def _dim(t, p):
    return p % max(t.dim(), 1) if t.dim() else 0


def _safe_den(b):
    return b.abs() + 1 if b.is_floating_point() else b


def _reject():
    raise ValueError("the op does not apply to this operand")


def _nonzero(b):
    """A divisor with no zeros (a positive offset of its magnitude)."""
    return b.abs() + 1


def _squeeze(t, d):
    if t.dim() == 0 or t.shape[d] != 1:
        raise ValueError("only size-1 dims are squeezed")
    return t.squeeze(d)


def _index(t, p):
    d = _dim(t, p)
    n = t.shape[d]
    return d, torch.tensor([(p // 2) % n, 0, n - 1][: 1 + p % 3])


OPS = [
    # elementwise, unary
    Op("neg", lambda a, b, p: -a),
    Op("abs", lambda a, b, p: a.abs()),
    Op("relu", lambda a, b, p: torch.relu(a)),
    Op("square", lambda a, b, p: a * a),
    Op("sigmoid", lambda a, b, p: torch.sigmoid(a), exact=False),
    Op("tanh", lambda a, b, p: torch.tanh(a), exact=False),
    Op("exp", lambda a, b, p: torch.exp(a.clamp(-8, 8)), exact=False),
    Op("sqrt", lambda a, b, p: torch.sqrt(a.abs()), exact=False),
    Op("floor", lambda a, b, p: torch.floor(a * 0.5), smooth=False),
    Op("ceil", lambda a, b, p: torch.ceil(a * 0.5), smooth=False),
    Op("sign", lambda a, b, p: torch.sign(a), smooth=False),
    Op("clamp", lambda a, b, p: a.clamp(-1, 2)),
    Op("logical_not", lambda a, b, p: torch.logical_not(a), smooth=False),
    Op("cast_float", lambda a, b, p: a.to(torch.float32)),
    Op("cast_int", lambda a, b, p: a.to(torch.int64), smooth=False),
    Op("cast_bool", lambda a, b, p: a.to(torch.bool), smooth=False),
    # elementwise, binary with broadcasting
    Op("add", lambda a, b, p: a + b, binary=True),
    Op("sub", lambda a, b, p: a - b, binary=True),
    Op("mul", lambda a, b, p: a * b, binary=True),
    Op("div", lambda a, b, p: a / _safe_den(b), exact=False, binary=True),
    Op("maximum", lambda a, b, p: torch.maximum(a, b), binary=True),
    Op("minimum", lambda a, b, p: torch.minimum(a, b), binary=True),
    Op("gt", lambda a, b, p: a > b, smooth=False, binary=True),
    Op("eq", lambda a, b, p: a == b, smooth=False, binary=True),
    Op("where", lambda a, b, p: torch.where(a > 0, a, b), smooth=False, binary=True),
    Op("remainder", lambda a, b, p: torch.remainder(a, _nonzero(b)), smooth=False, binary=True),
    Op("floor_divide", lambda a, b, p: torch.floor_divide(a, _nonzero(b)), smooth=False,
       binary=True),
    Op("pow2", lambda a, b, p: a ** 2),
    Op("logical_and", lambda a, b, p: torch.logical_and(a, b), smooth=False, binary=True),
    Op("bitwise_and", lambda a, b, p: a & b, binary=True),
    Op("clamp_min_tensor", lambda a, b, p: torch.clamp(a, min=b), binary=True),
    Op("masked_fill", lambda a, b, p: a.masked_fill(b > 0, p % 3), binary=True),
    Op("matmul", lambda a, b, p: a @ b.transpose(-1, -2), binary=True),
    Op("add_scalar", lambda a, b, p: a + (p % 5 - 2)),
    Op("mul_scalar", lambda a, b, p: a * (p % 3 + 0.5)),
    # reductions
    Op("sum", lambda a, b, p: a.sum(dim=_dim(a, p), keepdim=bool(p & 8))),
    Op("sum_all", lambda a, b, p: a.sum()),
    Op("mean", lambda a, b, p: a.mean(dim=_dim(a, p), keepdim=bool(p & 8)), exact=False),
    Op("amax", lambda a, b, p: a.amax(dim=_dim(a, p), keepdim=bool(p & 8))),
    Op("amin", lambda a, b, p: a.amin(dim=_dim(a, p), keepdim=bool(p & 8))),
    Op("argmax", lambda a, b, p: a.argmax(dim=_dim(a, p), keepdim=bool(p & 8)), smooth=False),
    Op("any", lambda a, b, p: (a != 0).any(dim=_dim(a, p)), smooth=False),
    Op("cumsum", lambda a, b, p: a.cumsum(dim=_dim(a, p))),
    Op("prod", lambda a, b, p: a.prod(dim=_dim(a, p))),
    Op("max_dim", lambda a, b, p: a.max(dim=_dim(a, p), keepdim=bool(p & 8)).values),
    Op("min_dim_indices", lambda a, b, p: a.min(dim=_dim(a, p)).indices, smooth=False),
    Op("softmax", lambda a, b, p: torch.softmax(a, dim=_dim(a, p)), exact=False),
    Op("log_softmax", lambda a, b, p: torch.log_softmax(a, dim=_dim(a, p)), exact=False),
    Op("logsumexp", lambda a, b, p: torch.logsumexp(a, dim=_dim(a, p)), exact=False),
    Op("var", lambda a, b, p: a.var(dim=_dim(a, p)), exact=False),
    Op("sort", lambda a, b, p: a.sort(dim=_dim(a, p), descending=bool(p & 8)).values),
    Op("topk", lambda a, b, p: a.topk(1, dim=_dim(a, p)).values),
    # shape ops
    Op("transpose", lambda a, b, p: a.transpose(_dim(a, p), _dim(a, p // 4))),
    Op("unsqueeze", lambda a, b, p: a.unsqueeze(p % (a.dim() + 1))),
    Op("squeeze", lambda a, b, p: _squeeze(a, _dim(a, p))),
    Op("flatten", lambda a, b, p: a.flatten()),
    Op("reshape", lambda a, b, p: a.reshape(a.shape[0], -1) if a.dim() > 1 else a.reshape(-1, 1)),
    Op("permute", lambda a, b, p: a.permute(*reversed(range(a.dim())))),
    Op("cat", lambda a, b, p: torch.cat([a, b], dim=_dim(a, p)), binary=True),
    Op("stack", lambda a, b, p: torch.stack([a, b], dim=p % (a.dim() + 1)), binary=True),
    Op("expand", lambda a, b, p: a.expand_as(b), binary=True),
    # indexing
    Op("slice", lambda a, b, p: a.narrow(_dim(a, p), 1, a.shape[_dim(a, p)] - 1)),
    Op("slice_step", lambda a, b, p: a[(slice(None),) * _dim(a, p) + (slice(None, None, 2),)]),
    Op("select", lambda a, b, p: a.select(_dim(a, p), -1 if p & 16 else 0)),
    Op("index_select", lambda a, b, p: a.index_select(*_index(a, p))),
    Op("flip", lambda a, b, p: a.flip(_dim(a, p))),
    Op("roll", lambda a, b, p: a.roll(1 + p % 2, _dim(a, p))),
    Op("tril", lambda a, b, p: a.tril(p % 3 - 1)),
    Op("repeat", lambda a, b, p: a.repeat(*([1] * (a.dim() - 1)), 2)),
    Op("gather_argmax", lambda a, b, p: a.gather(_dim(a, p), a.argmax(_dim(a, p), keepdim=True)),
       smooth=False),
    Op("chunk", lambda a, b, p: a.chunk(2, dim=_dim(a, p))[p % 2]),
    Op("half_slice", lambda a, b, p: a.narrow(_dim(a, p), 0, max(a.shape[_dim(a, p)] // 2, 1))),
    Op("view_2d", lambda a, b, p: a.view(a.shape[0], -1) if a.dim() else a.view(1, 1)),
    Op("index_tensor", lambda a, b, p: a[torch.tensor([0, -1])] if a.dim() else a),
    Op("pad", lambda a, b, p: torch.nn.functional.pad(a, (1, p % 2)) if a.dim() else _reject()),
    # creation ops that read shapes
    Op("arange_add", lambda a, b, p: a + torch.arange(a.shape[-1]) if a.dim() else _reject()),
    Op("ones_like", lambda a, b, p: torch.ones_like(a) + a),
    Op("full_like", lambda a, b, p: torch.full_like(a, p % 4)),
    Op("new_zeros", lambda a, b, p: a.new_zeros(a.shape[0], 2) if a.dim() else _reject()),
    Op("sum_dims", lambda a, b, p: a.sum(dim=(0, -1)) if a.dim() > 1 else a.sum()),
    Op("getitem_neg", lambda a, b, p: a[..., -1:]),
]
OP_BY_NAME = {op.name: op for op in OPS}


# -- cases -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """A planned fuzz case: everything needed to rebuild and replay it."""

    opset: int
    base: tuple[int, ...]  # per axis: a static size, or -1 / -2 for dynamic dims d0 / d1
    inputs: tuple[tuple[str, tuple[int, ...]], ...]  # (dtype name, shape with 1s for broadcast)
    plan: tuple[tuple[str, int, int, int], ...]  # (op name, operand a, operand b, parameter)
    outputs: tuple[int, ...]  # pool indices returned by forward
    seed: int

    def describe(self) -> str:
        ops = ", ".join(f"{n}(v{a},v{b},p={p})" for n, a, b, p in self.plan)
        return (f"opset {self.opset}, base {self.base}, inputs {self.inputs}, ops [{ops}], "
                f"outputs {self.outputs}")


def _shape(dims: tuple[int, ...], second: bool) -> tuple[int, ...]:
    return tuple(DYNAMIC_SIZES[-d - 1][second] if d < 0 else d for d in dims)


def make_inputs(case: Case, second: bool) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(case.seed + second)
    out = []
    for dtype_name, dims in case.inputs:
        dtype = getattr(torch, dtype_name)
        shape = _shape(dims, second)
        q = torch.randint(-8, 9, shape, generator=gen)
        out.append(q > 0 if dtype == torch.bool else (q / 4 if dtype.is_floating_point else q)
                   .to(dtype))
    return tuple(out)


def replay(case: Case, inputs) -> list[torch.Tensor]:
    pool = list(inputs)
    for name, a, b, p in case.plan:
        pool.append(OP_BY_NAME[name].fn(pool[a], pool[b], p))
    return [pool[i] for i in case.outputs]


class Replay(torch.nn.Module):
    """The case as a module: ``forward`` runs the planned ops (a static, traceable sequence)."""

    def __init__(self, case: Case):
        super().__init__()
        self.case = case

    def forward(self, *inputs):
        return tuple(replay(self.case, inputs))


def _plan(opset, base, inputs, raw_ops, n_out, seed) -> Case:
    """Keep the ops that run eagerly at both sizes and respect the exactness rule."""
    case = Case(opset, base, inputs, (), (), seed)
    pools = [list(make_inputs(case, False)), list(make_inputs(case, True))]
    exact = [True] * len(inputs)
    plan = []
    for name, ia, ib, p in raw_ops:
        op = OP_BY_NAME[name]
        a, b = ia % len(exact), ib % len(exact)
        if not op.smooth and not (exact[a] and (exact[b] or not op.binary)):
            continue
        try:
            results = [op.fn(pool[a], pool[b], p) for pool in pools]
        except (RuntimeError, IndexError, ValueError, ZeroDivisionError, TypeError):
            continue
        r0, r1 = results
        if (not isinstance(r0, torch.Tensor) or r0.numel() > MAX_ELEMENTS
                or r1.numel() > MAX_ELEMENTS or r0.dtype != r1.dtype or r0.dim() != r1.dim()
                or r0.numel() == 0):
            continue
        if r0.dtype.is_floating_point and not bool(torch.isfinite(r0).all()):
            continue
        for pool, r in zip(pools, results):
            pool.append(r)
        exact.append(op.exact and exact[a] and (exact[b] or not op.binary))
        plan.append((name, a, b, p))
    n = len(exact)
    outputs = tuple(sorted({n - 1, *(n - 1 - k for k in range(1, n_out) if n - 1 - k >= 0)}))
    return Case(opset, base, inputs, tuple(plan), outputs, seed)


@st.composite
def cases(draw) -> Case:
    rank = draw(st.integers(1, 3))
    base = []
    n_dynamic = 0
    for _ in range(rank):
        if n_dynamic < 2 and draw(st.integers(0, 2)) == 0:
            n_dynamic += 1
            base.append(-n_dynamic)
        else:
            base.append(draw(st.sampled_from(STATIC_SIZES[1:])))
    n_inputs = draw(st.integers(1, 3))
    inputs = []
    for _ in range(n_inputs):
        dtype = draw(st.sampled_from(DTYPES))
        dims = tuple(1 if d > 1 and draw(st.integers(0, 3)) == 0 else d for d in base)
        inputs.append((str(dtype).removeprefix("torch."), dims))
    raw = draw(st.lists(st.tuples(st.sampled_from([op.name for op in OPS]), st.integers(0, 63),
                                  st.integers(0, 63), st.integers(0, 63)),
                        min_size=2, max_size=10))
    opset = draw(st.integers(7, NEWEST))
    case = _plan(opset, tuple(base), tuple(inputs), raw, draw(st.integers(1, 2)),
                 draw(st.integers(0, 2**16)))
    assume(case.plan)
    return case


# -- running a case ----------------------------------------------------------------------------

def export_options(case: Case) -> dict:
    names = [f"in{i}" for i in range(len(case.inputs))]
    axes = {}
    for name, (_, dims) in zip(names, case.inputs):
        dyn = {axis: f"d{-d - 1}" for axis, d in enumerate(dims) if d < 0}
        if dyn:
            axes[name] = dyn
    return {"opset_version": case.opset, "input_names": names, "dynamic_axes": axes or None}


def run_case(case: Case) -> str:
    """Export the case and compare; returns "exported" or "unsupported", raises on a bug."""
    model = Replay(case)
    example, second = make_inputs(case, False), make_inputs(case, True)
    try:
        result = onnxplug.export(model, example, None, **export_options(case))
    except onnxplug.UnsupportedOperatorError:
        return "unsupported"
    onnx.checker.check_model(result.model, full_check=True)
    sizes = [example] + ([second] if any(d < 0 for d in case.base) else [])
    for inputs in sizes:
        with torch.no_grad():
            expected = replay(case, inputs)
        compare(expected, run_onnxruntime(result.model, list(inputs)), rtol=1e-4, atol=1e-5)
    return "exported"


# -- known bugs: each one avoided by the fixed-seed profile, and reproduced by a strict xfail ---

KNOWN_BUGS: dict[str, Callable[[Case], bool]] = {}


def _known(case: Case) -> str | None:
    for name, matches in KNOWN_BUGS.items():
        if matches(case):
            return name
    return None


FUZZ_SETTINGS = dict(deadline=None, database=None, derandomize=True, print_blob=True,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                            HealthCheck.data_too_large])


def _fuzz(case: Case) -> None:
    assume(_known(case) is None)
    try:
        run_case(case)
    except Exception as exc:
        raise AssertionError(f"fuzz case failed: {case.describe()}\n{type(exc).__name__}: "
                             f"{exc}") from exc


@settings(max_examples=FUZZ_EXAMPLES, **FUZZ_SETTINGS)
@given(case=cases())
def test_random_graphs_export_exactly_or_are_refused(case):
    _fuzz(case)


@pytest.mark.slow
@settings(max_examples=LONG_EXAMPLES, **{**FUZZ_SETTINGS, "derandomize": False})
@given(case=cases())
def test_random_graphs_long_profile(case):
    _fuzz(case)


def test_the_grammar_covers_every_op_family():
    """Each op of the table runs eagerly on a sample and is reachable by the strategy."""
    a, b = torch.arange(12.0).reshape(3, 4) / 4, torch.ones(3, 4)
    ran = []
    for op in OPS:
        try:
            op.fn(a, b, 5)
            ran.append(op.name)
        except (RuntimeError, ValueError, IndexError):
            pass
    assert {"add", "sum", "transpose", "index_select", "where", "cat"} <= set(ran)
    assert len(ran) >= len(OPS) - 2


def test_a_planned_case_replays_identically():
    case = _plan(17, (-1, 3), (("float32", (-1, 3)), ("int64", (-1, 1))),
                 [("add", 0, 1, 0), ("sum", 2, 0, 1), ("mul", 2, 0, 0)], 2, 7)
    assert [name for name, *_ in case.plan] == ["add", "sum", "mul"]
    for second in (False, True):
        outs = replay(case, make_inputs(case, second))
        assert [tuple(o.shape) for o in outs] == [(7 if second else 5,), ((7 if second else 5), 3)]
    assert run_case(case) == "exported"


# -- bugs the fuzzer found, fixed: each replayed at the export shape and at a second size ------

REGRESSIONS = {
    # flatten() over a dynamic dim followed by static ones multiplied the -1 placeholder of the
    # dynamic size by the static sizes: Reshape to [-2], which the checker rejects (opset 7+).
    "flatten-dynamic-then-static": Case(17, (-1, 2), (("float32", (-1, 2)),),
                                        (("flatten", 0, 0, 0),), (1,), 0),
    "flatten-static-dynamic-static": Case(21, (2, -1, 2), (("float64", (2, -1, 2)),),
                                          (("flatten", 0, 0, 0),), (1,), 1),
    # int64 topk has no conversion at opset 8; the constant-index Gather after it was then
    # "folded" with the missing value (None) and crashed with a RuntimeError from PyTorch
    # instead of reporting the unsupported op.
    "fold-after-unsupported-op": Case(8, (-1, 2), (("int64", (-1, 2)),),
                                      (("topk", 0, 0, 2), ("index_tensor", 1, 0, 48)), (2,), 0),
    # var over a dynamic axis divides by max(0, N - correction), computed with Max in x's
    # dtype: onnxruntime has no double kernel for Max-6/7, so float64 failed at opsets 7 and 8.
    "var-float64-dynamic-opset7": Case(7, (-1,), (("float64", (-1,)),), (("var", 0, 0, 0),),
                                       (1,), 0),
    # clamp of float64 below opset 12 emitted Clip, which onnxruntime implements only for
    # float32 there: "Could not find an implementation for Clip(6)". Now declined, so PyTorch's
    # decomposition (maximum/minimum, from opset 9) is exported, and at 7-8 it is unsupported.
    "clamp-float64-opset7": Case(7, (-1, 3), (("float64", (-1, 3)),), (("clamp", 0, 0, 0),),
                                 (1,), 0),
    "clamp-float64-opset9": Case(9, (-1, 3), (("float64", (-1, 3)),),
                                 (("exp", 0, 0, 0), ("clamp", 1, 0, 0)), (2,), 0),
}
EXPECTED = {"fold-after-unsupported-op": "unsupported",
            "clamp-float64-opset7": "unsupported"}


@pytest.mark.parametrize("name", REGRESSIONS)
def test_fuzz_regressions(name):
    assert run_case(REGRESSIONS[name]) == EXPECTED.get(name, "exported")

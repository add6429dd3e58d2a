"""OpInfo samples as small modules: the shared input of the coverage sweep and its fast test.

Each case wraps one OpInfo sample (``op(input, *args, **kwargs)``) in an ``nn.Module`` whose
inputs are the sample's tensors, wherever they sit (top level, in a tensor list such as ``cat``'s,
or in a keyword argument such as ``weight=``); every other argument is a constant of the module.

Samples are generated under a seed derived from the op's name, so every process (one per
exporter and opset in the sweep) sees the same inputs. Samples whose eager run fails are skipped
and the next one is taken: an exporter cannot be blamed for an input PyTorch itself rejects.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils import _pytree as pytree


@functools.lru_cache(maxsize=1)
def op_db() -> list:
    from torch.testing._internal.common_methods_invocations import op_db as db

    return list(db)


def op_name(info: Any) -> str:
    return info.name + (f".{info.variant_test_name}" if info.variant_test_name else "")


class OpModule(torch.nn.Module):
    """Calls ``fn`` with the sample's structure, taking its tensors as module inputs.

    ``spec`` is the pytree spec of ``(args, kwargs)``; ``consts`` holds the non-tensor leaves
    (None where a tensor input goes), so lists of tensors and tensor kwargs become inputs too.
    """

    def __init__(self, fn: Any, spec: Any, consts: list):
        super().__init__()
        self.fn, self.spec, self.consts = fn, spec, consts

    def forward(self, *tensors: torch.Tensor) -> Any:
        it = iter(tensors)
        leaves = [next(it) if c is _TENSOR else c for c in self.consts]
        args, kwargs = pytree.tree_unflatten(leaves, self.spec)
        return self.fn(*args, **kwargs)


class _TensorSlot:
    """Marks where a tensor input goes; stays one object through copies and pickling."""

    def __repr__(self) -> str:
        return "<tensor input>"

    def __copy__(self) -> _TensorSlot:
        return self

    def __deepcopy__(self, memo: dict) -> _TensorSlot:
        return self

    def __reduce__(self) -> str:
        return "_TENSOR"


_TENSOR = _TensorSlot()


@dataclass
class Case:
    op: str
    index: int
    module: OpModule
    inputs: tuple


def seed_for(name: str) -> int:
    """A stable per-op seed, the same in every process and run."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def make_case(info: Any, name: str, index: int, sample: Any) -> Case:
    leaves, spec = pytree.tree_flatten(((sample.input, *sample.args), dict(sample.kwargs)))
    consts = [_TENSOR if isinstance(x, torch.Tensor) else x for x in leaves]
    tensors = tuple(x for x in leaves if isinstance(x, torch.Tensor))
    return Case(name, index, OpModule(info.op, spec, consts), tensors)


def eager_ok(case: Case) -> bool:
    """Whether PyTorch itself runs the sample (on copies, in case the op writes its inputs)."""
    try:
        with torch.no_grad():
            case.module(*[t.clone() for t in case.inputs])
        return True
    except Exception:  # noqa: BLE001 - any eager failure disqualifies the sample
        return False


# Ops whose outputs are uninitialised memory: only their shape and dtype can be compared.
UNDEFINED_VALUES = frozenset({"empty", "empty_like", "empty_permuted", "empty_strided", "new_empty",
                              "new_empty_strided"})

# Per op name: how many samples op_cases skipped because their output depends on the RNG.
RANDOM_SKIPPED: dict[str, int] = {}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and a.dtype == b.dtype and bool(
            torch.equal(a, b) or (a.is_floating_point() and torch.equal(a.isnan(), b.isnan())
                                  and torch.equal(a.nan_to_num(0.0), b.nan_to_num(0.0))))
    return type(a) is type(b) and (a == b or a != a and b != b)


def is_random(case: Case) -> bool:
    """Whether the sample's output depends on the random generator (dropout in training mode,
    bernoulli, rrelu with training=True...): eager runs under different seeds disagree (four
    seeds, so that a tiny output whose few random draws happen to agree is still caught). No exporter
    can be compared with such a sample. The generator's state is restored afterwards, so the
    samples drawn after this one do not change."""
    state, manual_seed = torch.get_rng_state(), torch.manual_seed
    try:
        outs = []
        for shift in (1, 2, 3, 4):
            # OpInfo wraps random ops in wrapper_set_seed (torch.manual_seed(42) before each call):
            # shift every seed so the two runs really draw different numbers.
            torch.manual_seed = lambda seed, _shift=shift: manual_seed(seed + _shift)
            torch.manual_seed(0)
            with torch.no_grad():
                outs.append(pytree.tree_leaves(case.module(*[t.clone() for t in case.inputs])))
    finally:
        torch.manual_seed = manual_seed
        torch.set_rng_state(state)
    first = outs[0]
    try:
        return any(len(o) != len(first) or not all(_same(a, b) for a, b in zip(first, o)) for o in outs[1:])
    except (RuntimeError, TypeError):  # outputs that cannot be compared here (sparse, complex32)
        return False


def op_cases(info: Any, samples: int = 3, dtype: torch.dtype = torch.float32,
             max_tries: int = 12) -> list[Case]:
    """The first ``samples`` samples of one op that eager PyTorch runs and that do not depend on
    the random generator (counted in ``RANDOM_SKIPPED``); [] if none or the dtype is unsupported."""
    name = op_name(info)
    if dtype not in info.supported_dtypes("cpu"):
        return []
    torch.manual_seed(seed_for(name))
    taken: list[Case] = []
    try:
        for tried, s in enumerate(info.sample_inputs("cpu", dtype, requires_grad=False)):
            if tried >= max_tries or len(taken) >= samples:
                break
            case = make_case(info, name, len(taken), s)
            if not case.inputs or not eager_ok(case):
                continue
            if name not in UNDEFINED_VALUES and is_random(case):
                RANDOM_SKIPPED[name] = RANDOM_SKIPPED.get(name, 0) + 1
                continue
            taken.append(case)
    except Exception:  # noqa: BLE001 - a broken sample generator gives what it produced so far
        pass
    return taken


def cases(name_filter: Callable[[str], bool] | None = None, samples: int = 3,
          dtype: torch.dtype = torch.float32) -> Iterator[Case]:
    """The first ``samples`` runnable sample inputs of every OpInfo op (supporting ``dtype``) on CPU."""
    for info in op_db():
        if name_filter is not None and not name_filter(op_name(info)):
            continue
        yield from op_cases(info, samples, dtype)

"""OpInfo samples as small modules: the shared input of the coverage sweep and its fast test.

Each case wraps one OpInfo sample (``op(input, *args, **kwargs)``) in an ``nn.Module`` whose
inputs are the sample's top-level tensors; every other argument is a constant of the module.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch


@functools.lru_cache(maxsize=1)
def op_db() -> list:
    from torch.testing._internal.common_methods_invocations import op_db as db

    return list(db)


def op_name(info: Any) -> str:
    return info.name + (f".{info.variant_test_name}" if info.variant_test_name else "")


class OpModule(torch.nn.Module):
    """Calls ``fn`` with the sample's structure, taking its tensors as module inputs."""

    def __init__(self, fn: Any, template: tuple, kwargs: dict):
        super().__init__()
        self.fn, self.template, self.kw = fn, template, kwargs

    def forward(self, *tensors: torch.Tensor) -> Any:
        it = iter(tensors)
        args = [next(it) if isinstance(a, torch.Tensor) else a for a in self.template]
        return self.fn(*args, **self.kw)


@dataclass
class Case:
    op: str
    index: int
    module: OpModule
    inputs: tuple


def cases(name_filter: Any = None, samples: int = 3, dtype: torch.dtype = torch.float32) -> Iterator[Case]:
    """The first ``samples`` sample inputs of every OpInfo op (supporting ``dtype``) on CPU."""
    for info in op_db():
        name = op_name(info)
        if name_filter is not None and not name_filter(name):
            continue
        if dtype not in info.supported_dtypes("cpu"):
            continue
        try:
            gen = info.sample_inputs("cpu", dtype, requires_grad=False)
            taken = []
            for s in gen:
                taken.append(s)
                if len(taken) >= samples:
                    break
        except Exception:  # noqa: BLE001 - a broken sample generator is skipped, not a failure
            continue
        for i, s in enumerate(taken):
            template = (s.input, *s.args)
            if not all(not isinstance(a, (list, tuple)) or not any(isinstance(x, torch.Tensor) for x in a)
                       for a in template):
                # tensor lists (cat, stack...): pass the list's tensors as inputs
                flat, spec = _flatten_lists(template)
                module = _ListModule(info.op, spec, s.kwargs)
                yield Case(name, i, module, tuple(flat))
                continue
            tensors = tuple(a for a in template if isinstance(a, torch.Tensor))
            yield Case(name, i, OpModule(info.op, template, dict(s.kwargs)), tensors)


def _flatten_lists(template):
    flat, spec = [], []
    for a in template:
        if isinstance(a, (list, tuple)) and any(isinstance(x, torch.Tensor) for x in a):
            spec.append(("list", len(a), type(a)))
            flat.extend(a)
        elif isinstance(a, torch.Tensor):
            spec.append(("t",))
            flat.append(a)
        else:
            spec.append(("c", a))
    return flat, spec


class _ListModule(torch.nn.Module):
    def __init__(self, fn, spec, kwargs):
        super().__init__()
        self.fn, self.spec, self.kw = fn, spec, dict(kwargs)

    def forward(self, *tensors):
        it = iter(tensors)
        args = []
        for s in self.spec:
            if s[0] == "list":
                args.append(s[2](next(it) for _ in range(s[1])))
            elif s[0] == "t":
                args.append(next(it))
            else:
                args.append(s[1])
        return self.fn(*args, **self.kw)

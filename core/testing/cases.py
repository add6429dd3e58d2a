"""Declared test cases: :class:`OpCase`, the structural expectation :class:`Nodes`, and the
function that runs one case at one opset.

A plugin declares its cases in the hook ``onnxplug_register_test_cases(register)``; the pytest
plugin (``pytest --onnxplug-plugin NAME``) turns every case into one test per opset of its
range (and per dtype), and each test calls :func:`run_case`. A failure says which op, opset and
sample failed, and by how much.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import onnx
import torch

from ..opsets import NEWEST_OPSET

Sample = Any  # a tuple of positional args (a lone tensor means a 1-tuple); may end with a dict
Expectation = Union["Nodes", Callable[[onnx.ModelProto], None]]


def newest_opset() -> int:
    """The newest default-domain opset the installed ``onnx`` defines (the cap of every range)."""
    return NEWEST_OPSET


@dataclass(frozen=True)
class Nodes:
    """Structural expectation: how many ``op_type`` nodes of ``domain`` the model has.

    ``Nodes("Gelu", domain="com.microsoft")`` means exactly one; ``count=0`` means none (a
    fusion must not leave the decomposed form behind); ``count=None`` means at least one.
    ``opsets=(lo, hi)`` limits the expectation to those target opsets (``hi`` None: no end),
    so one case can expect a single ``Gelu`` from opset 20 and an ``Erf`` form before it.
    Nodes inside subgraphs and local functions count too.
    """

    op_type: str
    domain: str = ""
    count: int | None = 1
    opsets: tuple[int, int | None] = (1, None)

    def applies(self, opset: int) -> bool:
        lo, hi = self.opsets
        return lo <= opset and (hi is None or opset <= hi)

    def check(self, model: onnx.ModelProto) -> None:
        found = sum(1 for n in iter_nodes(model)
                    if n.op_type == self.op_type and _domain(n.domain) == _domain(self.domain))
        where = f"{self.domain}::{self.op_type}" if _domain(self.domain) else self.op_type
        if self.count is None and found == 0:
            raise AssertionError(f"expected at least one {where} node, found none; "
                                 f"the graph has: {op_histogram(model)}")
        if self.count is not None and found != self.count:
            raise AssertionError(f"expected exactly {self.count} {where} node(s), found {found}; "
                                 f"the graph has: {op_histogram(model)}")


def _domain(d: str) -> str:
    return "" if d in ("", "ai.onnx") else d


def iter_nodes(model: onnx.ModelProto):
    """Every node of the graph, its subgraphs and its local functions."""
    def walk(nodes):
        for n in nodes:
            yield n
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    yield from walk(a.g.node)
                elif a.type == onnx.AttributeProto.GRAPHS:
                    for sub in a.graphs:
                        yield from walk(sub.node)
    yield from walk(model.graph.node)
    for fn in model.functions:
        yield from walk(fn.node)


def op_histogram(model: onnx.ModelProto) -> str:
    """``"Add x2, com.microsoft::Gelu x1"``: what the graph is made of, for failure messages."""
    counts: dict[str, int] = {}
    for n in iter_nodes(model):
        key = f"{n.domain}::{n.op_type}" if _domain(n.domain) else n.op_type
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())) or "no nodes"


@dataclass(frozen=True)
class OpCase:
    """One declared conformance case of a plugin.

    * ``name``: unique within the plugin; test ids are ``NAME-opsetN[-dtype]``.
    * ``fn``: what to export: an ``nn.Module``, a plain function, or a zero-argument factory
      returning a fresh module (``module=True``). Modules are deep-copied per test.
    * ``samples``: a list of samples, or a zero-argument callable returning an iterable of
      them (a generator is fine; it runs under ``torch.manual_seed(0)``). A sample is a tuple
      of positional inputs (a lone tensor means a 1-tuple; a trailing dict holds keyword
      inputs). Without ``dynamic_axes`` each sample is exported on its own; with them the
      first sample is exported and every sample runs through that one model.
    * ``opsets``: ``(lowest, highest)``, inclusive; ``highest`` None (or past what ``onnx``
      defines) means the newest opset of the installed ``onnx``.
    * ``dtypes``: run the case once per dtype, with every floating-point input cast to it.
    * ``rtol``/``atol``: tolerances of the comparison with eager PyTorch.
    * ``input_names``, ``output_names``, ``dynamic_axes``, ``custom_opsets`` and
      ``export_options`` (any other ``export()`` keyword) go to ``export()``.
    * ``expect``: a :class:`Nodes`, a list of them, or a callable taking the ``ModelProto``
      that raises ``AssertionError`` when the structure is wrong.
    * ``xfail``: ``{opset: "reason"}`` or ``{(lo, hi): "reason"}``: expected failures, each
      with its reason; strict, so a case that starts passing is reported.
    * ``run``: False for models onnxruntime cannot run (a custom domain it does not know):
      they are checked and their structure verified, but not executed.
    * ``op``: the op key the case covers (``"aten::gelu"``), used in messages and listings.
    """

    name: str
    fn: Any
    samples: Sequence[Sample] | Callable[[], Iterable[Sample]]
    opsets: tuple[int, int | None] = (7, None)
    dtypes: tuple[torch.dtype, ...] = ()
    rtol: float = 1e-3
    atol: float = 1e-5
    input_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()
    dynamic_axes: Mapping[str, Any] | None = None
    custom_opsets: Mapping[str, int] | None = None
    export_options: Mapping[str, Any] = field(default_factory=dict)
    expect: Expectation | Sequence[Expectation] | None = None
    xfail: Mapping[int | tuple[int, int], str] = field(default_factory=dict)
    run: bool = True
    module: bool = False
    op: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError("OpCase.name must be a non-empty string.")
        if not (callable(self.samples) or isinstance(self.samples, (list, tuple))):
            raise TypeError(f"OpCase {self.name!r}: samples must be a list of samples or a "
                            "callable returning them.")
        if isinstance(self.samples, tuple) and self.samples \
                and isinstance(self.samples[0], torch.Tensor):
            raise TypeError(f"OpCase {self.name!r}: samples is a list of samples; wrap the "
                            "inputs of one sample in a list: samples=[(x, y)].")
        lo, hi = self.opsets
        if not isinstance(lo, int) or lo < 1 or (hi is not None and hi < lo):
            raise ValueError(f"OpCase {self.name!r}: opsets must be (lowest, highest|None) "
                             f"with lowest >= 1, got {self.opsets!r}.")

    @property
    def label(self) -> str:
        return f"{self.op} ({self.name})" if self.op else self.name

    def opset_range(self) -> list[int]:
        """Every opset of the range, capped to the newest the installed ``onnx`` defines."""
        lo, hi = self.opsets
        top = newest_opset() if hi is None else min(hi, newest_opset())
        return list(range(lo, top + 1))

    def xfail_reason(self, opset: int) -> str | None:
        for key, reason in self.xfail.items():
            lo, hi = (key, key) if isinstance(key, int) else key
            if lo <= opset <= (hi if hi is not None else opset):
                return reason
        return None

    def expectations(self) -> list[Expectation]:
        if self.expect is None:
            return []
        if isinstance(self.expect, (list, tuple)):
            return list(self.expect)
        return [self.expect]

    def make_model(self) -> Any:
        if self.module:
            torch.manual_seed(0)
            return self.fn()
        if isinstance(self.fn, torch.nn.Module):
            return copy.deepcopy(self.fn)
        return self.fn

    def make_samples(self, dtype: torch.dtype | None = None) -> list[tuple]:
        torch.manual_seed(0)
        raw = self.samples() if callable(self.samples) else self.samples
        out = [_as_tuple(s) for s in raw]
        if not out:
            raise ValueError(f"OpCase {self.name!r} has no samples.")
        if dtype is not None:
            out = [tuple(_cast(x, dtype) for x in s) for s in out]
        return out


def _as_tuple(sample: Sample) -> tuple:
    if isinstance(sample, tuple):
        return sample
    if isinstance(sample, list):
        return tuple(sample)
    return (sample,)


def _cast(x: Any, dtype: torch.dtype) -> Any:
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        return x.to(dtype)
    if isinstance(x, dict):
        return {k: _cast(v, dtype) for k, v in x.items()}
    return x


def describe_sample(sample: tuple) -> str:
    """``"(float32[2, 3], int64[4], 0.5)"``: a sample's shapes and dtypes for messages."""
    def one(x: Any) -> str:
        if isinstance(x, torch.Tensor):
            return f"{str(x.dtype).removeprefix('torch.')}{list(x.shape)}"
        if isinstance(x, dict):
            return "{" + ", ".join(f"{k}={one(v)}" for k, v in x.items()) + "}"
        return repr(x)
    return "(" + ", ".join(one(x) for x in sample) + ")"


class CaseFailure(AssertionError):
    """A declared case failed; the message names the op, opset, sample and difference."""


class _Stage:
    """The stage a sample is at (named in a failure)."""

    name = "export"


def run_case(case: OpCase, opset: int, dtype: torch.dtype | None = None) -> None:
    """Export ``case`` at ``opset``, check it, run it in onnxruntime, compare, check structure.

    Raises :class:`CaseFailure` on the first problem. With dynamic axes the first sample is
    exported once and every sample runs through that model.
    """
    samples = case.make_samples(dtype)
    dyn = bool(case.dynamic_axes)
    exported: Any = None
    where = f"{case.label} at opset {opset}" + (f", dtype {dtype}" if dtype is not None else "")
    stage = _Stage()
    for i, sample in enumerate(samples):
        stage.name = "export"
        try:
            model = case.make_model()
            if exported is None or not dyn:
                exported = _export_checked(case, model, samples[0] if dyn else sample, opset, stage)
            if case.run:
                _run_and_compare(case, model, exported, sample, stage)
        except CaseFailure:
            raise
        except Exception as exc:
            raise CaseFailure(
                f"{where}, sample {i} {describe_sample(sample)}: {stage.name} failed: "
                f"{type(exc).__name__}: {exc}") from exc


def _export_kwargs(case: OpCase, opset: int) -> dict[str, Any]:
    kw: dict[str, Any] = dict(case.export_options)
    kw.update(opset_version=opset)
    for k in ("input_names", "output_names"):
        if getattr(case, k):
            kw[k] = list(getattr(case, k))
    if case.dynamic_axes:
        kw["dynamic_axes"] = dict(case.dynamic_axes)
    if case.custom_opsets:
        kw["custom_opsets"] = dict(case.custom_opsets)
    return kw


def _export_checked(case: OpCase, model: Any, sample: Sample, opset: int,
                    stage: _Stage) -> onnx.ModelProto:
    """Export, run the full ONNX checker, check the case's structural expectations."""
    from ..export import export

    exported = export(model, sample, None, **_export_kwargs(case, opset)).model
    stage.name = "onnx.checker"
    onnx.checker.check_model(exported, full_check=True)
    stage.name = "structure"
    for expectation in case.expectations():
        if isinstance(expectation, Nodes):
            if expectation.applies(opset):
                expectation.check(exported)
        else:
            expectation(exported)
    return exported


def _run_and_compare(case: OpCase, model: Any, exported: onnx.ModelProto, sample: Sample,
                     stage: _Stage) -> None:
    """Run ``exported`` in onnxruntime on ``sample`` and compare with eager PyTorch."""
    from ..verify import run_onnxruntime
    from .harness import assert_matches, input_tensors

    stage.name = "onnxruntime"
    feeds = input_tensors(sample, None)
    if not case.export_options.get("export_params", True) and isinstance(model, torch.nn.Module):
        feeds += list(model.state_dict().values())
    outputs = run_onnxruntime(exported, feeds)
    stage.name = "comparison with eager PyTorch"
    assert_matches(_reference(model, case), sample, outputs, rtol=case.rtol, atol=case.atol)


def _reference(model: Any, case: OpCase) -> Any:
    """The eager model in the mode the export used (eval unless ``training`` says otherwise)."""
    if isinstance(model, torch.nn.Module):
        from ..enums import TrainingMode

        mode = case.export_options.get("training", TrainingMode.EVAL)
        if mode == TrainingMode.EVAL:
            model.eval()
        elif mode == TrainingMode.TRAINING:
            model.train()
    return model

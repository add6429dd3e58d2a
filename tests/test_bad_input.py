"""The bad-input matrix: one row per way a caller can get `export()` wrong.

Every row of ``ERROR_ROWS`` must raise exactly its documented error class, with a message that
names what was wrong and says what to do, and must leave the destination alone: no new file in
the folder (no temporary file either) and an existing file at ``f`` byte for byte as it was.
Every row of ``EXPORTABLE_ROWS`` is an input that looks unusual but is valid: it is exported to
``f`` (replacing the old file), checked, run in onnxruntime and compared with eager PyTorch.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from torch import nn

import onnxplug
from onnxplug import CaptureError, CheckerError, OnnxExporterError, OptionError
from onnxplug import UnsupportedOperatorError
from onnxplug.errors import ExportWriteError
from onnxplug.testing import assert_matches, load_checked
from onnxplug.verify import flat_tensors, run_onnxruntime

OLD = b"an existing file that a failed export must leave alone"
NEWEST = onnx.defs.onnx_opset_version()
HERE = r"test_bad_input\.py:\d+"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x).relu()


class Raises(nn.Module):
    def forward(self, x):
        raise ValueError("forward refuses this input")


class DataDependentBranch(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x + 1
        return x - 1


class ReturnsString(nn.Module):
    def forward(self, x):
        return x + 1, "done"


class ReturnsNothing(nn.Module):
    def forward(self, x):
        return None


@torch.library.custom_op("onnxplug_badinput::twice", mutates_args=())
def twice(x: torch.Tensor) -> torch.Tensor:
    """A third party's op that no installed plugin converts."""
    return x * 2


@twice.register_fake
def _twice_fake(x):
    return torch.empty_like(x)


class UsesCustomOp(nn.Module):
    def forward(self, x):
        return twice(x) + 1


def net():
    torch.manual_seed(0)
    return Net().eval()


def x24():
    return (torch.randn(2, 4),)


def program(dynamic_batch: bool):
    """An ExportedProgram of ``Net``, with axis 0 of its input dynamic or fixed."""
    shapes = ({0: torch.export.Dim("batch")},) if dynamic_batch else None
    return torch.export.export(net(), (torch.randn(3, 4),), dynamic_shapes=shapes)


# -- symbolic functions that are wrong in each way a plugin author can get one wrong --------

def relu_raises(g, x):
    return {}["no such key"]


def relu_returns_str(g, x):
    return "Relu"


def relu_returns_none(g, x):
    g.op("Relu", x)


def relu_returns_tuple(g, x):
    return g.op("Relu", x), g.op("Relu", x)


def relu_without_input(g):
    return None


def relu_bad_attribute(g, x):
    return g.op("Relu", x, not_an_attribute_i=1)


def relu_two_inputs(g, x):
    return g.op("Relu", x, x)


# -- destinations ---------------------------------------------------------------------------

def in_missing_folder(tmp: Path):
    return tmp / "no" / "such" / "m.onnx"


def text_file(tmp: Path):
    return open(tmp / "t.txt", "w")  # noqa: SIM115 - closed by the test


def read_only_binary_file(tmp: Path):
    return open(tmp / "m.onnx", "rb")  # noqa: SIM115 - closed by the test


def closed_file(tmp: Path):
    fh = open(tmp / "c.onnx", "wb")  # noqa: SIM115
    fh.close()
    return fh


def in_read_only_folder(tmp: Path):
    (tmp / "read-only").mkdir()  # made read-only by the row's guard
    return tmp / "read-only" / "m.onnx"


def the_folder(tmp: Path):
    return tmp


@dataclass(frozen=True)
class Row:
    """One bad input: how to build the call, the error class, and what its message must say.

    ``wrong`` and ``todo`` are regular expressions searched in the message: ``wrong`` for what
    was wrong, ``todo`` for what to do about it.
    """

    id: str
    error: type
    wrong: str
    todo: str
    model: Callable[[], Any] = net
    args: Callable[[], Any] = x24
    options: dict = field(default_factory=dict)
    f: Callable[[Path], Any] | None = None
    env: dict = field(default_factory=dict)
    unprivileged: bool = False


def _row(id, error, wrong, todo, **kw) -> Any:
    return pytest.param(Row(id, error, wrong, todo, **kw), id=id)


def _option(id, wrong, todo, **options) -> Any:
    return _row(id, OptionError, wrong, todo, options=options)


MUST_BOOL = "must be True or False"

ERROR_ROWS = [
    # wrong types, argument by argument
    _row("model-None", OptionError, "type NoneType", "pass an nn.Module", model=lambda: None),
    _row("model-str", OptionError, "type str", "pass an nn.Module", model=lambda: "net.pt"),
    _row("model-int", OptionError, "type int", "or a plain function", model=lambda: 3),
    _row("args-int", OptionError, "args must be a tuple.*got int", r"args=\(value,\)",
         args=lambda: 3),
    _row("args-None", OptionError, "got NoneType", r"pass \(\) for none", args=lambda: None),
    _row("args-str", OptionError, "got str", r"args=\(value,\)", args=lambda: "x"),
    _row("args-numpy", OptionError, "numpy array", r"torch\.from_numpy",
         args=lambda: (np.ones((2, 4), np.float32),)),
    _row("args-numpy-nested", OptionError, "numpy array", r"torch\.from_numpy",
         model=lambda: (lambda xs: xs[0] + 1), args=lambda: ([np.ones(3, np.float32)],)),
    _row("f-int", OptionError, "got int", "must be a path, a writable binary file", f=lambda t: 3),
    _row("f-bytes", OptionError, "got bytes", "must be a path", f=lambda t: b"m.onnx"),
    _option("export_params-str", "export_params.*'yes'", MUST_BOOL, export_params="yes"),
    _option("verbose-int", "verbose.*got 1", MUST_BOOL, verbose=1),
    _option("training-str", "training.*'train'", "must be one of TrainingMode.EVAL",
            training="train"),
    _option("training-None", "training.*None", "must be one of", training=None),
    _option("input_names-str", "input_names.*'x'", "must be a list of strings", input_names="x"),
    _option("input_names-int", r"bad entries: \[1\]", "only non-empty strings", input_names=[1]),
    _option("output_names-duplicate", r"duplicates: \['y'\]", "must be unique",
            output_names=["y", "y"]),
    _option("operator_export_type-str", "got 'ONNX'", "OperatorExportTypes.ONNX",
            operator_export_type="ONNX"),
    _option("do_constant_folding-None", "do_constant_folding.*None", MUST_BOOL,
            do_constant_folding=None),
    _option("dynamic_axes-list", "dynamic_axes must be a dict.*got list", r"\{name: \[axis",
            dynamic_axes=[("x", 0)], input_names=["x"]),
    _option("dynamic_axes-axes-str", r"dynamic_axes\['x'\] must be", "or a list of axes",
            dynamic_axes={"x": "0"}, input_names=["x"]),
    _option("dynamic_axes-axis-str", "axis '0' is not an int", "give axes as ints",
            dynamic_axes={"x": {"0": "batch"}}, input_names=["x"]),
    _option("dynamic_axes-dim-int", "dimension name", "must be a non-empty string",
            dynamic_axes={"x": {0: 1}}, input_names=["x"]),
    _option("keep_initializers-str", "keep_initializers_as_inputs.*'no'", MUST_BOOL,
            keep_initializers_as_inputs="no"),
    _option("custom_opsets-list", r"got \['com.x'\]", r"must be a dict \{domain: version\}",
            custom_opsets=["com.x"]),
    _option("custom_opsets-default-domain", "'' is not a custom domain", "with opset_version=",
            custom_opsets={"": 17}),
    _option("custom_opsets-version-str", r"custom_opsets\['com.x'\].*'1'", "must be an int >= 1",
            custom_opsets={"com.x": "1"}),
    _option("functions-str", "got 'yes'", "must be a bool or a set of nn.Module types",
            export_modules_as_functions="yes", opset_version=17),
    _option("functions-not-types", "these are not types", "set of nn.Module types",
            export_modules_as_functions={1}, opset_version=17),
    _option("autograd_inlining-int", "autograd_inlining.*got 1", MUST_BOOL, autograd_inlining=1),
    _option("kwargs-list", "kwargs must be a dict.*got list", "with str keys", kwargs=[1]),
    _option("kwargs-int-keys", r"got keys \[1\]", "with str keys", kwargs={1: torch.ones(1)}),
    _option("dynamic_shapes-int", "dynamic_shapes must be.*got int", "or name the dynamic axes"
            "|a dict {argument name", dynamic_shapes=3),
    _option("custom_symbolics-list", "custom_symbolics must be a dict", r"\{'aten::gelu'",
            custom_symbolics=[relu_raises]),
    _option("custom_symbolics-no-namespace", "custom_symbolics must be a dict",
            r"'namespace::op'", custom_symbolics={"relu": relu_raises}),
    _option("custom_symbolics-not-callable", "custom_symbolics must be a dict", "function",
            custom_symbolics={"aten::relu": "Relu"}),
    _option("verify-str", "verify.*'y'", MUST_BOOL, verify="y"),
    _option("external_data-str", "external_data.*'yes'", MUST_BOOL, external_data="yes"),
    # opsets out of range
    _option("opset-6", "got 6", f"an int from 7 to {NEWEST}", opset_version=6),
    _option("opset-newest+1", f"got {NEWEST + 1}", f"from 7 to {NEWEST}",
            opset_version=NEWEST + 1),
    _option("opset-negative", "got -1", "from 7 to", opset_version=-1),
    _option("opset-str", "got '17'", "must be an int", opset_version="17"),
    _option("opset-float", r"got 17\.0", "must be an int", opset_version=17.0),
    _option("opset-bool", "got True", "must be an int", opset_version=True),
    # dynamic_axes naming something that is not an input or output name
    _option("dynamic_axes-unknown-name", "names 'y', which is neither in input_names",
            "Name the input or output with input_names=", input_names=["x"],
            dynamic_axes={"y": [0]}),
    _option("dynamic_axes-without-names", r"names 'x'.*input_names \[\]",
            "with input_names=/output_names= first", dynamic_axes={"x": [0]}),
    _option("dynamic_axes-axis-out-of-range", "names axis 5, but that input has 2",
            "Use an axis from -2 to 1", input_names=["x"], dynamic_axes={"x": [5]}),
    # more names than there are inputs/outputs; a name used for both
    _option("input_names-too-many", "input_names has 2 names but the model has only 1",
            "Give at most 1 name", input_names=["a", "b"]),
    _option("output_names-too-many", "output_names has 3 names but the model has only 1",
            "Give at most 1 name", output_names=["a", "b", "c"]),
    _option("names-input-and-output", r"both input and output names: \['x'\]",
            "distinct names", input_names=["x"], output_names=["x"]),
    # local functions below opset 15
    _option("functions-opset-14", "needs opset_version >= 15.*got 14", "Raise opset_version",
            export_modules_as_functions=True, opset_version=14),
    _option("functions-types-opset-9", "needs opset_version >= 15.*got 9", "drop the option",
            export_modules_as_functions={nn.Linear}, opset_version=9),
    # destinations that cannot be written
    _row("f-missing-folder", OptionError, "folder .* does not exist", "Create it first",
         f=in_missing_folder),
    _row("f-read-only-folder", OptionError, "is not writable", "Choose a folder you can write",
         f=in_read_only_folder, unprivileged=True),
    _row("f-text-mode-file", OptionError, "text-mode file", r"binary mode \('wb'\)", f=text_file),
    _row("f-string-io", OptionError, "text-mode file", r"binary mode \('wb'\)",
         f=lambda t: io.StringIO()),
    _row("f-read-only-file-object", OptionError, "not open for writing", "open it with 'wb'",
         f=read_only_binary_file),
    _row("f-closed-file", OptionError, "closed file", "pass an open binary file object",
         f=closed_file),
    _row("f-directory", OptionError, "is a directory", "give a file path", f=the_folder),
    # the model itself fails
    _row("forward-raises", CaptureError, "ValueError: forward refuses this input", "What to do",
         model=Raises),
    # (with capture="export": by default the trace strategy captures it, with a warning; see
    # tests/test_trace_capture.py)
    _row("data-dependent-branch", CaptureError, "(?s)could not capture.*data-dependent",
         "torch.cond", model=DataDependentBranch, options={"capture": "export"}),
    _row("wrong-number-of-args", CaptureError, "too many positional arguments",
         "args match forward", args=lambda: (torch.randn(2, 4), torch.randn(2, 4))),
    _row("wrong-input-shape", CaptureError, r"\[2, 5\] X \[4, 3\]", "What to do",
         args=lambda: (torch.randn(2, 5),)),
    # ops nobody converts
    _row("op-without-plugin", UnsupportedOperatorError, rf"aten::relu\.default at .*{HERE}",
         "install a plugin", env={"ONNXPLUG_PLUGINS": "contrib"}),
    _row("custom-op-without-symbolic", UnsupportedOperatorError,
         rf"onnxplug_badinput::twice\.default at .*{HERE}: no conversion at any opset",
         r"custom_symbolics=\{\.\.\.\}", model=UsesCustomOp),
    # symbolic functions that raise or return the wrong thing: plugin, op and source line
    _row("symbolic-raises", OnnxExporterError,
         rf"aten::relu\.default .*{HERE}.*plugin '<custom_symbolics>'.*KeyError",
         "report it to that plugin", options={"custom_symbolics": {"aten::relu": relu_raises}}),
    _row("symbolic-returns-str", OnnxExporterError,
         rf"relu_returns_str from plugin '<custom_symbolics>' returned str.*aten::relu\.default.*"
         rf"{HERE}", "must return one onnx_ir.Value",
         options={"custom_symbolics": {"aten::relu": relu_returns_str}}),
    _row("symbolic-returns-none", OnnxExporterError,
         rf"relu_returns_none from plugin '<custom_symbolics>' returned NoneType.*{HERE}",
         "Fix the function's return value",
         options={"custom_symbolics": {"aten::relu": relu_returns_none}}),
    _row("symbolic-returns-tuple", OnnxExporterError,
         rf"returned tuple .*aten::relu\.default .*{HERE}", "must return one onnx_ir.Value",
         options={"custom_symbolics": {"aten::relu": relu_returns_tuple}}),
    _row("symbolic-wrong-signature", OnnxExporterError,
         rf"relu_without_input for aten::relu\.default accepts 0.*'<custom_symbolics>'.*{HERE}",
         "Add the missing parameters", options={"custom_symbolics": {"aten::relu": relu_without_input}}),
    # a conversion producing an invalid graph: the checker's own message
    _row("invalid-attribute", CheckerError, "checker rejected.*not_an_attribute",
         "report it to that plugin",
         options={"custom_symbolics": {"aten::relu": relu_bad_attribute}}),
    _row("invalid-input-count", CheckerError, "checker rejected.*Relu",
         "report it to that plugin", options={"custom_symbolics": {"aten::relu": relu_two_inputs}}),
    # devices
    _row("meta-model", OptionError, r"meta device.*\['fc\.weight', 'fc\.bias'\]",
         "export_params=False", model=lambda: Net().to("meta"),
         args=lambda: (torch.randn(2, 4, device="meta"),)),
    _row("meta-model-cpu-input", CaptureError, "cpu and meta", "What to do",
         model=lambda: Net().to("meta"), options={"export_params": False}),
    # outputs that are not tensors
    _row("output-str", OnnxExporterError, "output 1 of the model is a str", "Return tensors",
         model=ReturnsString),
    _row("output-only-None", OnnxExporterError, "returns no tensor", "Return at least one tensor",
         model=ReturnsNothing),
    # an ExportedProgram whose shapes dynamic_axes contradicts
    _row("program-fixed-axis-made-dynamic", OptionError,
         "makes axis 0 dynamic, but the ExportedProgram was captured with a fixed size 3",
         "Capture it again", model=lambda: program(False), args=lambda: (torch.randn(3, 4),),
         options={"input_names": ["x"], "dynamic_axes": {"x": {0: "batch"}}}),
    _row("program-other-axis-made-dynamic", OptionError, "makes axis 1 dynamic.*fixed size 4",
         "drop the axis from dynamic_axes", model=lambda: program(True),
         args=lambda: (torch.randn(3, 4),),
         options={"input_names": ["x"], "dynamic_axes": {"x": {0: "batch", 1: "features"}}}),
    _row("program-axis-out-of-range", OptionError, "names axis 2, but that input of the "
         "ExportedProgram has 2", "dynamic_axes", model=lambda: program(True),
         args=lambda: (torch.randn(3, 4),),
         options={"input_names": ["x"], "dynamic_axes": {"x": [2]}}),
]


def _listing(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


@contextlib.contextmanager
def _unprivileged(tmp: Path):
    """A read-only folder that the export cannot write to, even when the tests run as root.

    Root writes anywhere because of the ``CAP_DAC_OVERRIDE`` capability: as root the calling
    thread's effective capabilities lose it (and ``CAP_DAC_READ_SEARCH``) for the duration, so
    the folder's permission bits apply as they do for everyone else.
    """
    folder = tmp / "read-only"
    folder.chmod(0o555)
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    try:
        with _capabilities_dropped((1, 2)) if root else contextlib.nullcontext():
            yield
    finally:
        folder.chmod(0o755)


@contextlib.contextmanager
def _capabilities_dropped(bits: tuple[int, ...]):
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    libc = ctypes.CDLL(None, use_errno=True)
    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3, this thread
    assert libc.capget(ctypes.byref(header), data) == 0, ctypes.get_errno()
    saved = data[0].effective
    for bit in bits:
        data[0].effective &= ~(1 << bit)
    assert libc.capset(ctypes.byref(header), data) == 0, ctypes.get_errno()
    try:
        yield
    finally:
        data[0].effective = saved
        assert libc.capset(ctypes.byref(header), data) == 0, ctypes.get_errno()


@pytest.mark.parametrize("row", ERROR_ROWS)
def test_bad_input(row: Row, tmp_path, monkeypatch):
    for key, value in row.env.items():
        monkeypatch.setenv(key, value)
    target = tmp_path / "m.onnx"
    target.write_bytes(OLD)
    model, args = row.model(), row.args()
    guard = _unprivileged(tmp_path) if row.unprivileged else contextlib.nullcontext()
    f = row.f(tmp_path) if row.f is not None else target
    before = _listing(tmp_path)
    try:
        with guard, pytest.raises(OnnxExporterError) as info:
            onnxplug.export(model, args, f, **row.options)
        if isinstance(f, io.StringIO):
            assert f.getvalue() == ""
    finally:
        if hasattr(f, "close"):
            f.close()
    err = info.value
    assert type(err) is row.error, f"{type(err).__name__} instead of {row.error.__name__}: {err}"
    message = str(err)
    assert re.search(row.wrong, message), f"what was wrong, {row.wrong!r}, not in:\n{message}"
    assert re.search(row.todo, message), f"what to do, {row.todo!r}, not in:\n{message}"
    assert target.read_bytes() == OLD
    assert _listing(tmp_path) == before, "the failed export left a file behind"


# -- inputs that look unusual but export correctly -------------------------------------------

class Scale(nn.Module):
    def forward(self, x, s):
        return x * s + 1


class Pair(nn.Module):
    def forward(self, xs):
        return xs[0] * xs[1] - xs[1]


class Named(nn.Module):
    def forward(self, d):
        return d["p"].sigmoid() + d["q"]


class WithNone(nn.Module):
    def forward(self, x):
        return x + 1, None, x.sum()


class WithInt(nn.Module):
    def forward(self, x):
        return x * 2, x.shape[0]


class Positive(nn.Module):
    def forward(self, x):
        return x[x > 0]


@dataclass(frozen=True)
class Good:
    """A valid input to export and compare; ``run`` are other inputs to run it on (dynamic)."""

    id: str
    model: Callable[[], Any]
    args: Callable[[], Any]
    options: dict = field(default_factory=dict)
    run: Callable[[], Any] | None = None
    weights_from: Callable[[], Any] | None = None


def _good(id, model, args, **kw) -> Any:
    return pytest.param(Good(id, model, args, **kw), id=id)


EXPORTABLE_ROWS = [
    _good("requires-grad", net, lambda: (torch.randn(2, 4, requires_grad=True),)),
    _good("non-contiguous", net, lambda: (torch.randn(4, 2).t(),)),
    _good("expanded-stride-0", net, lambda: (torch.randn(1, 4).expand(3, 4),)),
    _good("channels-last", lambda: nn.Conv2d(2, 3, 3).eval(),
          lambda: (torch.randn(1, 2, 5, 5).to(memory_format=torch.channels_last),)),
    _good("zero-d", lambda: (lambda a: a * 2 + 1), lambda: (torch.tensor(3.0),)),
    _good("empty", net, lambda: (torch.randn(0, 4),)),
    _good("python-float", Scale, lambda: (torch.randn(2, 3), 2.5)),
    _good("python-int", Scale, lambda: (torch.randn(2, 3), 3)),
    _good("list-input", Pair, lambda: ([torch.randn(3), torch.randn(3)],)),
    _good("dict-input", Named, lambda: ({"p": torch.randn(2), "q": torch.randn(2)}, {})),
    _good("kwargs-input", Named, lambda: (),
          options={"kwargs": {"d": {"p": torch.randn(2), "q": torch.randn(2)}}}),
    _good("output-with-None", WithNone, lambda: (torch.randn(2, 3),)),
    _good("output-int", WithInt, lambda: (torch.randn(2, 3),)),
    _good("data-dependent-shape", Positive, lambda: (torch.randn(3, 4),)),
    _good("lone-tensor-args", net, lambda: torch.randn(2, 4)),
    _good("list-args", net, lambda: [torch.randn(2, 4)]),
    _good("opset-None-means-default", net, x24, options={"opset_version": None}),
    _good("untrained-with-folding", net, x24,
          options={"export_params": False, "do_constant_folding": True}),
    _good("meta-model-untrained", lambda: Net().to("meta"),
          lambda: (torch.randn(2, 4, device="meta"),), options={"export_params": False},
          weights_from=net),
    _good("program-dynamic-axes-agree", lambda: program(True), lambda: (torch.randn(3, 4),),
          options={"input_names": ["x"], "dynamic_axes": {"x": {0: "batch"}}},
          run=lambda: (torch.randn(5, 4),)),
]


def _cpu(value):
    return torch.utils._pytree.tree_map(
        lambda t: torch.randn(t.shape) if isinstance(t, torch.Tensor) and t.is_meta else t, value)


@pytest.mark.parametrize("row", EXPORTABLE_ROWS)
def test_unusual_but_valid_input_exports_correctly(row: Good, tmp_path):
    target = tmp_path / "m.onnx"
    target.write_bytes(OLD)
    model, args = row.model(), row.args()
    options = dict(row.options)
    kwargs = options.pop("kwargs", None)
    result = onnxplug.export(model, args, target, kwargs=kwargs, **options)
    loaded = load_checked(target)
    assert loaded.SerializeToString() == result.model.SerializeToString()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]

    reference = row.weights_from() if row.weights_from is not None else model
    if isinstance(reference, torch.export.ExportedProgram):
        reference = reference.module()
    if row.weights_from is not None:
        args = _cpu(args)
    run_args = row.run() if row.run is not None else args
    a, kw = onnxplug.capture.split_args(run_args, kwargs)
    feeds = [t for t in flat_tensors((a, kw)) if isinstance(t, torch.Tensor)]
    if not options.get("export_params", True):
        assert len(loaded.graph.initializer) == 0
        feeds += list(reference.state_dict().values())
    assert_matches(reference, run_args, run_onnxruntime(loaded, feeds), kwargs=kwargs)


def test_the_matrix_has_at_least_fifty_rows():
    assert len(ERROR_ROWS) >= 50
    assert len({p.id for p in ERROR_ROWS + EXPORTABLE_ROWS}) == len(ERROR_ROWS) + len(EXPORTABLE_ROWS)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    """A failure while the bytes are written (disk full, interrupted): the old file survives."""
    target = tmp_path / "m.onnx"
    target.write_bytes(OLD)
    real_fdopen = os.fdopen

    class Full(io.RawIOBase):
        def __init__(self, fd):
            self.fh = real_fdopen(fd, "wb")

        def write(self, data):
            self.fh.write(data[: len(data) // 2])
            raise OSError(28, "No space left on device")

        def __exit__(self, *exc):
            self.fh.close()

    def fdopen(fd, mode="r", *a, **k):
        return Full(fd) if mode == "wb" else real_fdopen(fd, mode, *a, **k)

    monkeypatch.setattr(os, "fdopen", fdopen)
    with pytest.raises(ExportWriteError, match="No space left on device") as info:
        onnxplug.export(net(), x24(), target)
    assert isinstance(info.value, OSError) and isinstance(info.value, OnnxExporterError)
    assert target.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]

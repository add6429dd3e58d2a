"""The registry rules: opset ranges, overload keys, precedence, conflicts, per-export state."""

from __future__ import annotations

import pytest
import torch

import onnxplug
from onnxplug.errors import PluginError
from onnxplug.registry import SOURCE_PLUGIN, Registry, SymbolicFunction
from onnxplug.testing import export_and_compare


def f(name):
    def fn(g, *a):
        return name
    fn.__qualname__ = name
    return fn


def entry(key, opset, name, plugin="p", priority=0, domain=None):
    return SymbolicFunction(key, opset, f(name), plugin, priority, domain, SOURCE_PLUGIN)


def pick(reg, key):
    found = reg.lookup(key)
    return found.fn.__qualname__ if found else None


def test_highest_opset_not_above_target():
    entries = [entry("aten::gelu", 7, "v7"), entry("aten::gelu", 20, "v20")]
    assert pick(Registry.build(entries, 17), "aten::gelu.default") == "v7"
    assert pick(Registry.build(entries, 20), "aten::gelu.default") == "v20"
    assert pick(Registry.build([entry("aten::gelu", 20, "v20")], 17), "aten::gelu.default") is None
    assert Registry.build(entries, 9).available_opsets("aten::gelu.default") == (7, 20)


def test_overload_key_wins_over_bare_name():
    entries = [entry("aten::add", 13, "bare"), entry("aten::add.Tensor", 7, "overload")]
    reg = Registry.build(entries, 17)
    assert pick(reg, "aten::add.Tensor") == "overload"
    assert pick(reg, "aten::add.Scalar") == "bare"


def test_priority_then_name_and_conflicts_reported():
    entries = [entry("aten::relu", 7, "low", "zeta", 0), entry("aten::relu", 7, "high", "alpha", 5)]
    assert pick(Registry.build(entries, 17), "aten::relu") == "high"
    tie = [entry("aten::relu", 7, "b-fn", "beta"), entry("aten::relu", 7, "a-fn", "alpha")]
    reg = Registry.build(tie, 17)
    assert pick(reg, "aten::relu") == "a-fn"
    conflicts = reg.conflicts()
    assert len(conflicts) == 1 and "alpha wins over beta" in str(conflicts[0])


def test_custom_domain_only_when_named_or_no_standard():
    entries = [entry("aten::gelu", 7, "std"), entry("aten::gelu", 7, "ms", "contrib", domain="com.microsoft"),
               entry("my::op", 7, "mine", "third", domain="org.mine")]
    assert pick(Registry.build(entries, 17), "aten::gelu") == "std"
    assert pick(Registry.build(entries, 17, {"com.microsoft": 1}), "aten::gelu") == "ms"
    assert pick(Registry.build(entries, 17), "my::op") == "mine"


def test_call_beats_runtime_beats_plugins(mlp):
    x = torch.randn(2, 4)

    def runtime_relu(g, x):
        return g.op("Sigmoid", x, dtype=g.dtype(x))

    def call_relu(g, x):
        return g.op("Relu", x, dtype=g.dtype(x))

    onnxplug.register_symbolic("aten::relu", runtime_relu)
    try:
        r = onnxplug.export(mlp, (x,))
        assert "Sigmoid" in [n.op_type for n in r.model.graph.node]
        assert r.served["aten::relu.default"].startswith("<runtime>")
        r = export_and_compare(mlp, (x,), custom_symbolics={"aten::relu": call_relu})
        assert r.served["aten::relu.default"].startswith("<custom_symbolics>")
    finally:
        onnxplug.unregister_symbolic("aten::relu")
    r = export_and_compare(mlp, (x,))  # nothing leaks into later exports
    assert r.served["aten::relu.default"].startswith("opset:")


def test_symbolic_decorator_validates():
    with pytest.raises(PluginError, match="invalid op key"):
        onnxplug.symbolic("relu")
    with pytest.raises(PluginError, match="invalid opset"):
        onnxplug.symbolic("aten::relu", opset=0)


def test_symbolic_signature_mismatch_is_explained(mlp):
    def takes_nothing(g):
        return None

    with pytest.raises(onnxplug.OnnxExporterError, match="accepts 0 argument"):
        onnxplug.export(mlp, (torch.randn(2, 4),), custom_symbolics={"aten::relu": takes_nothing})


FACTORY_MODULE = '''
import onnxplug


def make(onnx_op):
    @onnxplug.symbolic("test::" + onnx_op.lower())
    def convert(g, x):
        return g.op(onnx_op, x)
    return convert


sigmoid = make("Sigmoid")


@onnxplug.symbolic("test::plain")
def plain(g, x):
    return x


late = onnxplug.symbolic("test::late")(make("Tanh"))
'''


def test_location_is_the_def_or_for_a_factory_the_registering_line(tmp_path, monkeypatch):
    import importlib

    (tmp_path / "factory_ops.py").write_text(FACTORY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("factory_ops")
    lines = FACTORY_MODULE.splitlines()

    def line_of(fn, key):
        (spec,) = [s for s in fn.__onnxplug_symbolic__ if s.key == key]
        where = SymbolicFunction(spec.key, spec.opset, fn, "p", site=spec.site).location
        path, _, line = where.rpartition(":")
        assert path == str(tmp_path / "factory_ops.py"), where
        return lines[int(line) - 1]

    assert line_of(mod.sigmoid, "test::sigmoid") == 'sigmoid = make("Sigmoid")'
    assert line_of(mod.plain, "test::plain") == '@onnxplug.symbolic("test::plain")'
    assert line_of(mod.late, "test::late") == 'late = onnxplug.symbolic("test::late")(make("Tanh"))'


def test_a_local_function_registered_in_a_test_is_located_at_its_def():
    @onnxplug.symbolic("test::local")
    def local(g, x):
        return x

    (spec,) = local.__onnxplug_symbolic__
    assert spec.site is None  # not registered by a module-level statement
    where = SymbolicFunction(spec.key, spec.opset, local, "p").location
    assert where == f"{__file__}:{local.__code__.co_firstlineno}"


def test_the_registry_publishes_what_it_picked():
    from onnxplug.registry import Pick, observe_picks

    entries = [entry("aten::add", 7, "bare"), entry("aten::add.Tensor", 13, "overload")]
    seen: list[Pick] = []
    with observe_picks(seen.append):
        reg = Registry.build(entries, 11)
        assert pick(reg, "aten::add.Tensor") == "bare"  # the overload starts at 13
        assert pick(reg, "aten::add.Tensor") == "bare"  # cached: reported once
        assert reg.lookup("aten::mul.Tensor") is None
    assert Registry.build(entries, 11).lookup("aten::add.Tensor") is not None  # not observed
    assert [(p.key, p.opset, p.entry.fn.__qualname__) for p in reg.picks] == [
        ("aten::add.Tensor", 11, "bare")]
    assert seen == reg.picks
    assert reg.winner("aten::add.Tensor") is None  # exactly that key, no fallback
    assert reg.winner("aten::add").fn.__qualname__ == "bare"


def test_export_results_list_what_each_op_used(mlp):
    from onnxplug.registry import observe_picks

    seen = []
    with observe_picks(seen.append):
        r = export_and_compare(mlp, (torch.randn(2, 4),), opset=13)
    relu = [p for p in seen if p.key == "aten::relu.default"]
    assert relu and relu[0].opset == 13 and relu[0].entry.plugin == "opset"
    assert r.served["aten::relu.default"] == f"opset: {relu[0].entry.qualname}"


def test_failures_collect_declines_per_lowering_and_every_unsupported_op_for_one_error():
    from onnxplug.failures import Failures

    failures = Failures()
    failures.add_declined("sin-target", "aten::sin.default", "my_sin declined: not here")
    assert failures.lowering_failed and failures.declined_now == {
        "sin-target": "my_sin declined: not here"}
    assert failures.accept_declines() == {"sin-target"}  # new: decompose it and lower again
    assert not failures.lowering_failed and failures.declined == {
        "sin-target": "my_sin declined: not here"}
    failures.add_declined("sin-target", "aten::sin.default", "declined again")
    assert failures.accept_declines() == set()  # nothing new: decomposing cannot help
    failures.add_unsupported("aten::sin.default", "model.py:3")
    failures.add_unsupported("aten::sin.default", "model.py:4")
    error = failures.error(Registry.build([entry("aten::sin", 9, "v9")], 7), 7, ["opset"])
    assert isinstance(error, onnxplug.UnsupportedOperatorError)
    (op,) = error.ops
    assert (op.key, op.locations, op.available_opsets) == (
        "aten::sin.default", ("model.py:3", "model.py:4"), (9,))
    assert "my_sin declined: not here" in str(error) and "opset_version>=9" in str(error)

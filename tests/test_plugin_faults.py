"""Faulty third-party plugins: each fault names the distribution, and other exports still work.

Real distributions are pip-installed into a temporary folder (tests/plugin_install.py) and found
through their entry points in this process (the folder is put on ``sys.path`` and the plugins
reloaded). Each faulty plugin is loaded next to the opset plugin and the good test plugin; the
fault is a warning naming the faulty plugin's distribution and the error (with
``ONNXPLUG_STRICT=1``, a ``PluginError``), the faulty plugin is dropped whole, and an export
afterwards is checked, run in onnxruntime and compared with eager PyTorch.
"""

from __future__ import annotations

import textwrap
import warnings

import onnx
import pytest
import torch
from plugin_install import TEST_PLUGINS, install, write_plugin

import onnxplug
from onnxplug.errors import PluginError
from onnxplug.opsets import NEWEST_OPSET
from onnxplug.testing import assert_matches
from onnxplug.verify import run_onnxruntime

# A valid registration comes first in every faulty hook: dropping the plugin must drop it too.
_VALID = """
import torch
import onnxplug

def noop(g, x):
    return g.op("Identity", x)
"""

# slug -> (source of the plugin's package, text the warning must contain)
FAULTS = {
    "key_no_namespace": ("""
        @onnxplug.hookimpl
        def onnxplug_register_symbolics(register):
            register(noop, key="fault_key_no_namespace::noop")
            register(noop, key="relu")
        """, "invalid op key 'relu'"),
    "key_not_a_string": ("""
        @onnxplug.hookimpl
        def onnxplug_register_symbolics(register):
            register(noop, key="fault_key_not_a_string::noop")
            register(noop, key=42)
        """, "invalid op key 42"),
    "opset_not_an_int": ("""
        @onnxplug.hookimpl
        def onnxplug_register_symbolics(register):
            register(noop, key="fault_opset_not_an_int::noop")
            register(noop, key="aten::relu", opset="13")
        """, "invalid opset '13'"),
    "opset_zero": ("""
        @onnxplug.hookimpl
        def onnxplug_register_symbolics(register):
            register(noop, key="fault_opset_zero::noop")
            register(noop, key="aten::relu", opset=0)
        """, "invalid opset 0"),
    "not_callable": ("""
        @onnxplug.hookimpl
        def onnxplug_register_symbolics(register):
            register(noop, key="fault_not_callable::noop")
            register("Relu", key="aten::relu")
        """, "'Relu', which is not callable"),
    "no_arguments": ("""
        def relu():
            return None

        @onnxplug.hookimpl
        def onnxplug_register_symbolics(register):
            register(noop, key="fault_no_arguments::noop")
            register(relu, key="aten::relu")
        """, "relu for aten::relu takes no positional parameter"),
    "keyword_only": ("""
        def relu(*, g, x):
            return None

        @onnxplug.hookimpl
        def onnxplug_register_symbolics(register):
            register(noop, key="fault_keyword_only::noop")
            register(relu, key="aten::relu")
        """, "takes no positional parameter"),
    "first_not_context": ("""
        def relu(x: torch.Tensor):
            return x

        @onnxplug.hookimpl
        def onnxplug_register_symbolics(register):
            register(noop, key="fault_first_not_context::noop")
            register(relu, key="aten::relu")
        """, "its first parameter 'x' is annotated"),
    "decorated_no_arguments": ("""
        @onnxplug.symbolic("aten::relu", opset=7)
        def relu():
            return None
        """, "failed to load: PluginError"),
    "symbolics_hook_raises": ("""
        @onnxplug.hookimpl
        def onnxplug_register_symbolics(register):
            register(noop, key="fault_symbolics_hook_raises::noop")
            raise RuntimeError("boom in the symbolics hook")
        """, "onnxplug_register_symbolics raised RuntimeError: boom in the symbolics hook"),
    "ir_passes_hook_raises": ("""
        @onnxplug.hookimpl
        def onnxplug_register_symbolics(register):
            register(noop, key="fault_ir_passes_hook_raises::noop")

        @onnxplug.hookimpl
        def onnxplug_register_ir_passes(register):
            raise ValueError("boom in the ir passes hook")
        """, "onnxplug_register_ir_passes raised ValueError: boom in the ir passes hook"),
    "fx_passes_hook_raises": ("""
        @onnxplug.hookimpl
        def onnxplug_register_symbolics(register):
            register(noop, key="fault_fx_passes_hook_raises::noop")

        @onnxplug.hookimpl
        def onnxplug_register_fx_passes(register):
            raise KeyError("boom")
        """, "onnxplug_register_fx_passes raised KeyError"),
    "custom_opsets_raises": ("""
        @onnxplug.hookimpl
        def onnxplug_register_symbolics(register):
            register(noop, key="fault_custom_opsets_raises::noop")

        @onnxplug.hookimpl
        def onnxplug_custom_opsets():
            raise RuntimeError("boom in custom opsets")
        """, "onnxplug_custom_opsets raised RuntimeError: boom in custom opsets"),
    "custom_opsets_wrong_value": ("""
        @onnxplug.hookimpl
        def onnxplug_register_symbolics(register):
            register(noop, key="fault_custom_opsets_wrong_value::noop")

        @onnxplug.hookimpl
        def onnxplug_custom_opsets():
            return ["com.example"]
        """, "it must return a dict of domain names to versions"),
}

# Loads, but its symbolic raises when an export reaches its op.
RAISING = """
import torch
import onnxplug

@torch.library.custom_op("fault_raising::boom", mutates_args=())
def boom(x: torch.Tensor) -> torch.Tensor:
    return x + 1

@boom.register_fake
def _(x):
    return torch.empty_like(x)

@onnxplug.symbolic("fault_raising::boom", opset=7)
def boom_symbolic(g, x):
    raise ZeroDivisionError("the plugin's conversion is broken")

@onnxplug.hookimpl
def onnxplug_register_symbolics(register):
    register(boom_symbolic)
"""

# One registration from an opset newer than onnx defines: skipped, the rest loads.
NEWER = f"""
import onnxplug

def noop(g, x):
    return g.op("Identity", x)

@onnxplug.hookimpl
def onnxplug_register_symbolics(register):
    register(noop, key="fault_newer::noop", opset=7)
    register(noop, key="fault_newer::future", opset={NEWEST_OPSET + 1})
"""


# An IR pass that raises at export time (it loads fine: the fault shows only when it runs).
PASS_RAISES = """
import onnxplug

def explode(model, context):
    raise ValueError("this pass is broken on purpose")

@onnxplug.hookimpl
def onnxplug_register_ir_passes(register):
    register(explode, order=600, name="explode")
"""


def _dist(slug: str) -> str:
    return f"onnxplug-fault-{slug.replace('_', '-')}"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    folders = [write_plugin(root, _dist(slug), f"onnxplug_fault_{slug}", _VALID + textwrap.dedent(source),
                            entry_point=slug) for slug, (source, _) in FAULTS.items()]
    folders.append(write_plugin(root, _dist("raising"), "onnxplug_fault_raising", RAISING,
                                entry_point="raising"))
    folders.append(write_plugin(root, _dist("newer"), "onnxplug_fault_newer", NEWER,
                                entry_point="newer"))
    folders.append(write_plugin(root, _dist("pass-raises"), "onnxplug_fault_pass_raises", PASS_RAISES,
                                entry_point="pass_raises"))
    return install(tmp_path_factory.mktemp("site"), *folders, TEST_PLUGINS / "good_plugin",
                   TEST_PLUGINS / "broken_plugin")


@pytest.fixture
def plugins(site, monkeypatch):
    """``use("a,b")`` loads the opset plugin, the good test plugin and ``a,b`` from ``site``."""
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("ONNXPLUG_DISABLE", raising=False)
    monkeypatch.delenv("ONNXPLUG_STRICT", raising=False)

    def use(names: str, strict: bool = False):
        monkeypatch.setenv("ONNXPLUG_PLUGINS", f"opset,good,{names}")
        if strict:
            monkeypatch.setenv("ONNXPLUG_STRICT", "1")
        onnxplug.reload_plugins()
        return onnxplug.load_plugins()

    yield use
    monkeypatch.undo()
    onnxplug.reload_plugins()


class _UsesGood(torch.nn.Module):
    def forward(self, x):
        return torch.ops.good_test.triple(x).relu() - x.tanh()


def _export_still_works(tmp_path):
    """An export with the good plugin's op and standard ops: checked, run, equal to eager."""
    import onnxplug_good  # noqa: F401  (its custom op)

    model, x = _UsesGood(), torch.randn(3, 5)
    result = onnxplug.export(model, (x,), tmp_path / "after.onnx")
    onnx.checker.check_model(str(tmp_path / "after.onnx"), full_check=True)
    assert_matches(model, (x,), run_onnxruntime(str(tmp_path / "after.onnx"), [x]))
    assert result.served["good_test::triple.default"].startswith("good:")
    assert result.served["aten::relu.default"].startswith("opset:")
    return result


@pytest.mark.parametrize("slug", sorted(FAULTS))
def test_fault_is_a_warning_naming_the_distribution(plugins, tmp_path, slug):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = plugins(slug)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    mine = [m for m in messages if _dist(slug) in m]
    assert len(mine) == 1, messages
    assert FAULTS[slug][1] in mine[0], mine[0]
    assert "ONNXPLUG_STRICT=1" in mine[0]
    assert [b.distribution for b in loaded.broken] == [_dist(slug)]
    names = [p.name for p in loaded.plugins]
    assert slug not in names and {"opset", "good"} <= set(names)
    # dropped whole: the valid registration made before the fault is not used either
    assert not [e for e in loaded.symbolics if e.plugin == slug]
    assert not loaded.pm.has_plugin(slug)
    assert "com.example" not in loaded.opset_versions
    result = _export_still_works(tmp_path)
    assert not any(_dist(slug) in w for w in result.warnings)


@pytest.mark.parametrize("slug", sorted(FAULTS))
def test_fault_is_an_error_when_strict(plugins, slug):
    with pytest.raises(PluginError, match=rf"{_dist(slug)} 0\.1.*ONNXPLUG_STRICT is set") as info:
        plugins(slug, strict=True)
    assert FAULTS[slug][1] in str(info.value)


def test_import_failure_names_the_distribution_and_others_load(plugins, tmp_path):
    with pytest.warns(RuntimeWarning, match="onnxplug-broken-test-plugin 0.0.1 failed to load: "
                                            "ImportError: this plugin is broken on purpose"):
        loaded = plugins("broken")
    assert [b.distribution for b in loaded.broken] == ["onnxplug-broken-test-plugin"]
    _export_still_works(tmp_path)


def test_several_faulty_plugins_at_once(plugins, tmp_path):
    slugs = ["key_no_namespace", "symbolics_hook_raises", "custom_opsets_raises", "broken"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = plugins(",".join(slugs))
    text = "\n".join(str(w.message) for w in caught)
    for slug in slugs[:3]:
        assert _dist(slug) in text
    assert sorted(b.distribution for b in loaded.broken) == sorted(
        [_dist(s) for s in slugs[:3]] + ["onnxplug-broken-test-plugin"])
    _export_still_works(tmp_path)


def test_registration_beyond_the_newest_opset_is_skipped(plugins, tmp_path):
    with pytest.warns(RuntimeWarning, match=rf"{_dist('newer')} 0\.1 registered "
                                            rf"fault_newer::future from opset {NEWEST_OPSET + 1}"):
        loaded = plugins("newer")
    mine = {e.key for e in loaded.symbolics if e.plugin == "newer"}
    assert mine == {"fault_newer::noop"} and not loaded.broken
    _export_still_works(tmp_path)
    with pytest.raises(PluginError, match="fault_newer::future.*ONNXPLUG_STRICT is set"):
        plugins("newer", strict=True)


class _UsesBoom(torch.nn.Module):
    def forward(self, x):
        y = x.sin()
        return torch.ops.fault_raising.boom(y)  # the line the error must name


def test_symbolic_raising_breaks_only_exports_that_reach_its_op(plugins, tmp_path):
    loaded = plugins("raising")
    assert not loaded.broken
    _export_still_works(tmp_path)  # the plugin is loaded and does not get in the way
    import onnxplug_fault_raising  # noqa: F401  (its custom op)

    target = tmp_path / "boom.onnx"
    with pytest.raises(onnxplug.OnnxExporterError) as info:
        onnxplug.export(_UsesBoom(), (torch.randn(4),), target)
    msg = str(info.value)
    line = _UsesBoom.forward.__code__.co_firstlineno + 2
    assert "fault_raising::boom.default" in msg
    assert f"plugin 'raising' ({_dist('raising')} 0.1)" in msg
    assert f"{__file__}:{line}" in msg
    assert "ZeroDivisionError: the plugin's conversion is broken" in msg
    assert not target.exists()


# -- the same checks where a user registers in-process -------------------------------------------
def _no_args():
    return None


def _annotated(x: torch.Tensor):
    return x


@pytest.mark.parametrize("fn, words", [
    ("Relu", "is not callable"), (_no_args, "takes no positional parameter"),
    (_annotated, "its first parameter 'x' is annotated"),
])
def test_register_symbolic_and_the_decorator_check_the_function(fn, words):
    with pytest.raises(PluginError, match=words):
        onnxplug.register_symbolic("aten::relu", fn)
    if callable(fn):
        with pytest.raises(PluginError, match=words):
            onnxplug.symbolic("aten::relu")(fn)


def test_a_graph_context_annotation_and_star_args_are_accepted():
    def typed(g: onnxplug.GraphContext, x):
        return g.op("Relu", x)

    def star(*args):
        return args[0].op("Relu", args[1])

    for fn in (typed, star):
        onnxplug.register_symbolic("aten::relu", fn)
        try:
            model, x = torch.nn.ReLU(), torch.randn(5)
            result = onnxplug.export(model, (x,), None)
            assert result.served["aten::relu.default"].startswith("<runtime>")
            assert_matches(model, (x,), run_onnxruntime(result.model, [x]))
        finally:
            onnxplug.unregister_symbolic("aten::relu")


def test_a_pass_that_raises_names_its_plugin_and_writes_nothing(plugins, tmp_path):
    """A pass runs on every export, so its crash fails the export (it may have changed the model
    in place), as a PluginError naming the pass, the plugin and its distribution; no file is
    written. Without the plugin the same export works."""
    plugins("pass_raises")
    target = tmp_path / "model.onnx"
    with pytest.raises(PluginError, match=r"IR pass 'explode' of plugin 'pass_raises' "
                                          r"\(onnxplug-fault-pass-raises 0\.1\) failed: ValueError: "
                                          r"this pass is broken on purpose") as info:
        onnxplug.export(torch.nn.ReLU(), (torch.randn(2, 3),), target)
    assert "ONNXPLUG_DISABLE=pass_raises" in str(info.value)
    assert not target.exists() and list(tmp_path.iterdir()) == []
    plugins("")
    _export_still_works(tmp_path)

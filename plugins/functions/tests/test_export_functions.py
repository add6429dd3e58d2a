"""export_modules_as_functions: False, True, a set of types; nesting, identity, sharing.

Every model is checked by onnx.checker, run in onnxruntime and compared with eager PyTorch and
with the flat export (the ``both`` fixture, see conftest.py).
"""

from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
import torch
from functions_testing import calls, functions_by_name
from function_models import (FeedForward, Gates, Gcds, Layer, Scale, Scales, Shared,
                             TwoAnnotated, conv, encoder)

import onnxplug

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
x8 = torch.randn(2, 5, 8)


def test_false_is_flat(both):
    fn, flat = both(encoder(), (x8,), functions=False)
    assert not fn.model.functions and not flat.model.functions
    assert {n.domain for n in fn.model.graph.node} == {""}


def test_true_every_module_call_nested(both):
    fn, flat = both(encoder(2), (x8,))
    funcs = functions_by_name(fn.model)
    assert set(funcs) == {"Layer", "LayerNorm", "FeedForward", "Linear", "GELU"}
    # the graph is the root module: calls of the layers and the final norm, nothing else
    assert [n.op_type for n in fn.model.graph.node] == ["Layer", "Layer", "LayerNorm"]
    assert [n.op_type for n in funcs["Layer"].node] == ["LayerNorm", "FeedForward", "Add"]
    assert [n.op_type for n in funcs["FeedForward"].node] == ["Linear", "GELU", "Linear"]
    assert [n.op_type for n in funcs["Linear"].node] == ["MatMul", "Add"]
    # each body imports the domains of the functions it calls
    layer_domains = {o.domain for o in funcs["Layer"].opset_import}
    assert {Layer.__module__, "torch.nn.modules.normalization"} <= layer_domains
    model_domains = {o.domain: o.version for o in fn.model.opset_import}
    assert all(model_domains[f.domain] == 1 for f in fn.model.functions)


def test_set_of_types_only_those(both):
    fn, _ = both(encoder(2), (x8,), functions={FeedForward})
    funcs = functions_by_name(fn.model)
    assert set(funcs) == {"FeedForward"}
    ops = [n.op_type for n in funcs["FeedForward"].node if n.op_type != "Constant"]
    assert ops.count("MatMul") == 2 and "Erf" in ops
    assert len(calls(fn.model, "FeedForward")) == 2
    fn, _ = both(encoder(2), (x8,), functions={torch.nn.LayerNorm, torch.nn.Linear})
    assert set(functions_by_name(fn.model)) == {"LayerNorm", "Linear"}
    assert len(calls(fn.model, "Linear")) == 4 and len(calls(fn.model, "LayerNorm")) == 3


def test_set_names_exact_types(both):
    class MyLinear(torch.nn.Linear):
        pass

    model = torch.nn.Sequential(MyLinear(4, 4), torch.nn.Linear(4, 4)).eval()
    fn, _ = both(model, (torch.randn(2, 4),), functions={torch.nn.Linear})
    assert len(calls(fn.model, "Linear")) == 1
    assert "MyLinear" not in functions_by_name(fn.model)


def test_a_type_the_model_never_calls_is_reported(both):
    fn, _ = both(encoder(1), (x8,), functions={torch.nn.Conv2d, FeedForward})
    assert set(functions_by_name(fn.model)) == {"FeedForward"}
    assert any("torch.nn.modules.conv.Conv2d" in w and "no module of type" in w
               for w in fn.result.warnings), fn.result.warnings


def test_a_program_without_module_calls_is_reported(both):
    fn, _ = both(lambda x: x.relu() + 1, (torch.randn(3),))
    assert not fn.model.functions
    assert any("records no nn.Module calls" in w for w in fn.result.warnings)


def test_opset_below_15_is_refused_before_any_work(tmp_path):
    with pytest.raises(onnxplug.OptionError, match="opset_version >= 15"):
        onnxplug.export(encoder(), (x8,), tmp_path / "m.onnx", opset_version=14,
                        export_modules_as_functions=True)
    assert not (tmp_path / "m.onnx").exists()


def test_domain_and_name_from_the_class(both):
    fn, _ = both(encoder(2), (x8,))
    funcs = {(f.domain, f.name) for f in fn.model.functions}
    assert (Layer.__module__, "Layer") in funcs
    assert ("torch.nn.modules.linear", "Linear") in funcs
    for f in fn.model.functions:
        assert IDENT.match(f.name), f.name
        assert all(IDENT.match(part) for part in f.domain.split(".")), f.domain


def test_local_class_names_are_identifiers(both):
    class Inner(torch.nn.Module):
        def forward(self, x):
            return x.sin() + 1

    model = torch.nn.Sequential(Inner(), torch.nn.ReLU()).eval()
    fn, _ = both(model, (torch.randn(3),))
    f = functions_by_name(fn.model)["Inner"]
    # "<locals>" is dropped: domain = module + the defining function
    assert f.domain == f"{__name__}.test_local_class_names_are_identifiers"


def test_identity_stable_across_runs():
    first = onnxplug.export(encoder(3), (x8,), export_modules_as_functions=True).model
    second = onnxplug.export(encoder(3), (x8,), export_modules_as_functions=True).model
    assert [f.SerializeToString() for f in first.functions] == \
        [f.SerializeToString() for f in second.functions]
    assert [(n.op_type, n.domain, list(n.input)) for n in first.graph.node] == \
        [(n.op_type, n.domain, list(n.input)) for n in second.graph.node]


def test_repeated_layers_share_one_function(both):
    fn, flat = both(encoder(12), (x8,))
    funcs = functions_by_name(fn.model)
    assert [f.name for f in fn.model.functions if re.match(r"Layer(_\d+)?$", f.name)] == ["Layer"]
    assert len(calls(fn.model, "Layer")) == 12
    # Linear is called twice per layer, from inside the one FeedForward body
    assert len(calls(fn.model, "Linear")) == 2
    assert len(funcs["Layer"].node) == 3
    assert len(fn.model.SerializeToString()) < len(flat.model.SerializeToString()) * 1.05


def test_function_count_does_not_grow_with_depth():
    counts = []
    for depth in (2, 6):
        model = onnxplug.export(encoder(depth), (x8,), export_modules_as_functions=True).model
        onnx.checker.check_model(model, full_check=True)
        counts.append(len(model.functions))
    assert counts[0] == counts[1]


def test_different_structures_get_distinct_names(both):
    fn, _ = both(Gates().eval(), (torch.randn(2, 8),))
    gates = sorted(f.name for f in fn.model.functions if f.name.startswith("Gate"))
    assert gates == ["Gate", "Gate_1"]
    ops = [n.op_type for n in fn.model.graph.node]
    assert ops == ["Gate", "Gate_1", "Gate"]
    bodies = {f.name: [n.op_type for n in f.node] for f in fn.model.functions}
    assert "Sigmoid" in bodies["Gate"] and "Sigmoid" not in bodies["Gate_1"]


def test_one_module_called_twice_shares_its_function(both):
    fn, _ = both(Shared().eval(), (torch.randn(2, 8),))
    assert [n.op_type for n in fn.model.graph.node] == ["FeedForward", "FeedForward"]
    assert len(fn.model.graph.node[0].input) == 5  # x and the four parameters
    assert list(fn.model.graph.node[0].input[1:]) == list(fn.model.graph.node[1].input[1:])


def test_annotated_attributes_on_each_call(both):
    fn, _ = both(TwoAnnotated().eval(), (torch.randn(2, 4),))
    f = functions_by_name(fn.model)["Annotated"]
    assert {"alpha", "name", "dims", "count", "enabled"} <= set(f.attribute)
    first, second = calls(fn.model, "Annotated")
    a1 = {a.name: onnx.helper.get_attribute_value(a) for a in first.attribute}
    a2 = {a.name: onnx.helper.get_attribute_value(a) for a in second.attribute}
    assert a1["alpha"] == pytest.approx(0.5) and a2["alpha"] == pytest.approx(2.0)
    assert a1["name"] == b"first" and a2["name"] == b"second"
    assert a1["dims"] == [1, 2] and a1["count"] == 3 and a1["enabled"] == 1
    # both calls share one body: the annotated values describe the call, the body does not use them
    assert len([g for g in fn.model.functions if g.name.startswith("Annotated")]) == 1


def test_torch_module_annotations(both):
    fn, _ = both(encoder(1), (x8,))
    linear = calls(fn.model, "Linear")[0]
    values = {a.name: onnx.helper.get_attribute_value(a) for a in linear.attribute}
    assert values["in_features"] == 8 and values["out_features"] == 16
    norm = calls(fn.model, "LayerNorm")[0]
    values = {a.name: onnx.helper.get_attribute_value(a) for a in norm.attribute}
    assert values["normalized_shape"] == [8] and values["eps"] == pytest.approx(1e-5)


def test_values_that_differ_become_inferred_attributes(both):
    fn, _ = both(Scales().eval(), (torch.randn(2, 3),))
    scales = [f for f in fn.model.functions if f.name.startswith("Scale")]
    assert len(scales) == 1
    f = scales[0]
    assert list(f.attribute) == ["inferred::Constant_value"]
    const = next(n for n in f.node if n.op_type == "Constant")
    assert const.attribute[0].ref_attr_name == "inferred::Constant_value"
    values = [float(onnx.numpy_helper.to_array(n.attribute[0].t))
              for n in fn.model.graph.node if n.op_type == "Scale"]
    assert values == [0.5, 0.25, 0.5]


def test_values_shared_by_every_call_stay_in_the_body(both):
    fn, _ = both(torch.nn.Sequential(Scale(0.5), Scale(0.5)).eval(), (torch.randn(3),))
    f = functions_by_name(fn.model)["Scale"]
    assert not f.attribute
    assert any(n.op_type == "Constant" and not n.attribute[0].ref_attr_name for n in f.node)


def test_nodes_with_subgraphs_move_into_the_body(both):
    a, b = torch.tensor([12, 18, 7, 0, -9]), torch.tensor([8, 27, 14, 5, 6])
    fn, _ = both(Gcds().eval(), (a, b))
    (gcd,) = fn.model.functions
    assert [n.op_type for n in fn.model.graph.node] == ["Gcd"] * 3
    assert "Loop" in [n.op_type for n in gcd.node]
    assert list(gcd.attribute) == ["inferred::Constant_value"]  # k = 2, 3, 2


def test_parameters_are_inputs_not_baked_in(both):
    fn, flat = both(encoder(2), (x8,))
    linear = functions_by_name(fn.model)["Linear"]
    # the layer's own parameter names (the weight is pre-transposed by constant folding)
    assert [name.split("_")[0] for name in list(linear.input)[1:]] == ["weight", "bias"]
    assert all(n.op_type != "Constant" or n.attribute[0].t.dims in ([], [1])
               for f in fn.model.functions for n in f.node if n.attribute and n.attribute[0].t)
    # every parameter is still a graph initializer; only small non-parameter constants (a
    # shared sqrt(2), say) may have moved into the bodies
    params = set(encoder(2).state_dict())
    init = {i.name for i in fn.model.graph.initializer}
    flat_init = {i.name for i in flat.model.graph.initializer}
    assert init <= flat_init
    assert all(i.name not in params and np.prod(i.dims) <= 16
               for i in flat.model.graph.initializer if i.name not in init)
    layer_call = fn.model.graph.node[0]
    assert {"layers.0.ff.up.weight", "layers.0.norm.weight"} & set(layer_call.input)


def test_export_params_false(both):
    model = encoder(2)
    fn, flat = both(model, (x8,), export_params=False)
    assert not fn.model.graph.initializer
    assert [i.name for i in fn.model.graph.input] == [i.name for i in flat.model.graph.input]
    assert len(fn.model.graph.input) == 1 + len(model.state_dict())


def test_keep_initializers_as_inputs(both):
    fn, flat = both(encoder(2), (x8,), keep_initializers_as_inputs=True)
    names = {i.name for i in fn.model.graph.input}
    assert {i.name for i in fn.model.graph.initializer} <= names
    assert names == {i.name for i in flat.model.graph.input}


def test_dynamic_axes(both):
    fn, _ = both(encoder(2), (x8,), input_names=["x"], output_names=["y"],
                 dynamic_axes={"x": {0: "batch", 1: "seq"}, "y": {0: "batch", 1: "seq"}},
                 run_inputs=(torch.randn(3, 7, 8),))
    dims = fn.model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims[:2]] == ["batch", "seq"]
    assert len(calls(fn.model, "Layer")) == 2


def test_without_constant_folding(both):
    fn, _ = both(conv(), (torch.randn(1, 3, 6, 6),), do_constant_folding=False)
    assert calls(fn.model, "Conv2d")
    fn, _ = both(conv(), (torch.randn(1, 3, 6, 6),))
    # blocks.0 and blocks.1 share a body; the stem's Conv2d has other annotated values
    # (in_channels=3), which its body's call node carries, so it is another variant
    assert len(calls(fn.model, "Sequential")) == 2
    assert len(calls(fn.model, "Sequential_1")) == len(calls(fn.model, "Sequential_2")) == 1


def test_cnn_blocks_share(both):
    fn, _ = both(conv(), (torch.randn(2, 3, 6, 6),), functions={torch.nn.Sequential})
    seqs = sorted(f.name for f in fn.model.functions)
    # stem and the two inner blocks share one body; `blocks` (two calls inside) is another
    assert seqs == ["Sequential", "Sequential_1"]


def test_custom_domain_ops(both):
    pytest.importorskip("onnxplug_contrib")
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.GELU()).eval()
    fn, _ = both(model, (torch.randn(2, 4),), custom_opsets={"com.microsoft": 1})
    gelu = functions_by_name(fn.model)["GELU"]
    assert [(n.domain, n.op_type) for n in gelu.node] == [("com.microsoft", "Gelu")]
    assert {o.domain: o.version for o in gelu.opset_import}["com.microsoft"] == 1


def test_fused_onnxruntime_ops_keep_the_model_checkable(both):
    """com.microsoft ops have no onnx schema, so onnx cannot type their outputs inside a
    function body: a module call whose body would read one stays plain, with a warning."""
    pytest.importorskip("onnxplug_contrib")
    fn, flat = both(encoder(3), (x8,), custom_opsets={"com.microsoft": 1})
    fused = {n.op_type for n in flat.model.graph.node if n.domain == "com.microsoft"}
    assert fused, "the contrib fusions ran"
    everywhere = list(fn.model.graph.node) + [n for f in fn.model.functions for n in f.node]
    assert fused == {n.op_type for n in everywhere if n.domain == "com.microsoft"}
    assert fn.model.functions
    assert any("onnx cannot infer the type of" in w for w in fn.result.warnings)


def test_exported_program_input(both):
    ep = torch.export.export(encoder(2), (x8,))
    model = onnxplug.export(ep, (x8,), export_modules_as_functions=True).model
    onnx.checker.check_model(model, full_check=True)
    funcs = {f.name: f.domain for f in model.functions}
    assert funcs["Layer"] == Layer.__module__
    from onnxplug.testing import assert_matches
    from onnxplug.verify import run_onnxruntime

    assert_matches(encoder(2), (x8,), run_onnxruntime(model, [x8]), rtol=1e-3, atol=1e-5)


def test_training_mode_dropout(both):
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.0), torch.nn.ReLU())
    fn, _ = both(model.eval(), (torch.randn(2, 4),),
                 training=onnxplug.TrainingMode.PRESERVE)
    assert "Linear" in functions_by_name(fn.model)


def test_the_pass_runs_after_passes_that_rewrite_nodes():
    loaded = onnxplug.load_plugins()
    assert "export_modules_as_functions" in loaded.provided_features()
    names = [p.name for p in loaded.ir_passes]
    later = names[names.index("export_modules_as_functions") + 1:]
    # only passes known to keep local functions run after it
    assert set(later) <= {"topological_sort", "remove_unused_opsets", "name_fix"}, later

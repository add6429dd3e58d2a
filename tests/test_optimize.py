"""The graph-quality IR passes (onnxplug.optimize): fewer nodes, the same numbers.

Every model is exported through ``onnxplug.export``, checked by onnx.checker, run in onnxruntime
and compared with eager PyTorch; the structure of the graph says that the pass did its job.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import onnx
import onnx_ir as ir
import pytest
import torch
from torch import nn

import onnxplug
from onnxplug import TrainingMode
from onnxplug.optimize import (OPTIMIZE_PASSES, PENDING_PASSES, EliminateNoOpsPass, FoldConstantsPass,
                               FuseMatMulAddPass, enable_pending)
from onnxplug.options import ExportOptions
from onnxplug.plugins import load_plugins
from onnxplug.testing import export_and_compare, export_and_run

ATOL = 1e-4


@pytest.fixture(autouse=True)
def every_optimize_pass():
    """Run this module's exports with the passes not yet registered by default as well."""
    with enable_pending(load_plugins()):
        yield


@contextlib.contextmanager
def unoptimized():
    """Exports without the passes of onnxplug.optimize: the graph they start from."""
    loaded = load_plugins()
    saved = list(loaded.ir_passes)
    names = {name for _, _, name in OPTIMIZE_PASSES + PENDING_PASSES}
    loaded.ir_passes[:] = [p for p in saved if p.name not in names]
    try:
        yield
    finally:
        loaded.ir_passes[:] = saved


def op_types(result) -> list[str]:
    return [n.op_type for n in result.model.graph.node]


def count(result, op: str) -> int:
    return op_types(result).count(op)


def seeded(module: nn.Module) -> nn.Module:
    """Give every BatchNorm non-trivial statistics, so that folding them is really tested."""
    g = torch.Generator().manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g))
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(torch.randn(m.num_features, generator=g))
    return module.eval()


class ConvBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 4, 1), nn.BatchNorm2d(4))

    def forward(self, x):
        return self.features(x)


class SharedConvOutput(nn.Module):
    """The Conv's output is read by the BatchNorm and by another node: not foldable."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


# --------------------------------------------------------------------------- Conv + BN

def test_batchnorm_folds_into_conv_in_eval_mode():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 16, 16)
    folded = export_and_compare(seeded(ConvBN()), (x,), atol=ATOL, output_names=["features"])
    plain = export_and_compare(seeded(ConvBN()), (x,), atol=ATOL, do_constant_folding=False)
    assert "BatchNormalization" not in op_types(folded)
    assert count(folded, "Conv") == 3 and len(folded.model.graph.node) < len(plain.model.graph.node)
    assert count(plain, "BatchNormalization") == 3
    # the last BatchNorm's output was the graph output: its name stays
    assert [o.name for o in folded.model.graph.output] == ["features"]
    # the folded weights replace the originals, which are no longer stored
    names = {i.name for i in folded.model.graph.initializer}
    assert not any(n.startswith("features.1.") for n in names)


@pytest.mark.parametrize("opset", [9, 13, 17])
def test_batchnorm_folding_at_several_opsets(opset):
    torch.manual_seed(0)
    r = export_and_compare(seeded(ConvBN()), (torch.randn(1, 3, 8, 8),), opset=opset, atol=ATOL)
    assert "BatchNormalization" not in op_types(r)


def test_batchnorm_is_not_folded_when_the_conv_output_is_shared():
    torch.manual_seed(0)
    r = export_and_compare(seeded(SharedConvOutput()), (torch.randn(1, 3, 8, 8),), atol=ATOL)
    assert count(r, "BatchNormalization") == 1


@pytest.mark.parametrize("kwargs", [
    {"keep_initializers_as_inputs": True},
    {"export_params": False},
    {"do_constant_folding": False},
], ids=["initializers-as-inputs", "no-params", "no-folding"])
def test_batchnorm_is_kept_where_weights_are_inputs(kwargs):
    torch.manual_seed(0)
    r = export_and_compare(seeded(ConvBN()), (torch.randn(2, 3, 8, 8),), atol=ATOL, **kwargs)
    assert count(r, "BatchNormalization") == 3


def test_training_mode_keeps_the_batch_statistics():
    torch.manual_seed(0)
    model = seeded(ConvBN()).train()
    r = export_and_compare(model, (torch.randn(2, 3, 8, 8),), atol=ATOL, training=TrainingMode.TRAINING)
    # not folded into the Conv: one training-mode BatchNormalization per BatchNorm, each with
    # its two updated running statistics as graph outputs
    assert count(r, "Conv") == 3 and count(r, "BatchNormalization") == 3
    assert len(r.state_outputs) == 6 and len(r.model.graph.output) == 1 + 6


def test_folding_does_not_mutate_shared_weights():
    """Two convs share one weight; only one is followed by a BatchNorm."""

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3)

        def forward(self, x):
            return self.bn(self.conv(x)), self.conv(x * 2)

    torch.manual_seed(0)
    r = export_and_compare(seeded(Shared()), (torch.randn(1, 3, 4, 4),), atol=ATOL)
    assert "BatchNormalization" not in op_types(r)


# --------------------------------------------------------------------------- MatMul + Add

class ExplicitLinear(nn.Module):
    """``x @ W + b`` written out, as models not using nn.Linear do."""

    def __init__(self, bias_shape=(8,)):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 8))
        self.b = nn.Parameter(torch.randn(*bias_shape))
        self.w2 = nn.Parameter(torch.randn(8, 3))

    def forward(self, x):
        return torch.relu(x @ self.w + self.b) @ self.w2


@pytest.mark.parametrize("opset", [7, 9, 11, 17])
@pytest.mark.parametrize("bias_shape", [(8,), (1, 8), (5, 8)])
def test_matmul_add_becomes_gemm(opset, bias_shape):
    torch.manual_seed(0)
    r = export_and_compare(ExplicitLinear(bias_shape).eval(), (torch.randn(5, 4),), opset=opset, atol=ATOL)
    assert count(r, "Gemm") == 1 and count(r, "Add") == 0


def test_matmul_add_stays_when_a_is_not_2d():
    torch.manual_seed(0)
    r = export_and_compare(ExplicitLinear().eval(), (torch.randn(2, 5, 4),), atol=ATOL)
    assert "Gemm" not in op_types(r) and count(r, "MatMul") == 2


def test_matmul_add_stays_when_the_bias_would_broadcast_the_result():
    class Broadcasts(nn.Module):
        def forward(self, x, y, c):
            return x @ y + c  # c is (3, 5, 8): the result is 3-D, Gemm's C cannot do that

    args = (torch.randn(5, 4), torch.randn(4, 8), torch.randn(3, 5, 8))
    r = export_and_compare(Broadcasts(), args, atol=ATOL)
    assert "Gemm" not in op_types(r)


def test_matmul_add_with_a_dynamic_batch():
    torch.manual_seed(0)
    model = ExplicitLinear().eval()
    r = export_and_compare(model, (torch.randn(5, 4),), input_names=["x"],
                           dynamic_axes={"x": {0: "batch"}}, run_inputs=(torch.randn(7, 4),), atol=ATOL)
    assert count(r, "Gemm") == 1


def test_integer_matmul_add_is_not_a_gemm():
    def fn(x, y):
        return x @ y + 1

    args = (torch.randint(0, 5, (3, 4)), torch.randint(0, 5, (4, 2)))
    r = export_and_compare(fn, args)
    assert "Gemm" not in op_types(r)


def test_gemm_rule_for_symbolic_bias_dims():
    """A bias dimension of unknown size may be 1 at run time or not: no Gemm."""
    a = ir.Value(name="a", type=ir.TensorType(ir.DataType.FLOAT), shape=ir.Shape([3, 4]))
    b = ir.Value(name="b", type=ir.TensorType(ir.DataType.FLOAT), shape=ir.Shape([4, 5]))
    c = ir.Value(name="c", type=ir.TensorType(ir.DataType.FLOAT), shape=ir.Shape(["n"]))
    mm = ir.Node("", "MatMul", [a, b])
    mm.outputs[0].type, mm.outputs[0].shape = ir.TensorType(ir.DataType.FLOAT), ir.Shape([3, 5])
    add = ir.Node("", "Add", [mm.outputs[0], c])
    add.outputs[0].name = "y"
    graph = ir.Graph([a, b, c], [add.outputs[0]], nodes=[mm, add], opset_imports={"": 17})
    result = FuseMatMulAddPass(ExportOptions())(ir.Model(graph, ir_version=8))
    assert not result.modified and [n.op_type for n in graph] == ["MatMul", "Add"]


# --------------------------------------------------------------------------- CSE

class Repeats(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        a = torch.sin(x) * 2 + torch.cos(x)
        b = torch.sin(x) * 2 + torch.cos(x)
        return self.fc(a) + self.fc(b)


def test_repeated_subexpressions_are_computed_once():
    torch.manual_seed(0)
    x = torch.randn(3, 4)
    r = export_and_compare(Repeats().eval(), (x,), atol=ATOL)
    assert count(r, "Sin") == 1 and count(r, "Cos") == 1 and count(r, "Gemm") == 1


def test_cse_keeps_every_graph_output_name():
    def fn(x):
        return torch.sin(x), torch.sin(x)

    r = export_and_compare(fn, (torch.randn(3),), output_names=["first", "second"])
    assert [o.name for o in r.model.graph.output] == ["first", "second"]


def test_cse_never_merges_random_ops():
    class TwoDropouts(nn.Module):
        def forward(self, x):
            return nn.functional.dropout(x, 0.5, training=True) + nn.functional.dropout(x, 0.5, training=True)

    x = torch.ones(64, 64)
    result, (out,) = export_and_run(TwoDropouts(), (x,), training=TrainingMode.TRAINING)
    assert count(result, "Dropout") == 2
    # the sum of two independent masks takes the values 0, 2 and 4 (merged masks: 0 and 4 only)
    assert set(out.flatten().tolist()) == {0.0, 2.0, 4.0}


# --------------------------------------------------------------------------- no-ops

def test_reshape_to_the_same_shape_is_removed():
    def fn(x):
        return x.reshape(3, 4) * 2

    r = export_and_compare(fn, (torch.randn(3, 4),))
    with unoptimized():
        plain = export_and_compare(fn, (torch.randn(3, 4),))
    assert "Reshape" in op_types(plain) and op_types(r) == ["Mul"]  # the 2 is an initializer


def test_noop_pass_removes_identity_and_same_type_cast():
    x = ir.Value(name="x", type=ir.TensorType(ir.DataType.FLOAT), shape=ir.Shape([2]))
    ident = ir.Node("", "Identity", [x])
    cast = ir.Node("", "Cast", [ident.outputs[0]], [ir.AttrInt64("to", ir.DataType.FLOAT.value)])
    other = ir.Node("", "Cast", [cast.outputs[0]], [ir.AttrInt64("to", ir.DataType.DOUBLE.value)])
    relu = ir.Node("", "Relu", [other.outputs[0]])
    relu.outputs[0].name, other.outputs[0].name = "y", "d"
    graph = ir.Graph([x], [relu.outputs[0]], nodes=[ident, cast, other, relu], opset_imports={"": 17})
    assert EliminateNoOpsPass(ExportOptions())(ir.Model(graph, ir_version=8)).modified
    assert [n.op_type for n in graph] == ["Cast", "Relu"] and graph[0].inputs[0] is x


def test_an_identity_between_two_outputs_keeps_both_names():
    def fn(x):
        y = torch.relu(x)
        return y, y.clone(), x.clone()

    r = export_and_compare(fn, (torch.randn(3),), output_names=["a", "b", "c"])
    assert [o.name for o in r.model.graph.output] == ["a", "b", "c"]


# --------------------------------------------------------------------------- shapes and constants

def shape_built_view(g, x, size):
    """A conversion written the dynamic way, as older exporters did: the target shape comes
    from Shape/Gather/Unsqueeze/Concat on the input, not from the example's sizes."""
    def unsqueeze(v):
        if g.opset < 13:
            return g.op("Unsqueeze", v, axes_is=[0])
        return g.op("Unsqueeze", v, g.constant([0]))

    batch = unsqueeze(g.op("Gather", g.op("Shape", x), g.constant(0), axis_i=0))
    rest = unsqueeze(g.op("Mul", g.op("Gather", g.op("Shape", x), g.constant(1), axis_i=0),
                          g.op("Gather", g.op("Shape", x), g.constant(2), axis_i=0)))
    return g.op("Reshape", x, g.op("Concat", batch, rest, axis_i=0))


class Flattens(nn.Module):
    def forward(self, x):
        return torch.relu(x).view(x.shape[0], -1) * 3


VIEW = {"aten::view": shape_built_view}


def test_static_shapes_fold_into_a_constant_reshape_target():
    x = torch.randn(2, 3, 4)
    plain = export_and_compare(Flattens(), (x,), custom_symbolics=VIEW, do_constant_folding=False)
    r = export_and_compare(Flattens(), (x,), custom_symbolics=VIEW)
    assert count(plain, "Shape") == 1 and count(plain, "Concat") == 1  # CSE merged the three
    assert "Shape" not in op_types(r) and "Concat" not in op_types(r)
    assert [n.op_type for n in r.model.graph.node if n.op_type != "Constant"] == ["Relu", "Reshape", "Mul"]


def test_folded_shapes_are_constant_nodes_when_initializers_are_inputs():
    """A folded value must not become an overridable graph input."""
    x = torch.randn(2, 3, 4)
    r = export_and_compare(Flattens(), (x,), custom_symbolics=VIEW, keep_initializers_as_inputs=True)
    assert "Shape" not in op_types(r) and "Concat" not in op_types(r)
    reshape = next(n for n in r.model.graph.node if n.op_type == "Reshape")
    producers = {o: n.op_type for n in r.model.graph.node for o in n.output}
    assert producers[reshape.input[1]] == "Constant"


def test_below_opset_9_integer_results_are_not_folded():
    """Constant holds only float tensors before opset 9, and initializers are inputs there."""
    x = torch.randn(2, 3, 4)
    r = export_and_compare(Flattens(), (x,), custom_symbolics=VIEW, opset=8)
    assert count(r, "Shape") >= 1


def test_dynamic_dims_stay_computed_and_static_ones_fold():
    x = torch.randn(2, 3, 4)
    r = export_and_compare(Flattens(), (x,), custom_symbolics=VIEW, input_names=["x"],
                           dynamic_axes={"x": {0: "batch"}}, run_inputs=(torch.randn(5, 3, 4),))
    ops = op_types(r)
    assert ops.count("Shape") == 1 and "Mul" in ops  # the batch size, read at run time
    assert len(ops) < len(export_and_compare(Flattens(), (x,), custom_symbolics=VIEW, input_names=["x"],
                                             dynamic_axes={"x": {0: "batch"}},
                                             do_constant_folding=False).model.graph.node)


def test_constant_chains_left_by_conversions_are_folded():
    def fn(x):
        mask = torch.arange(4) >= 2  # arange stays an op in lowering: the comparison follows it
        return x.masked_fill(mask, 0.0)

    r = export_and_compare(fn, (torch.randn(3, 4),))
    plain = export_and_compare(fn, (torch.randn(3, 4),), do_constant_folding=False)
    assert len(r.model.graph.node) < len(plain.model.graph.node)
    assert "GreaterOrEqual" not in op_types(r)


def test_constant_folding_never_folds_initializers_that_become_inputs():
    """With keep_initializers_as_inputs the weights can be fed at run time: nothing that reads
    them is precomputed."""
    model = ExplicitLinear().eval()
    torch.manual_seed(0)
    result = onnxplug.export(model, (torch.randn(5, 4),), None, keep_initializers_as_inputs=True)
    inputs = {i.name for i in result.model.graph.input}
    assert {"w", "b", "w2"} <= inputs


def test_constant_folding_pass_on_its_own():
    """The pass is an ordinary onnx_ir pass: it folds Add(Constant, Constant)."""
    x = ir.Value(name="x", type=ir.TensorType(ir.DataType.INT64), shape=ir.Shape([2]))
    c1 = ir.Node("", "Constant", [], [ir.AttrTensor("value", ir.tensor([1, 2]))])
    c2 = ir.Node("", "Constant", [], [ir.AttrTensor("value", ir.tensor([10, 20]))])
    add = ir.Node("", "Add", [c1.outputs[0], c2.outputs[0]])
    out = ir.Node("", "Mul", [x, add.outputs[0]])
    for v, n in ((c1.outputs[0], "c1"), (c2.outputs[0], "c2"), (add.outputs[0], "s"), (out.outputs[0], "y")):
        v.name = n
    add.outputs[0].type = ir.TensorType(ir.DataType.INT64)
    graph = ir.Graph([x], [out.outputs[0]], nodes=[c1, c2, add, out], opset_imports={"": 17})
    model = ir.Model(graph, ir_version=8)
    assert FoldConstantsPass(ExportOptions())(model).modified
    folded = out.inputs[1]
    assert folded.const_value is not None and folded.const_value.numpy().tolist() == [11, 22]


# --------------------------------------------------------------------------- local functions

def test_local_functions_and_their_calls_are_left_alone():
    """Bodies of model.functions are not rewritten, and two calls are never merged."""
    fx = ir.Value(name="fx", type=ir.TensorType(ir.DataType.FLOAT), shape=ir.Shape([2]))
    body = [ir.Node("", "Identity", [fx])]
    body.append(ir.Node("", "Relu", [body[0].outputs[0]]))
    body[1].outputs[0].name, body[0].outputs[0].name = "fy", "fi"
    function = ir.Function("local", "Block", "", graph=ir.Graph(
        [fx], [body[1].outputs[0]], nodes=body, opset_imports={"": 17}), attributes=[])
    x = ir.Value(name="x", type=ir.TensorType(ir.DataType.FLOAT), shape=ir.Shape([2]))
    calls = [ir.Node("local", "Block", [x]) for _ in range(2)]
    add = ir.Node("", "Add", [calls[0].outputs[0], calls[1].outputs[0]])
    for i, v in enumerate([calls[0].outputs[0], calls[1].outputs[0], add.outputs[0]]):
        v.name = f"v{i}"
    graph = ir.Graph([x], [add.outputs[0]], nodes=[*calls, add], opset_imports={"": 17, "local": 1})
    model = ir.Model(graph, ir_version=8, functions=[function])
    context = type("Context", (), {"options": ExportOptions(), "fx_nodes": {}})
    for fn, _, _ in OPTIMIZE_PASSES + PENDING_PASSES:
        fn(model, context)
    assert [n.op_type for n in graph] == ["Block", "Block", "Add"]
    assert [n.op_type for n in function] == ["Identity", "Relu"]


# --------------------------------------------------------------------------- layout chains

def test_transpose_pairs_and_reshape_pairs_collapse():
    def fn(x):
        t = x.permute(0, 2, 1).permute(2, 0, 1)  # one Transpose with the composed permutation
        back = x.permute(0, 2, 1).permute(0, 2, 1)  # the identity: no Transpose at all
        r = x.reshape(4, 6).reshape(2, 12)
        return t * 2, back + 1, r - 1

    x = torch.randn(2, 3, 4)
    r = export_and_compare(fn, (x,))
    with unoptimized():
        plain = export_and_compare(fn, (x,))
    assert count(plain, "Transpose") == 4 and count(plain, "Reshape") == 2
    assert count(r, "Transpose") == 1 and count(r, "Reshape") == 1


def test_a_transpose_read_twice_stays():
    def fn(x):
        t = x.permute(1, 0)
        return t.permute(1, 0) * 2, t + 1

    r = export_and_compare(fn, (torch.randn(3, 4),))
    assert count(r, "Transpose") == 1


# --------------------------------------------------------------------------- a whole model

def test_a_small_bert_loses_nodes_not_accuracy():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, vocab_size=100, max_position_embeddings=32)
    model = transformers.BertModel(config).eval()

    class LastHidden(nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = model

        def forward(self, ids):
            return self.bert(ids, return_dict=True).last_hidden_state

    ids = torch.randint(0, 100, (1, 16))
    r = export_and_compare(LastHidden().eval(), (ids,), atol=ATOL)
    with unoptimized():
        plain = export_and_compare(LastHidden().eval(), (ids,), atol=ATOL)
    assert len(r.model.graph.node) < len(plain.model.graph.node)
    assert count(r, "Transpose") < count(plain, "Transpose")  # the key's two transposes are one


# --------------------------------------------------------------------------- GELU

@pytest.mark.parametrize("opset", [9, 17])
def test_erf_gelu_is_written_the_way_onnxruntime_fuses_it(opset):
    import onnxruntime as ort

    class MLPGelu(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            return nn.functional.gelu(self.fc(x))

    torch.manual_seed(0)
    r = export_and_compare(MLPGelu().eval(), (torch.randn(4, 8),), opset=opset, atol=ATOL)
    producers = {o: n for n in r.model.graph.node for o in n.output}
    erf = next(n for n in r.model.graph.node if n.op_type == "Erf")
    assert producers[erf.input[0]].op_type == "Div"
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(Path(tempfile.mkdtemp()) / "optimized.onnx")
    ort.InferenceSession(r.model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    fused = onnx.load(opts.optimized_model_filepath)
    assert "Gelu" in {n.op_type for n in fused.graph.node} and "Erf" not in {n.op_type for n in fused.graph.node}


# --------------------------------------------------------------------------- residual sums

class ResidualNorm(nn.Module):
    """``LayerNorm(x + Linear(x))``: a BERT-style block end (post-norm), or, with ``pre_norm``,
    the sum also carried on as the next residual (GPT-2, ViT)."""

    def __init__(self, pre_norm: bool = False):
        super().__init__()
        self.fc, self.norm, self.pre_norm = nn.Linear(16, 16), nn.LayerNorm(16), pre_norm

    def forward(self, x):
        s = x + self.fc(x)
        return s + self.norm(s) if self.pre_norm else self.norm(s)


def _optimized_by_onnxruntime(result) -> list[str]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.optimized_model_filepath = str(Path(tempfile.mkdtemp()) / "optimized.onnx")
    ort.InferenceSession(result.model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return [n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node]


@pytest.mark.parametrize("pre_norm", [False, True])
@pytest.mark.parametrize("opset", [7, 13, 17])
def test_the_sum_before_a_layer_norm_stays_out_of_skip_layer_normalization(opset, pre_norm):
    # onnxruntime's CPU kernel for its own Add + LayerNormalization fusion is ~8x slower
    torch.manual_seed(0)
    kw = dict(opset=opset, atol=ATOL, input_names=["x"], output_names=["y"],
              dynamic_axes={"x": {0: "batch", 1: "seq"}}, run_inputs=(torch.randn(3, 7, 16),))
    r = export_and_compare(ResidualNorm(pre_norm).eval(), (torch.randn(2, 5, 16),), **kw)
    assert count(r, "Sum") == 1
    assert "SkipLayerNormalization" not in _optimized_by_onnxruntime(r)
    with unoptimized():
        plain = export_and_compare(ResidualNorm(pre_norm).eval(), (torch.randn(2, 5, 16),), **kw)
    assert count(plain, "Sum") == 0
    if opset >= 17 and not pre_norm:  # what the pass prevents
        assert "SkipLayerNormalization" in _optimized_by_onnxruntime(plain)


def test_an_add_of_different_shapes_before_a_layer_norm_stays_add():
    class BiasNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.bias, self.norm = nn.Parameter(torch.randn(16)), nn.LayerNorm(16)

        def forward(self, x):
            return self.norm(x + self.bias)

    torch.manual_seed(0)
    r = export_and_compare(BiasNorm().eval(), (torch.randn(2, 5, 16),), opset=17, atol=ATOL)
    assert count(r, "Sum") == 0 and count(r, "Add") == 1

"""Control flow: torch.cond -> If, while_loop -> Loop, scan / map -> Scan, associative_scan ->
Loop, invoke_subgraph inlined.

Each model is exported at every opset in ``OPSETS`` (If and Loop also at 7 and 8), checked with onnx.checker, run in
onnxruntime and compared with eager PyTorch on several inputs that take different paths (both
branches of a cond, several trip counts of a loop, several lengths of a scan). Branches and
bodies are lowered with the export's registry and opset; parameters, buffers and closures reach
them as outer-scope values.
"""

from __future__ import annotations

import inspect

import onnx
import pytest
import torch
from torch._higher_order_ops.associative_scan import associative_scan, associative_scan_op
from torch._higher_order_ops.invoke_subgraph import invoke_subgraph
from torch._higher_order_ops.map import map as hmap
from torch._higher_order_ops.scan import scan
from torch._higher_order_ops.while_loop import while_loop

from onnxplug import UnsupportedOperatorError, export
from onnxplug.testing import NEWEST_OPSET, assert_matches, export_and_compare, input_tensors
from onnxplug.verify import run_onnxruntime

OPSETS = [9, 11, 13, 17, 18, NEWEST_OPSET]


def check_paths(model, inputs, opset, *, op_type, rtol=1e-4, atol=1e-5, **export_kwargs):
    """Export at ``inputs[0]``; run the model on every input tuple and compare with eager."""
    result = export(model, inputs[0], None, opset_version=opset, **export_kwargs)
    proto = result.model
    onnx.checker.check_model(proto, full_check=True)
    assert any(n.op_type == op_type for n in proto.graph.node), [n.op_type for n in proto.graph.node]
    for args in inputs:
        outputs = run_onnxruntime(proto, input_tensors(args, None))
        assert_matches(model, args, outputs, rtol=rtol, atol=atol)
    return proto


def body_ops(proto: onnx.ModelProto) -> set[str]:
    """Op types inside every body graph of the model, nested ones included."""
    found: set[str] = set()

    def walk(graph, inside):
        for node in graph.node:
            if inside:
                found.add(node.op_type)
            for attr in node.attribute:
                for sub in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)):
                    walk(sub, True)
    walk(proto.graph, False)
    return found


# -- torch.cond -> If -----------------------------------------------------------------------
class CondBasic(torch.nn.Module):
    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda x: x.sin() * 2, lambda x: x.cos() - 1, (x,))


class CondParams(torch.nn.Module):
    """Branches use a Linear's weight, a parameter and a buffer (torch.export lifts them)."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)
        self.scale = torch.nn.Parameter(torch.randn(4))
        self.register_buffer("shift", torch.randn(4))

    def forward(self, x):
        def then_fn(x):
            return torch.relu(self.lin(x)) * self.scale

        def else_fn(x):
            return x * self.shift + self.scale

        return torch.cond(x.mean() > 0, then_fn, else_fn, (x,))


class CondMultiOut(torch.nn.Module):
    """Two operands, two outputs of different dtypes."""

    def forward(self, x, y):
        def then_fn(x, y):
            return x + y, (x > y).to(torch.int64).sum(0)

        def else_fn(x, y):
            return x * y, (x < y).to(torch.int64).sum(0)

        return torch.cond(x.sum() > y.sum(), then_fn, else_fn, (x, y))


class CondClosure(torch.nn.Module):
    """Branches close over an intermediate tensor, not passed as an operand."""

    def forward(self, x):
        h = x.exp()

        def then_fn(x):
            return x + h

        def else_fn(x):
            return x - h * 2

        return torch.cond(x[0, 0] > 0, then_fn, else_fn, (x,))


class CondNested(torch.nn.Module):
    """A cond inside each branch of a cond: four paths."""

    def forward(self, x):
        def inner_pos(x):
            return torch.cond(x.max() > 1, lambda x: x * 10, lambda x: x + 10, (x,))

        def inner_neg(x):
            return torch.cond(x.min() < -1, lambda x: x.abs(), lambda x: -x, (x,))

        return torch.cond(x.sum() > 0, inner_pos, inner_neg, (x,))


class CondOnShape(torch.nn.Module):
    """The predicate is a dynamic size: the batch decides the branch."""

    def forward(self, x):
        return torch.cond(x.shape[0] > 4, lambda x: x.sum(0, keepdim=True) + x,
                          lambda x: x * 3, (x,))


class CondDynamicData(torch.nn.Module):
    """A data predicate on a dynamic batch; branches reduce over the batch."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(3, 5))

    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda x: x @ self.w, lambda x: (x - x.mean(0)) @ self.w,
                          (x,))


@pytest.mark.parametrize("opset", OPSETS)
def test_cond_both_branches(opset):
    x = torch.randn(3, 4)
    proto = check_paths(CondBasic(), [(x.abs() + 0.1,), (-x.abs() - 0.1,)], opset, op_type="If")
    assert {"Sin", "Cos"} <= body_ops(proto)


@pytest.mark.parametrize("opset", OPSETS)
def test_cond_uses_parameters_and_buffers(opset):
    torch.manual_seed(0)
    x = torch.randn(2, 4)
    proto = check_paths(CondParams(), [(x.abs() + 0.1,), (-x.abs() - 0.1,)], opset, op_type="If")
    assert {"Gemm", "MatMul"} & body_ops(proto) and "Relu" in body_ops(proto)


@pytest.mark.parametrize("opset", OPSETS)
def test_cond_two_operands_two_outputs(opset):
    x, y = torch.randn(3, 4), torch.randn(3, 4)
    check_paths(CondMultiOut(), [(x + 5, y), (x, y + 5)], opset, op_type="If")


@pytest.mark.parametrize("opset", OPSETS)
def test_cond_closure(opset):
    x = torch.randn(2, 3)
    x1, x2 = x.clone(), x.clone()
    x1[0, 0], x2[0, 0] = 1.0, -1.0
    check_paths(CondClosure(), [(x1,), (x2,)], opset, op_type="If")


@pytest.mark.parametrize("opset", OPSETS)
def test_cond_nested(opset):
    base = torch.tensor([[0.5, 0.2], [0.3, 0.1]])
    paths = [(base * 4,), (base,), (-base * 4,), (-base,)]  # all four branch combinations
    proto = check_paths(CondNested(), paths, opset, op_type="If")
    nested = [a.g for n in proto.graph.node if n.op_type == "If" for a in n.attribute]
    assert all(any(m.op_type == "If" for m in g.node) for g in nested)


@pytest.mark.parametrize("opset", OPSETS)
def test_cond_on_dynamic_size(opset):
    x = torch.randn(3, 2)
    proto = check_paths(CondOnShape(), [(x,), (torch.randn(6, 2),), (torch.randn(2, 2),)], opset,
                        op_type="If", input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


@pytest.mark.parametrize("opset", OPSETS)
def test_cond_dynamic_batch(opset):
    torch.manual_seed(0)
    x = torch.randn(4, 3)
    inputs = [(x.abs(),), (-x.abs(),), (torch.randn(7, 3).abs(),), (-torch.randn(2, 3).abs(),)]
    check_paths(CondDynamicData(), inputs, opset, op_type="If", input_names=["x"],
                dynamic_axes={"x": {0: "batch"}})


# -- while_loop -> Loop ------------------------------------------------------------------
class WhileCount(torch.nn.Module):
    """Doubles x ``n`` times: the trip count is an input."""

    def forward(self, x, n):
        def cond_fn(i, x):
            return i < n

        def body_fn(i, x):
            return i + 1, x * 2 + 1

        return while_loop(cond_fn, body_fn, (torch.zeros((), dtype=torch.int64), x))


class WhileData(torch.nn.Module):
    """Runs until the data crosses a threshold: the trip count depends on the values."""

    def forward(self, x):
        def cond_fn(x, steps):
            return x.sum() < 100

        def body_fn(x, steps):
            return x * 1.5 + 1, steps + 1

        return while_loop(cond_fn, body_fn, (x, torch.zeros((), dtype=torch.int64)))


class WhileWithCond(torch.nn.Module):
    """A cond inside the body, a Linear's weight used by the body."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 3)

    def forward(self, x, n):
        def cond_fn(i, x):
            return i < n

        def body_fn(i, x):
            y = torch.cond(i % 2 == 0, lambda x: torch.tanh(self.lin(x)), lambda x: x * 0.5, (x,))
            return i + 1, y

        return while_loop(cond_fn, body_fn, (torch.zeros((), dtype=torch.int64), x))


class WhileIntCounter(torch.nn.Module):
    """A Python int carried by the loop (an unbacked SymInt in the graph), returned: how many
    doublings it took to pass a bound."""

    def forward(self, x):
        return while_loop(lambda i, x: x.abs().sum() < 50, lambda i, x: (i + 1, x * 2), (0, x))


@pytest.mark.parametrize("opset", OPSETS)
def test_while_python_int_counter(opset):
    inputs = [(torch.full((2, 2), 0.1),), (torch.full((2, 2), 5.0),), (torch.full((2, 2), 20.0),)]
    proto = check_paths(WhileIntCounter(), inputs, opset, op_type="Loop")
    count = proto.graph.output[0].type.tensor_type
    assert count.elem_type == onnx.TensorProto.INT64 and len(count.shape.dim) == 0


@pytest.mark.parametrize("opset", OPSETS)
def test_while_trip_counts(opset):
    x = torch.randn(2, 3)
    inputs = [(x, torch.tensor(3)), (x, torch.tensor(0)), (x, torch.tensor(7))]
    proto = check_paths(WhileCount(), inputs, opset, op_type="Loop")
    assert {"Less", "Add", "Mul"} <= body_ops(proto)


@pytest.mark.parametrize("opset", OPSETS)
def test_while_data_dependent(opset):
    inputs = [(torch.full((2, 2), 0.5),), (torch.full((2, 2), 30.0),), (torch.full((2, 2), -0.2),)]
    check_paths(WhileData(), inputs, opset, op_type="Loop")


@pytest.mark.parametrize("opset", OPSETS)
def test_while_with_cond_and_weights(opset):
    torch.manual_seed(0)
    x = torch.randn(2, 3)
    inputs = [(x, torch.tensor(1)), (x, torch.tensor(4)), (x, torch.tensor(5))]
    proto = check_paths(WhileWithCond(), inputs, opset, op_type="Loop")
    assert "If" in body_ops(proto)


@pytest.mark.parametrize("opset", OPSETS)
def test_while_dynamic_shape(opset):
    x = torch.randn(3, 4)
    inputs = [(x, torch.tensor(2)), (torch.randn(5, 4), torch.tensor(4))]
    proto = check_paths(WhileCount(), inputs, opset, op_type="Loop", input_names=["x", "n"],
                        dynamic_axes={"x": {0: "rows"}})
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "rows"


# -- scan, map, associative_scan -> Scan / Loop ------------------------------------------------
class ScanCumulative(torch.nn.Module):
    """A running sum carry and a per-step output."""

    def forward(self, init, xs):
        def combine(carry, x):
            nxt = carry + x
            return nxt, nxt * x

        return scan(combine, init, xs)


class ScanReverseDim(torch.nn.Module):
    """Two carries, a weight, scanned along dim 1 in reverse."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(3, 3) * 0.5)

    def forward(self, h, xs):
        def combine(carry, x):
            h, count = carry
            h = torch.tanh(h @ self.w + x)
            return (h, count + 1), h.sum(-1)

        return scan(combine, (h, torch.zeros(1)), xs, dim=1, reverse=True)


class MapModel(torch.nn.Module):
    def forward(self, xs, y):
        return hmap(lambda x, y: (x * y + 1).softmax(-1), xs, y)


class AssociativeScanOp(torch.nn.Module):
    """The associative_scan op (what the pointwise mode captures on GPU), a product."""

    def forward(self, xs):
        return associative_scan_op(lambda a, b: (a * b,), [xs], ())[0]


class AssociativeScanGeneric(torch.nn.Module):
    """combine_mode="generic": PyTorch unrolls it during capture; no op to convert."""

    def forward(self, xs):
        return associative_scan(lambda a, b: a + b, xs, dim=1, combine_mode="generic")


@pytest.mark.parametrize("opset", OPSETS)
def test_scan(opset):
    init, xs = torch.randn(4), torch.randn(5, 4)
    check_paths(ScanCumulative(), [(init, xs), (init * 3, -xs)], opset, op_type="Scan")


@pytest.mark.parametrize("opset", OPSETS)
def test_scan_dynamic_length(opset):
    init = torch.randn(4)
    inputs = [(init, torch.randn(5, 4)), (init, torch.randn(9, 4)), (init, torch.randn(2, 4))]
    proto = check_paths(ScanCumulative(), inputs, opset, op_type="Scan",
                        input_names=["init", "xs"], dynamic_axes={"xs": {0: "steps"}})
    assert proto.graph.input[1].type.tensor_type.shape.dim[0].dim_param == "steps"


@pytest.mark.parametrize("opset", OPSETS)
def test_scan_reverse_dim_weights(opset):
    torch.manual_seed(0)
    h, xs = torch.randn(2, 3), torch.randn(2, 6, 3)
    check_paths(ScanReverseDim(), [(h, xs), (-h, xs * 2)], opset, op_type="Scan")


@pytest.mark.parametrize("opset", OPSETS)
def test_map(opset):
    xs, y = torch.randn(5, 4), torch.randn(4)
    check_paths(MapModel(), [(xs, y), (xs * 2, -y)], opset, op_type="Scan")


@pytest.mark.parametrize("opset", OPSETS)
def test_associative_scan(opset):
    xs = torch.rand(6, 3) + 0.5
    check_paths(AssociativeScanOp(), [(xs,), (xs * -1,)], opset, op_type="Loop")


@pytest.mark.parametrize("opset", [11, NEWEST_OPSET])
def test_associative_scan_generic_mode(opset):
    xs = torch.randn(3, 5)
    check_paths(AssociativeScanGeneric(), [(xs,), (xs * 2,)], opset, op_type="Add")


class ScanInCond(torch.nn.Module):
    """A scan in one branch of a cond, a map in the other."""

    def forward(self, xs):
        def running(xs):
            return scan(lambda c, x: (c + x, c * 2), xs[0] * 0, xs)[1]

        def mapped(xs):
            return hmap(lambda x: x.flip(0) - 1, xs)

        return torch.cond(xs.sum() > 0, running, mapped, (xs,))


@pytest.mark.parametrize("opset", OPSETS)
def test_scan_and_map_inside_cond(opset):
    xs = torch.randn(4, 3)
    proto = check_paths(ScanInCond(), [(xs.abs(),), (-xs.abs(),)], opset, op_type="If")
    assert "Scan" in body_ops(proto)


class CondLinear3d(torch.nn.Module):
    """One Linear on a 3-D input in both branches: its transposed weight is an initializer."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 5)

    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda x: self.lin(x), lambda x: self.lin(x).relu(), (x,))


@pytest.mark.parametrize("opset", [9, NEWEST_OPSET])
def test_branches_share_the_main_graphs_initializers(opset):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4)
    proto = check_paths(CondLinear3d(), [(x.abs(),), (-x.abs(),)], opset, op_type="If")
    bodies = [a.g for n in proto.graph.node for a in n.attribute if a.type == onnx.AttributeProto.GRAPH]
    assert bodies and not any(b.initializer for b in bodies)
    weights = [i for i in proto.graph.initializer if list(i.dims) == [4, 5]]
    assert len(weights) == 1  # one transposed weight, used by both branches


@pytest.mark.parametrize("opset", [9, NEWEST_OPSET])
def test_cond_parameters_as_inputs(opset):
    """export_params=False: the branches read the parameters from graph inputs."""
    torch.manual_seed(0)
    model = CondParams()
    x = torch.randn(2, 4)
    result = export(model, (x,), None, opset_version=opset, export_params=False)
    proto = result.model
    onnx.checker.check_model(proto, full_check=True)
    assert len(proto.graph.input) == 1 + len(model.state_dict()) and not proto.graph.initializer
    for args in [(x.abs() + 0.1,), (-x.abs() - 0.1,)]:
        outputs = run_onnxruntime(proto, [args[0], *model.state_dict().values()])
        assert_matches(model, args, outputs, rtol=1e-4, atol=1e-5)


# -- invoke_subgraph -> inlined -------------------------------------------------------------
class InvokeSubgraph(torch.nn.Module):
    """The same subgraph called twice with a parameter (nested_compile_region's op)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(4, 4))
        self.block = torch.fx.symbolic_trace(lambda x, w: (torch.relu(x @ w) + 1,))

    def forward(self, x):
        y = invoke_subgraph(self.block, "block", x, self.w)[0]
        return invoke_subgraph(self.block, "block", y, self.w)[0]


@pytest.mark.parametrize("opset", OPSETS)
def test_invoke_subgraph_inlined(opset):
    x = torch.randn(3, 4)
    proto = check_paths(InvokeSubgraph(), [(x,), (-x,)], opset, op_type="Relu")
    assert sum(n.op_type == "Relu" for n in proto.graph.node) == 2 and not body_ops(proto)


# -- If and Loop from opset 7 (Scan's form here is 9's) -----------------------------------------
LOW = {
    "cond": (CondBasic, lambda: [(torch.ones(2, 3),), (-torch.ones(2, 3),)]),
    "cond_params": (CondParams, lambda: [(torch.ones(2, 4),), (-torch.ones(2, 4),)]),
    "cond_nested": (CondNested, lambda: [(torch.full((2, 2), 2.0),), (torch.full((2, 2), 0.1),),
                                         (torch.full((2, 2), -2.0),), (torch.full((2, 2), -0.1),)]),
    "while": (WhileCount, lambda: [(torch.ones(2, 3), torch.tensor(3)), (torch.ones(2, 3), torch.tensor(0))]),
    "while_counter": (WhileIntCounter, lambda: [(torch.full((2, 2), 0.1),), (torch.full((2, 2), 20.0),)]),
    "associative_scan": (AssociativeScanOp, lambda: [(torch.rand(5, 3) + 0.5,)]),
    "invoke_subgraph": (InvokeSubgraph, lambda: [(torch.ones(3, 4),), (-torch.ones(3, 4),)]),
}


@pytest.mark.parametrize("opset", [7, 8])
@pytest.mark.parametrize("name", list(LOW))
def test_if_and_loop_below_opset_9(name, opset):
    torch.manual_seed(0)
    cls, inputs = LOW[name]
    check_paths(cls(), inputs(), opset, op_type="Relu" if name == "invoke_subgraph" else
                ("If" if name.startswith("cond") else "Loop"))


def test_scan_below_opset_9_says_from_which_opset():
    with pytest.raises(UnsupportedOperatorError, match="higher_order::scan") as info:
        export(ScanCumulative(), (torch.zeros(4), torch.randn(5, 4)), None, opset_version=8)
    assert "converts from opset 9" in str(info.value)


# -- errors inside a branch ----------------------------------------------------------------
@torch.library.custom_op("cftest::no_conversion", mutates_args=())
def no_conversion(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


@no_conversion.register_fake
def _(x):
    return torch.empty_like(x)


class CondUnsupported(torch.nn.Module):
    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda x: no_conversion(x) + 1, lambda x: x - 1, (x,))  # HERE


def test_unsupported_op_in_branch_names_user_line():
    with pytest.raises(UnsupportedOperatorError) as info:
        export(CondUnsupported(), (torch.randn(2, 2),), None, opset_version=17)
    lines, start = inspect.getsourcelines(CondUnsupported)
    line = start + next(i for i, text in enumerate(lines) if text.rstrip().endswith("# HERE"))
    message = str(info.value)
    assert "cftest::no_conversion" in message
    assert f"test_control_flow.py:{line}" in message, message
    assert "eval_with_key" not in message


class WhileUnsupported(torch.nn.Module):
    def forward(self, x):
        return while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, no_conversion(x) * 2),  # LOOP
                          (torch.zeros((), dtype=torch.int64), x))


def test_unsupported_op_in_loop_body_names_user_line():
    with pytest.raises(UnsupportedOperatorError) as info:
        export(WhileUnsupported(), (torch.randn(2, 2),), None, opset_version=17)
    lines, start = inspect.getsourcelines(WhileUnsupported)
    line = start + next(i for i, text in enumerate(lines) if text.rstrip().endswith("# LOOP"))
    assert f"test_control_flow.py:{line}" in str(info.value), str(info.value)


# -- the plugin author's API: g.subgraph(name).lower(graph_module, inputs) -------------------------
def guide_while_loop(g, cond_graph, body_graph, carried, extra=()):
    """The while_loop conversion of docs/plugin-guide.md, as a plugin author writes it."""
    carried, extra = list(carried), list(extra)
    first = g.lower(cond_graph, carried + extra)[0]
    body = g.subgraph("while_body")
    body.add_input("iteration", torch.int64, [])
    body.add_input("condition", torch.bool, [])
    new = body.lower(body_graph, [None] * len(carried) + extra)
    go_on = body.lower(cond_graph, new + extra)[0]
    graph = body.finish(go_on, *new)
    return g.op("Loop", None, first, *carried, body_g=graph, outputs=len(carried))


def test_plugin_guide_while_loop_as_custom_symbolic():
    x = torch.randn(2, 3)
    inputs = [(x, torch.tensor(2)), (x, torch.tensor(6))]
    result = export(WhileCount(), inputs[0], None, opset_version=17,
                    custom_symbolics={"higher_order::while_loop": guide_while_loop})
    assert result.served["higher_order::while_loop"].endswith("guide_while_loop")
    proto = result.model
    onnx.checker.check_model(proto, full_check=True)
    for args in inputs:
        assert_matches(WhileCount(), args, run_onnxruntime(proto, input_tensors(args, None)))
    body = next(a.g for n in proto.graph.node if n.op_type == "Loop" for a in n.attribute)
    assert [i.type.tensor_type.elem_type for i in body.input] == [
        onnx.TensorProto.INT64, onnx.TensorProto.BOOL, onnx.TensorProto.INT64, onnx.TensorProto.FLOAT]


def test_lower_outside_an_export_says_so():
    from onnxplug.errors import OnnxExporterError
    from onnxplug.graph import GraphContext
    from onnxplug.options import ExportOptions
    import onnx_ir as ir

    g = GraphContext(ir.Graph([], [], nodes=[]), 17, ExportOptions(opset_version=17))
    with pytest.raises(OnnxExporterError, match="only inside an export"):
        g.subgraph("body").lower(torch.fx.symbolic_trace(lambda x: x + 1), [None])


@pytest.mark.parametrize("opset", [7, 17, NEWEST_OPSET])
def test_no_grad_block_inside_forward_is_inlined(opset):
    """phimoe's router: ``with torch.no_grad():`` in forward is captured as
    ``wrap_with_set_grad_enabled``, whose body is inlined (grad mode changes no value)."""
    class Router(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gate = torch.nn.Linear(8, 4)

        def forward(self, x):
            with torch.no_grad():
                scores = self.gate(x).softmax(-1)
            return x * scores.max(-1, keepdim=True).values

    result = export_and_compare(Router().eval(), (torch.randn(2, 5, 8),), opset=opset,
                                input_names=["x"], dynamic_axes={"x": {0: "batch", 1: "seq"}},
                                run_inputs=(torch.randn(3, 7, 8),))
    assert "higher_order::wrap_with_set_grad_enabled" in result.served


@pytest.mark.parametrize("opset", [7, 17, NEWEST_OPSET])
def test_disabled_autocast_block_is_inlined(opset):
    """timm's EfficientViT keeps its attention in full precision with
    ``torch.autocast(device_type, enabled=False)``: captured as wrap_with_autocast, inlined."""
    class FullPrecision(torch.nn.Module):
        def forward(self, q, k):
            with torch.autocast("cpu", enabled=False):
                attn = (q @ k.transpose(-1, -2)).softmax(-1)
            return attn @ k

    def inputs(batch):
        return torch.randn(batch, 4, 6), torch.randn(batch, 4, 6)

    axes = {"q": {0: "batch"}, "k": {0: "batch"}}
    result = export_and_compare(FullPrecision(), inputs(2), opset=opset, input_names=["q", "k"],
                                dynamic_axes=axes if opset >= 9 else None,
                                run_inputs=inputs(3) if opset >= 9 else None)
    assert "higher_order::wrap_with_autocast" in result.served

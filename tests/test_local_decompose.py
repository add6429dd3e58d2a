"""Ops with no conversion (or whose conversion declines) are decomposed node by node, in place,
without re-tracing the program (onnxplug.local_decompose): static and dynamic shapes, inside a
torch.cond branch, a decomposition that yields another op needing decomposition, and one whose
decomposition fails (the error names the op and the user's line). Every export is checked,
run in onnxruntime and compared with eager PyTorch."""

from __future__ import annotations

import onnx
import pytest
import torch

import onnxplug
from onnxplug.decompose import decomposition
from onnxplug.local_decompose import decompose_locally
from onnxplug.testing import assert_matches, export_and_compare, input_tensors
from onnxplug.verify import run_onnxruntime

HERE = __file__.rsplit("/", 1)[-1]


def declines(g, *args, **kwargs):
    raise NotImplementedError("left to PyTorch's decomposition in this test")


class GeluMlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 8)

    def forward(self, x):
        return torch.nn.functional.gelu(self.fc(x)) * 2  # the line errors and doc strings name


def test_declined_op_is_decomposed_in_place_static(no_retrace):
    r = export_and_compare(GeluMlp().eval(), (torch.randn(3, 8),), verbose=True,
                           custom_symbolics={"aten::gelu": declines})
    assert r.decomposed == ["aten::gelu.default"]
    erf = [n for n in r.model.graph.node if n.op_type == "Erf"]
    assert erf, "gelu's decomposition (with Erf) was not exported"
    # the spliced nodes carry the replaced node's source location
    assert all(HERE in n.doc_string for n in erf), [n.doc_string for n in erf]
    assert not no_retrace


def test_declined_op_is_decomposed_in_place_dynamic(no_retrace):
    model = GeluMlp().eval()
    r = export_and_compare(model, (torch.randn(3, 8),), input_names=["x"],
                           dynamic_axes={"x": {0: "batch"}}, run_inputs=(torch.randn(7, 8),),
                           custom_symbolics={"aten::gelu": declines})
    assert r.decomposed == ["aten::gelu.default"]
    assert r.model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert r.model.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_symbolic_sizes_stay_the_programs_symbols():
    """diff's decomposition reads the dynamic size: the spliced nodes use the program's symbol."""

    class Diffs(torch.nn.Module):
        def forward(self, x):
            return torch.diff(x, prepend=x[:, :1])

    seq = torch.export.Dim("seq", min=2)
    ep = torch.export.export(Diffs(), (torch.randn(2, 6),), dynamic_shapes=({1: seq},))
    op = torch.ops.aten.diff.default
    local = decompose_locally(ep, {op: decomposition(op)})
    assert local.done == {op} and not local.left
    assert op in {n.target for n in ep.graph.nodes}, "the program passed in was changed"
    new = local.program
    assert op not in {n.target for n in new.graph.nodes}
    symbol = str(ep.graph.find_nodes(op="placeholder")[0].meta["val"].shape[1])
    out = new.graph.find_nodes(op="output")[0].args[0][0]
    assert str(out.meta["val"].shape[1]) == symbol
    x = torch.randn(2, 9)
    torch.testing.assert_close(new.module()(x), Diffs()(x))


class GeluInBranch(torch.nn.Module):
    def forward(self, x):
        def gelu(t):
            return torch.nn.functional.gelu(t) + 1

        def neg(t):
            return torch.nn.functional.gelu(-t)

        return torch.cond(x.sum() > 0, gelu, neg, (x,))


def test_declined_op_inside_a_cond_branch(no_retrace):
    model = GeluInBranch()
    x = torch.randn(2, 5)
    result = onnxplug.export(model, (x,), None, custom_symbolics={"aten::gelu": declines})
    onnx.checker.check_model(result.model, full_check=True)
    assert result.decomposed == ["aten::gelu.default"]
    assert "If" in {n.op_type for n in result.model.graph.node}
    for args in [(x.abs() + 0.1,), (-x.abs() - 0.1,)]:
        assert_matches(model, args, run_onnxruntime(result.model, input_tensors(args, None)))
    assert not no_retrace


def test_a_decomposition_that_yields_another_op_to_decompose(no_retrace):
    """mish decomposes into softplus, whose conversion declines too: a second round."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Mish()).eval()
    r = export_and_compare(model, (torch.randn(3, 4),),
                           custom_symbolics={"aten::mish": declines, "aten::softplus": declines})
    assert set(r.decomposed) == {"aten::mish.default", "aten::softplus.default"}
    assert {"Tanh", "Exp"} <= {n.op_type for n in r.model.graph.node}
    assert not no_retrace


# -- ops with no conversion at all: custom ops with a decomposition -----------------------------
@torch.library.custom_op("onnxplug_localdec::outer_op", mutates_args=())
def outer_op(x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x) * 3


@outer_op.register_fake
def _(x):
    return torch.empty_like(x)


@torch.library.custom_op("onnxplug_localdec::inner_op", mutates_args=())
def inner_op(x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x)


@inner_op.register_fake
def _(x):
    return torch.empty_like(x)


@torch.library.custom_op("onnxplug_localdec::broken_op", mutates_args=())
def broken_op(x: torch.Tensor) -> torch.Tensor:
    return x + 1


@broken_op.register_fake
def _(x):
    return torch.empty_like(x)


def _broken_decomposition(x):
    if x.sum() > 0:  # data-dependent: no trace can take this branch
        return x + 1
    return x - 1


@pytest.fixture
def custom_decompositions(monkeypatch):
    from torch._decomp import decomposition_table

    ops = torch.ops.onnxplug_localdec
    monkeypatch.setitem(decomposition_table, ops.outer_op.default,
                        lambda x: ops.inner_op(x) * 3)
    monkeypatch.setitem(decomposition_table, ops.inner_op.default, torch.tanh)
    monkeypatch.setitem(decomposition_table, ops.broken_op.default, _broken_decomposition)


class Custom(torch.nn.Module):
    def forward(self, x):
        return torch.ops.onnxplug_localdec.outer_op(x) + 1


def test_a_missing_op_whose_decomposition_has_another_missing_op(custom_decompositions, no_retrace):
    r = export_and_compare(Custom(), (torch.randn(2, 3),), input_names=["x"],
                           dynamic_axes={"x": {1: "n"}}, run_inputs=(torch.randn(2, 5),))
    assert r.decomposed == ["onnxplug_localdec::outer_op.default",
                            "onnxplug_localdec::inner_op.default"]
    assert "Tanh" in {n.op_type for n in r.model.graph.node}
    assert not no_retrace


class Broken(torch.nn.Module):
    def forward(self, x):
        y = x * 2
        return torch.ops.onnxplug_localdec.broken_op(y)  # BROKEN-LINE


def test_a_failing_decomposition_names_the_op_and_the_users_line(custom_decompositions):
    line = next(i for i, text in enumerate(open(__file__), 1) if text.rstrip().endswith("# BROKEN-LINE"))
    with pytest.raises(onnxplug.UnsupportedOperatorError) as info:
        onnxplug.export(Broken(), (torch.randn(3),), None)
    text = str(info.value)
    assert "onnxplug_localdec::broken_op.default" in text
    assert f"{HERE}:{line}" in text
    assert "PyTorch's decomposition of it failed" in text


def test_a_node_that_cannot_be_traced_alone_falls_back_to_the_whole_program():
    """An in-place op is left to run_decompositions, which functionalizes the program."""
    class Inplace(torch.nn.Module):
        def forward(self, x):
            y = x * 1
            y.add_(1)
            return y

    ep = torch.export.export(Inplace(), (torch.randn(3),))
    op = next(n.target for n in ep.graph.nodes if n.op == "call_function"
              and n.target._schema.is_mutable)
    local = decompose_locally(ep, {op: lambda x, y, alpha=1: x + y})
    assert local.program is ep and op in local.left and "mutates" in local.left[op]


def test_decomposed_nodes_stay_in_their_modules_local_function(no_retrace):
    """The spliced nodes carry the replaced node's nn_module_stack: the functions plugin puts
    them in the GELU module's function, as it would the conversion's nodes."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.GELU()).eval()
    r = export_and_compare(model, (torch.randn(2, 4),), export_modules_as_functions={torch.nn.GELU},
                           custom_symbolics={"aten::gelu": declines})
    assert r.decomposed == ["aten::gelu.default"]
    main = [n.op_type for n in r.model.graph.node]
    assert "GELU" in main and "Erf" not in main, main
    (function,) = r.model.functions
    assert "Erf" in {n.op_type for n in function.node}
    assert not no_retrace

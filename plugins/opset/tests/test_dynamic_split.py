"""split / chunk / unbind and slice_scatter along dynamic dims, run at other sizes than the example.

``torch.export`` only keeps a split along a dynamic dim when its guards fix the number of
outputs: a derived dim (``2*k``: ``chunk(2)`` gives two parts of ``k``), a range in which the
count does not change, or ``Dim.AUTO`` (which keeps the count's guard as a runtime assertion).
A plain ``Dim`` on such a dim is refused by ``torch.export`` itself, so these tests give
``dynamic_shapes=`` rather than ``dynamic_axes=``. ``unbind`` along a dynamic dim cannot keep it
dynamic at all: the output count is the size, and ``torch.export`` specialises it.
"""

from __future__ import annotations

import onnxruntime as ort
import pytest
import torch
from torch.export import Dim

from onnxplug.capture import FunctionModule as Fn
from onnxplug.testing import NEWEST_OPSET, assert_matches, export_and_compare

K = Dim("k", min=2, max=64)


def run_at(result, model, sizes):
    """Run the exported model on inputs of other ``sizes`` and compare each with eager."""
    sess = ort.InferenceSession(result.model.SerializeToString(), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    for size in sizes:
        x = torch.randn(size)
        outputs = sess.run(None, {name: x.numpy()})
        assert_matches(model, (x,), outputs)


def dyn(fn, x, spec, opset, *other_sizes):
    """Export ``fn(x)`` with ``x``'s dims ``spec`` dynamic; compare at the other sizes too."""
    model = Fn(fn)
    result = export_and_compare(model, (x,), opset=opset, dynamic_shapes={"args": (spec,)},
                                run_inputs=(torch.randn(other_sizes[0]),))
    run_at(result, model, other_sizes[1:])
    return result


def op_types(result) -> list[str]:
    return [n.op_type for n in result.model.graph.node]


def half(x):
    return x.shape[0] // 2


# name: (fn, example shape, dynamic dims, other shapes, lowest opset)
SPLITS = {
    # equal parts PyTorch proves equal: Split with no sizes, at every opset, no Shape node
    "split_symbolic_size": (lambda x: torch.split(x, half(x)), (6, 3), {0: 2 * K}, [(10, 3), (4, 3)], 7),
    "split_with_sizes_equal": (lambda x: torch.split(x, [half(x), half(x)]), (6, 3), {0: 2 * K},
                               [(8, 3)], 7),
    "chunk_equal": (lambda x: torch.chunk(x, 3, dim=1), (2, 6), {1: 3 * K}, [(2, 9), (2, 15)], 7),
    "chunk_last_dim": (lambda x: x.chunk(2, dim=-1), (3, 4), {1: 2 * K}, [(3, 10)], 7),
    # only the last part is dynamic: static Slices below opset 13, Split with sizes from 13
    "split_int_size": (lambda x: torch.split(x, 4), (6, 3), {0: Dim("n", min=6, max=8)},
                       [(7, 3), (8, 3)], 7),
    "split_int_size_auto": (lambda x: torch.split(x, 2, dim=1), (2, 6), {1: Dim.AUTO}, [(2, 5)], 7),
    "split_with_sizes_rest": (lambda x: torch.split(x, [2, x.shape[0] - 2]), (6, 3),
                              {0: Dim("m", min=4, max=64)}, [(9, 3), (4, 3)], 7),
    # dynamic sizes before the last part: Slice bounds as inputs (10), Split sizes (13)
    "split_with_sizes_derived": (lambda x: torch.split(x, [x.shape[0] // 3, x.shape[0] - x.shape[0] // 3]),
                                 (6, 3), {0: 3 * K}, [(12, 3), (9, 3)], 10),
    "split_symbolic_size_uneven": (lambda x: torch.split(x, x.shape[0] // 3), (11, 3), {0: 3 * K + 2},
                                   [(14, 3), (8, 3)], 10),
    "chunk_uneven": (lambda x: torch.chunk(x, 2), (7, 3), {0: 2 * K + 1}, [(11, 3), (5, 3)], 10),
    "chunk_uneven_three": (lambda x: torch.chunk(x, 3, dim=1), (2, 8), {1: 3 * K + 2}, [(2, 11), (2, 14)], 10),
}


def _cases(table):
    out = []
    for name, (fn, shape, spec, others, lowest) in table.items():
        for opset in sorted({lowest, 13, NEWEST_OPSET} if lowest < 13 else {lowest, NEWEST_OPSET}):
            out.append(pytest.param(fn, shape, spec, others, opset, id=f"{name}-{opset}"))
    return out


@pytest.mark.parametrize("fn, shape, spec, others, opset", _cases(SPLITS))
def test_split_dynamic_dim(fn, shape, spec, others, opset):
    dyn(fn, torch.randn(shape), spec, opset, *others)


@pytest.mark.parametrize("opset", [7, 13, NEWEST_OPSET])
def test_equal_parts_need_no_shape(opset):
    result = dyn(lambda x: torch.chunk(x, 2), torch.randn(6, 3), {0: 2 * K}, opset, (10, 3))
    assert op_types(result) == ["Split"]


@pytest.mark.parametrize("opset", [7, 10, 12])
def test_last_part_dynamic_uses_static_slices(opset):
    result = dyn(lambda x: torch.split(x, [2, 1, x.shape[0] - 3]), torch.randn(6, 3),
                 {0: Dim("m", min=5, max=64)}, opset, (9, 3))
    assert "Shape" not in op_types(result)


@pytest.mark.parametrize("opset", [10, NEWEST_OPSET])
def test_tensor_split_dynamic_dim(opset):
    """``tensor_split`` has no conversion: PyTorch's decomposition (slices) is dynamic from 10."""
    dyn(lambda x: torch.tensor_split(x, 3), torch.randn(6, 3), {0: 3 * K}, opset, (12, 3))


@pytest.mark.parametrize("opset", [7, NEWEST_OPSET])
def test_unbind_specialises_its_dim(opset):
    """The output count of ``unbind`` is the size: ``torch.export`` makes that dim static."""
    x = torch.randn(4, 3)
    result = dyn(lambda x: torch.unbind(x), x, {0: Dim.AUTO, 1: Dim.AUTO}, opset, (4, 5))
    dims = result.model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_value == 4 and dims[1].dim_param


@pytest.mark.parametrize("opset", [7, NEWEST_OPSET])
def test_unbind_with_other_dim_dynamic(opset):
    model = Fn(lambda x: torch.unbind(x, 1))
    result = export_and_compare(model, (torch.randn(4, 3),), opset=opset, input_names=["x"],
                                dynamic_axes={"x": {0: "n"}}, run_inputs=(torch.randn(7, 3),))
    assert "Shape" not in op_types(result)


# name: (fn, example shape, dynamic dims, other shapes, opsets)
SCATTERS = {
    # static bounds of one sign: static Slices around src, from opset 7
    "static_bounds": (lambda x: torch.slice_scatter(x, x[1:3] * 2, 0, 1, 3), (6, 3),
                      {0: Dim("m", min=4, max=64)}, [(9, 3), (4, 3)], [7, NEWEST_OPSET]),
    "negative_bounds": (lambda x: torch.slice_scatter(x, x[-3:-1] * 2, 0, -3, -1), (6, 3),
                        {0: Dim("m", min=4, max=64)}, [(9, 3)], [7, NEWEST_OPSET]),
    "open_end": (lambda x: torch.slice_scatter(x, x[:, 2:] + 1, 1, 2), (3, 6),
                 {1: Dim("m", min=4, max=64)}, [(3, 9)], [7, NEWEST_OPSET]),
    # the tail starts at start + len(src), a dynamic size: Slice with input bounds (10)
    "mixed_sign_bounds": (lambda x: torch.slice_scatter(x, x[:, 1:-1] * 3, 1, 1, -1), (3, 6),
                          {1: Dim("m", min=4, max=64)}, [(3, 9), (3, 4)], [10, NEWEST_OPSET]),
    "symbolic_start": (lambda x: torch.slice_scatter(x, x[:half(x)] * 2, 0, half(x)), (6, 3),
                       {0: 2 * K}, [(10, 3)], [10, NEWEST_OPSET]),
    # a symbolic start is normalised with Where below opset 12, Max/Min from 12
    "symbolic_start_end": (lambda x: torch.slice_scatter(
        x, x[x.shape[0] // 4: 3 * (x.shape[0] // 4)] * 2, 0, x.shape[0] // 4, 3 * (x.shape[0] // 4)),
        (8, 3), {0: 4 * K}, [(12, 3), (16, 3)], [10, 12, NEWEST_OPSET]),
    # steps: ScatterElements (11)
    "step": (lambda x: torch.slice_scatter(x, x[1::2] * 2, 0, 1, None, 2), (6, 3), {0: 2 * K},
             [(10, 3)], [11, NEWEST_OPSET]),
    "step_inner_dim": (lambda x: torch.slice_scatter(x, x[:, ::3] - 1, 1, 0, None, 3), (2, 6),
                       {1: 3 * K}, [(2, 12)], [11, NEWEST_OPSET]),
    # the scattered dim is static, another one dynamic: the static Gather rebuild
    "static_dim_other_dynamic": (lambda x: torch.slice_scatter(x, x[:, 1:3] * 2, 1, 1, 3), (6, 5),
                                 {0: Dim("m", min=4, max=64)}, [(9, 5)], [7, NEWEST_OPSET]),
}


@pytest.mark.parametrize("fn, shape, spec, others, opset", [
    pytest.param(fn, shape, spec, others, opset, id=f"{name}-{opset}")
    for name, (fn, shape, spec, others, opsets) in SCATTERS.items() for opset in opsets])
def test_slice_scatter_dynamic(fn, shape, spec, others, opset):
    result = dyn(fn, torch.randn(shape), spec, opset, *others)
    assert "aten::slice_scatter.default" not in result.decomposed


def test_slice_scatter_step_before_opset_11_falls_back():
    """Below ScatterElements the conversion declines; PyTorch's decomposition is exported."""
    result = dyn(lambda x: torch.slice_scatter(x, x[1::2] * 2, 0, 1, None, 2), torch.randn(6, 3),
                 {0: 2 * K}, 10, (10, 3))
    assert "aten::slice_scatter.default" in result.decomposed


class Static(torch.nn.Module):
    def forward(self, x):
        return (torch.split(x, 2, 1), torch.split(x, [1, 4], 1), torch.chunk(x, 2, 0), torch.unbind(x, 0),
                torch.slice_scatter(x, x[:, 1:4] * 2, 1, 1, 4), torch.slice_scatter(x, x[:, ::2], 1, 0, None, 2))


@pytest.mark.parametrize("opset", [7, 13, NEWEST_OPSET])
def test_static_exports_have_no_shape(opset):
    result = export_and_compare(Static(), (torch.randn(3, 5),), opset=opset)
    assert "Shape" not in op_types(result)


@pytest.mark.parametrize("opset", [7, 13, NEWEST_OPSET])
def test_static_split_dim_with_other_dim_dynamic_has_no_shape(opset):
    model = Fn(lambda x: (torch.split(x, 2, 1), torch.chunk(x, 2, 1), torch.split(x, [1, 4], 1)))
    result = export_and_compare(model, (torch.randn(3, 5),), opset=opset, input_names=["x"],
                                dynamic_axes={"x": {0: "n"}}, run_inputs=(torch.randn(6, 5),))
    assert "Shape" not in op_types(result)


def test_uneven_dynamic_chunk_below_opset_10_is_a_clear_error():
    """Slice with computed bounds needs opset 10; the split declines and its decomposition
    (as_strided over a dynamic dim) cannot be converted either: the error names the op."""
    import onnxplug

    with pytest.raises(onnxplug.UnsupportedOperatorError, match="opset 7"):
        onnxplug.export(Fn(lambda x: torch.chunk(x, 2)), (torch.randn(7, 3),), None, opset_version=7,
                        dynamic_shapes={"args": ({0: 2 * Dim("k") + 1},)})
    export_and_compare(Fn(lambda x: torch.chunk(x, 2)), (torch.randn(7, 3),), opset=10,
                       dynamic_shapes={"args": ({0: 2 * Dim("k") + 1},)})

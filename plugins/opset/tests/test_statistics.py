"""Statistics (mode, histogram, histogramdd, segment_reduce) and as_strided_scatter, at their lowest
opset and the newest, with ties, keepdim, negative dims, 0-d and integer inputs, empty segments."""

from __future__ import annotations

import pytest
import torch

from onnxplug.capture import FunctionModule as Fn  # a function as a module, for export
from onnxplug.testing import NEWEST_OPSET as NEWEST

torch.manual_seed(0)
# small integers give many ties; every slice along a dim is at most 16 long, where PyTorch's
# CPU kernel (a sort that is stable up to 16 elements) reports the last position of the mode
TIES = torch.randint(0, 3, (4, 6, 5))
NAN = float("nan")

MODE = {
    "all_dims_default": (lambda x: torch.mode(x), (TIES.float(),)),
    "dim1": (lambda x: torch.mode(x, 1), (TIES.float(),)),
    "negative_dim_keepdim": (lambda x: torch.mode(x, -3, keepdim=True), (TIES.float(),)),
    "middle_dim_keepdim": (lambda x: torch.mode(x, 1, True), (TIES.double(),)),
    "int64": (lambda x: torch.mode(x, 0), (TIES,)),
    "int32_equal_counts": (lambda x: torch.mode(x, 1), (torch.tensor([[3, 1, 3, 1, 2], [4, 3, 2, 1, 0]],
                                                                      dtype=torch.int32),)),
    "bool": (lambda x: torch.mode(x, -1), (TIES > 0,)),
    "uint8": (lambda x: torch.mode(x, 2), (TIES.to(torch.uint8),)),
    "float16": (lambda x: torch.mode(x, 0), (TIES.half() * 0.5,)),
    "zero_d": (lambda x: torch.mode(x), (torch.tensor(3.5),)),
    "zero_d_keepdim": (lambda x: torch.mode(x, 0, True), (torch.tensor(-2),)),
    "single_element": (lambda x: torch.mode(x, 0), (torch.tensor([7.0]),)),
    "infinities": (lambda x: torch.mode(x, 0), (torch.tensor([float("inf"), 1.0, float("inf"), -2.0]),)),
    # longer slices: PyTorch's index is then any position of the mode, its value is exact
    "long_slice_values": (lambda x: torch.mode(x, 0).values, (torch.randint(0, 4, (40, 3)),)),
}


@pytest.mark.parametrize("opset", [11, NEWEST])
@pytest.mark.parametrize("name", list(MODE))
def test_mode(check, name, opset):
    fn, inputs = MODE[name]
    check(Fn(fn), inputs, opset=opset)


@pytest.mark.parametrize("opset", [11, NEWEST])
@pytest.mark.parametrize("dim", [0, 1])
def test_mode_dynamic_length(check, dim, opset):
    check(Fn(lambda x: torch.mode(x, dim, keepdim=dim == 1)), (torch.randint(0, 3, (7, 3)),), opset=opset,
          input_names=["x"], dynamic_axes={"x": {0: "n"}}, run_inputs=(torch.randint(0, 3, (11, 3)),))


X = torch.randn(4, 5)
W = torch.rand(4, 5)
STEPS = torch.randint(0, 5, (3, 4)).float()  # values sitting on the bin edges

HISTOGRAM = {
    "data_range": (lambda x: torch.histogram(x, 5), (X,)),
    "default_bins": (lambda x: torch.histogram(x), (X,)),
    "given_range_on_edges": (lambda x: torch.histogram(x, 4, range=(0.0, 4.0)), (STEPS,)),
    "range_excludes": (lambda x: torch.histogram(x, 3, range=(-0.5, 0.5)), (X,)),
    "empty_range": (lambda x: torch.histogram(x, 3, range=(1.0, 1.0)), (torch.ones(5),)),
    "constant_data": (lambda x: torch.histogram(x, 4), (torch.full((3,), 2.0, dtype=torch.float64),)),
    "zero_d": (lambda x: torch.histogram(x, 1), (torch.tensor(2.0),)),
    "empty_input": (lambda x: torch.histogram(x, 3), (torch.zeros(0),)),
    "nan_not_counted": (lambda x: torch.histogram(x, 3, range=(0.0, 3.0)),
                        (torch.tensor([1.0, NAN, 2.0, 3.0, 5.0]),)),
    "weight_density": (lambda x, w: torch.histogram(x, 6, weight=w, density=True), (X, W)),
    "infinite_weight": (lambda x, w: torch.histogram(x, 3, range=(0.0, 3.0), weight=w),
                        (torch.tensor([0.5, 1.5, 2.5, 2.7]), torch.tensor([1.0, float("inf"), 2.0, 3.0]))),
    "density_float64": (lambda x: torch.histogram(x, 3, density=True), (X.double(),)),
    "bin_edges": (lambda x, b: torch.histogram(x, b), (STEPS, torch.tensor([0.0, 1.5, 3.0]))),
    "bin_edges_weight_density": (lambda x, b, w: torch.histogram(x, b, weight=w, density=True),
                                 (X, torch.tensor([-1.0, 0.0, 0.5, 2.0]), W)),
    "bin_edges_zero_d": (lambda x, b: torch.histogram(x, b), (torch.tensor(0.5), torch.tensor([0.0, 1.0]))),
}


@pytest.mark.parametrize("opset", [11, NEWEST])
@pytest.mark.parametrize("name", list(HISTOGRAM))
def test_histogram(check, name, opset):
    fn, inputs = HISTOGRAM[name]
    check(Fn(fn), inputs, opset=opset)


POINTS = torch.tensor([[0.0, 1.0], [0.5, 1.0], [1.0, 3.0], [2.0, 0.0]])

HISTOGRAMDD = {
    "bin_counts": (lambda x: torch.histogramdd(x, [2, 3]), (torch.randn(6, 2),)),
    "int_bins_batched": (lambda x: torch.histogramdd(x, 2), (torch.randn(3, 2, 2),)),
    "range_density": (lambda x: torch.histogramdd(x, [2, 3], range=[0.0, 1.0, 1.0, 1.0], density=True),
                      (POINTS,)),
    "weight_density_3d": (lambda x, w: torch.histogramdd(x, [3, 2, 2], weight=w, density=True),
                          (torch.randn(8, 3), torch.rand(8))),
    "edges": (lambda x, a, b: torch.histogramdd(x, [a, b]),
              (POINTS, torch.tensor([0.0, 0.5, 1.0]), torch.tensor([1.0, 2.0, 3.0]))),
    "empty_input": (lambda x: torch.histogramdd(x, [2, 3]), (torch.zeros(0, 2),)),
    "single_bins": (lambda x: torch.histogramdd(x, [1, 1, 1, 1, 1]), (torch.randn(5, 5),)),
}


@pytest.mark.parametrize("opset", [11, NEWEST])
@pytest.mark.parametrize("name", list(HISTOGRAMDD))
def test_histogramdd(check, name, opset):
    fn, inputs = HISTOGRAMDD[name]
    check(Fn(fn), inputs, opset=opset)


DATA = torch.tensor([1.0, 2.0, 3.0, -4.0, 5.0, NAN, 7.0])
LENGTHS = torch.tensor([2, 0, 3, 1, 1])  # an empty segment, and a NaN in the fourth
OFFSETS = torch.tensor([0, 2, 2, 5, 6, 7])
D2 = torch.randn(7, 3)


@pytest.mark.parametrize("opset", [11, NEWEST])
@pytest.mark.parametrize("initial", [None, 2.5])
@pytest.mark.parametrize("reduction", ["sum", "mean", "max", "min", "prod"])
def test_segment_reduce_1d(check, reduction, initial, opset):
    def fn(data, lengths, offsets):
        return (torch.segment_reduce(data, reduction, lengths=lengths, initial=initial),
                torch.segment_reduce(data, reduction, offsets=offsets, initial=initial, unsafe=True))

    check(Fn(fn), (DATA, LENGTHS, OFFSETS), opset=opset)


@pytest.mark.parametrize("opset", [11, NEWEST])
@pytest.mark.parametrize("reduction", ["sum", "mean", "max", "min", "prod"])
def test_segment_reduce_nd(check, reduction, opset):
    def fn(d, dt, lengths, lengths2, offsets2):
        return (torch.segment_reduce(d, reduction, lengths=lengths),  # trailing dims kept
                torch.segment_reduce(dt, reduction, lengths=lengths2, axis=1, initial=-1.0),
                torch.segment_reduce(dt, reduction, offsets=offsets2, axis=-1))

    check(Fn(fn), (D2, D2.T.contiguous(), LENGTHS, LENGTHS.expand(3, 5).contiguous(),
                   OFFSETS.expand(3, 6).contiguous()), opset=opset)


@pytest.mark.parametrize("opset", [11, NEWEST])
def test_segment_reduce_half_and_int32_lengths(check, opset):
    def fn(d, lengths):
        return torch.segment_reduce(d, "max", lengths=lengths), torch.segment_reduce(d.float(), "mean",
                                                                                     lengths=lengths)

    check(Fn(fn), (torch.randn(7, 2).half(), LENGTHS.int()), opset=opset, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("opset", [11, NEWEST])
def test_segment_reduce_dynamic_length(check, opset):
    check(Fn(lambda d, lengths: torch.segment_reduce(d, "sum", lengths=lengths)), (torch.randn(7, 2), LENGTHS),
          opset=opset, input_names=["d", "lengths"], dynamic_axes={"d": {0: "n"}},
          run_inputs=(torch.randn(9, 2), torch.tensor([2, 0, 3, 1, 3])))


AS_STRIDED_SCATTER = {
    "offset": (lambda x, s: torch.as_strided_scatter(x, s, (2, 2), (1, 2), 1), (torch.randn(3, 3), torch.randn(2, 2))),
    "zero_d_view": (lambda x, s: torch.as_strided_scatter(x, s, (), (), 0), (torch.randn(1), torch.randn(()))),
    "zero_d_input": (lambda x, s: torch.as_strided_scatter(x, s, (), ()), (torch.randn(()), torch.randn(()))),
    "int64_3d": (lambda x, s: torch.as_strided_scatter(x, s, (2, 3), (6, 2), 1),
                 (torch.randint(0, 9, (2, 3, 2)), torch.randint(0, 9, (2, 3)))),
    "bool": (lambda x, s: torch.as_strided_scatter(x, s, (2,), (3,), 0),
             (torch.rand(3, 2) > 0.5, torch.tensor([True, True]))),
    "transposed_view_of_a_result": (lambda x, s: torch.as_strided_scatter(x * 2, s, (3, 2), (1, 3)),
                                    (torch.randn(2, 3), torch.randn(3, 2))),
    "src_cast": (lambda x, s: torch.as_strided_scatter(x, s.to(x.dtype), (2,), (2,), 1),
                 (torch.randn(5, dtype=torch.float64), torch.randn(2))),
}


@pytest.mark.parametrize("opset", [7, NEWEST])
@pytest.mark.parametrize("name", list(AS_STRIDED_SCATTER))
def test_as_strided_scatter(check, name, opset):
    fn, inputs = AS_STRIDED_SCATTER[name]
    check(Fn(fn), inputs, opset=opset)


@pytest.mark.parametrize("view", [lambda x: x.t(), lambda x: x[1:]], ids=["transposed", "offset"])
def test_as_strided_scatter_over_a_view_is_refused(check, view):
    """PyTorch's offsets count in the view's storage, which the exported graph does not have."""
    with pytest.raises(Exception, match="as_strided_scatter"):
        check(Fn(lambda x, s: torch.as_strided_scatter(view(x), s, (2, 2), (1, 2), 1)),
              (torch.randn(4, 3), torch.randn(2, 2)), opset=NEWEST)


def test_as_strided_scatter_overlap_is_refused(check):
    """Writing through a view whose elements overlap is an error in PyTorch too."""
    with pytest.raises(Exception, match="overlap"):
        check(Fn(lambda x, s: torch.as_strided_scatter(x, s, (2, 2), (0, 1))), (torch.randn(3), torch.randn(2, 2)),
              opset=NEWEST)

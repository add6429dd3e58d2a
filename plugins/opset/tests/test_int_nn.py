"""Neural-network conversions on integer tensors, and the exactness fixes that came with them.

ONNX's Gemm (in onnxruntime), Conv, ConvTranspose, AveragePool, MaxPool and DepthToSpace have no
integer kernels, and MatMul takes integers only from opset 9. Integer inputs are converted
exactly instead: MatMul in int64 (float64 below opset 9), convolutions and pools as gathered
windows contracted or reduced in int64, average pools with ATen's truncating division. Each
case runs at the conversion's lowest opset, at the opsets where its form changes, and at the
newest, for int64, int32 where PyTorch has the kernel, and float32 (``FLOAT_TOO``), whose
conversion must be unchanged.

Also here: ``total_weight`` of an unreduced ``nll_loss_forward``, ``Where`` without Where
(opsets 7-8) on inf and NaN, and Reshape targets holding empty dims (advanced indexing of empty
tensors, PyTorch's own decompositions included).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from onnxplug.capture import FunctionModule as Fn  # a function as a module, for export
from onnxplug.testing import NEWEST_OPSET as NEWEST

aten = torch.ops.aten

torch.manual_seed(0)


def ints(*shape, low=-9, high=10, dtype=torch.int64):
    return torch.randint(low, high, shape, dtype=dtype)


X1, X2, X3 = ints(2, 4, 9), ints(2, 4, 7, 6), ints(1, 2, 5, 4, 6)
W1, W2 = ints(6, 2, 3), ints(6, 2, 3, 3)  # two groups of the 4 channels of X1, X2
M, V = ints(3, 5), ints(5)

# name: (fn, args, opsets). Every case runs at its opsets and at NEWEST.
CASES = {
    # products: MatMul takes integers from opset 9 (float64 below), Gemm never does
    "linear_2d": (lambda x, w, b: F.linear(x, w, b), (ints(4, 5), ints(3, 5), ints(3)), (7, 8, 9)),
    "linear_3d_no_bias": (lambda x, w: F.linear(x, w), (ints(2, 4, 5), ints(3, 5)), (7, 9)),
    "linear_empty_batch": (lambda x, w, b: F.linear(x, w, b), (ints(0, 5), ints(3, 5), ints(3)), (7, 9)),
    "addmm": (lambda b, x, y: torch.addmm(b, x, y, beta=2, alpha=-3), (ints(4), M, ints(5, 4)), (7, 9)),
    "addmm_beta0": (lambda b, x, y: torch.addmm(b, x, y, beta=0), (ints(3, 4), M, ints(5, 4)), 7),
    "mm": (lambda x, y: x @ y, (M, ints(5, 2)), (7, 8, 9)),
    "bmm": (lambda x, y: torch.bmm(x, y), (ints(2, 3, 5), ints(2, 5, 4)), 7),
    "matmul_broadcast": (lambda x, y: torch.matmul(x, y), (ints(2, 1, 3, 5), ints(4, 5, 2)), 7),
    "matvec": (lambda m, v, b: (torch.mv(m, v), torch.dot(v, v), torch.addmv(b, m, v, alpha=2)), (M, V, ints(3)), 7),
    "baddbmm_addbmm": (lambda b, x, y: (torch.baddbmm(b, x, y, beta=-1), torch.addbmm(b[0], x, y)),
                       (ints(2, 3, 4), ints(2, 3, 5), ints(2, 5, 4)), 7),
    "matrix_power": (lambda m: torch.linalg.matrix_power(m, 3), (ints(3, 3, low=-3, high=4),), 7),
    "bilinear": (lambda a, b, w, c: F.bilinear(a, b, w, c), (ints(2, 3), ints(2, 4), ints(5, 3, 4), ints(5)), 7),
    # convolutions: gathered windows and a grouped MatMul
    "conv1d": (lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=2, dilation=2, groups=2), (X1, W1, ints(6)), 7),
    "conv2d": (lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=(1, 0), groups=2), (X2, W2), (7, 9)),
    "conv2d_same": (lambda x, w: F.conv2d(x, w, padding="same", dilation=2), (X2, ints(3, 4, 2, 3)), 7),
    "conv2d_unbatched": (lambda x, w, b: F.conv2d(x, w, b, padding=1), (X2[0], ints(3, 4, 3, 3), ints(3)), 7),
    "conv3d": (lambda x, w, b: F.conv3d(x, w, b, stride=(1, 2, 1), padding=1), (X3, ints(3, 2, 3, 2, 2), ints(3)), 7),
    "convolution": (lambda x, w, b: aten.convolution(x, w, b, [1, 1], [1, 1], [1, 1], False, [0, 0], 2),
                    (X2, W2, ints(6)), 7),
    "conv_transpose1d": (lambda x, w, b: F.conv_transpose1d(x, w, b, stride=3, padding=1, output_padding=2),
                         (X1, ints(4, 3, 3), ints(3)), 7),
    "conv_transpose2d": (lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=(1, 2), groups=2, dilation=(2, 1)),
                         (X2, ints(4, 2, 3, 3)), 7),
    "conv_transpose2d_wide_output_padding": (
        lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=3, dilation=4),
        (ints(1, 2, 4, 4), ints(2, 3, 3, 3), ints(3)), 7),
    "conv_transpose3d_unbatched": (lambda x, w: F.conv_transpose3d(x, w, stride=2), (X3[0], ints(2, 3, 2, 3, 2)), 7),
    # pools: max over gathered windows (padding holds the lowest value), sums / whole divisors
    "max_pool1d": (lambda x: F.max_pool1d(x, 3, 2, 1, ceil_mode=True, return_indices=True)[0], (X1,), 7),
    "max_pool2d": (lambda x: F.max_pool2d(x, (3, 2), (2, 1), (1, 1), dilation=(1, 2)), (X2,), 7),
    "max_pool3d_unbatched": (lambda x: F.max_pool3d(x, 2, ceil_mode=True), (X3[0],), 7),
    "max_pool2d_indices": (lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True), (X2,), (7, 8)),
    "max_pool1d_indices_unbatched": (lambda x: F.max_pool1d(x, 2, dilation=2, return_indices=True), (X1[0],), (7, 8)),
    "max_pool3d_indices": (lambda x: F.max_pool3d(x, (2, 2, 3), padding=1, return_indices=True), (X3,), (7, 8)),
    "max_pool_extremes": (lambda x: F.max_pool2d(x, 2, padding=1),
                          (torch.tensor([[[[-2**63, 2**62], [2**63 - 1, -5]]]]),), 7),
    "avg_pool1d": (lambda x: F.avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), (X1,), 7),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, (3, 2), (2, 1), (1, 1)), (X2,), 7),
    "avg_pool2d_divisor": (lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, divisor_override=4), (X2,), 7),
    "avg_pool3d_unbatched": (lambda x: F.avg_pool3d(x, (2, 2, 3), padding=1, count_include_pad=False), (X3[0],), 7),
    "local_response_norm": (lambda x: F.local_response_norm(x, 3), (X2,), 11),  # Pad takes ints from 11
    # rearrangements: DepthToSpace (from 11) is used for floats only
    "pixel_shuffle": (lambda x: F.pixel_shuffle(x, 2), (ints(2, 8, 3, 2),), (7, 10, 11)),
    "pixel_shuffle_5d": (lambda x: F.pixel_shuffle(x, 2), (ints(2, 1, 4, 3, 2),), (7, 10, 11)),
    "pixel_shuffle_empty": (lambda x: F.pixel_shuffle(x, 3), (ints(1, 0, 2, 2),), (7, 10, 11)),
    "pixel_unshuffle": (lambda x: F.pixel_unshuffle(x, 2), (ints(2, 1, 4, 6),), 7),
    "channel_shuffle": (lambda x: F.channel_shuffle(x, 2), (ints(2, 6, 3, 3),), 7),
    # losses on integer inputs are float
    "cosine_embedding_loss": (lambda a, b, y: F.cosine_embedding_loss(a, b, y, margin=0.2),
                              (ints(5, 4), ints(5, 4), torch.tensor([1, -1, 1, -1, 1])), 7),
}

# cases that PyTorch also runs on int32 (no int32 kernel: transposed convolutions, average pools)
INT32 = ["linear_2d", "linear_3d_no_bias", "addmm", "mm", "bmm", "matmul_broadcast", "matvec", "bilinear", "conv2d",
         "conv2d_unbatched", "conv3d", "max_pool2d", "max_pool3d_unbatched", "max_pool2d_indices", "pixel_shuffle",
         "pixel_unshuffle", "cosine_embedding_loss"]
# cases whose float32 twin must keep passing (the float conversions are the ONNX ops themselves)
FLOAT_TOO = ["linear_2d", "linear_3d_no_bias", "addmm", "mm", "bilinear", "conv1d", "conv2d", "conv2d_same",
             "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose2d_wide_output_padding",
             "conv_transpose3d_unbatched", "max_pool2d", "max_pool2d_indices", "avg_pool2d", "avg_pool2d_divisor",
             "pixel_shuffle", "pixel_shuffle_5d", "pixel_unshuffle", "cosine_embedding_loss"]
# float32 twins whose ONNX op only comes at a later opset (dilated MaxPool, indices from MaxPool-8)
FLOAT_FROM = {"max_pool2d": 10, "max_pool2d_indices": 8}


def _params():
    for name, (_, _, opsets) in CASES.items():
        opsets = {*(opsets if isinstance(opsets, tuple) else (opsets,)), NEWEST}
        variants = [("int64", torch.int64)]
        variants += [("int32", torch.int32)] if name in INT32 else []
        variants += [("float32", torch.float32)] if name in FLOAT_TOO else []
        for label, dtype in variants:
            lowest = FLOAT_FROM.get(name, 0) if dtype == torch.float32 else 0
            for opset in sorted({max(o, lowest) for o in opsets}):
                yield pytest.param(name, dtype, opset, id=f"{name}-{label}-{opset}")


@pytest.mark.parametrize("name,dtype,opset", list(_params()))
def test_int_nn(check, name, dtype, opset):
    fn, args, _ = CASES[name]
    args = tuple(a.to(dtype) for a in args)
    check(Fn(fn), args, opset=opset, atol=1e-4 if dtype.is_floating_point else 0, rtol=1e-4)


@pytest.mark.parametrize("opset", [9, NEWEST])
def test_int_conv_is_exact_beyond_float64(check, opset):
    """From opset 9 integer convolutions multiply in int64: exact where float64 is not (sums of
    2**51-sized products), like PyTorch."""
    x = torch.randint(2**29, 2**30, (1, 2, 4, 4))
    w = torch.randint(2**20, 2**21, (3, 2, 3, 3))
    assert not torch.equal(F.conv2d(x.double(), w.double()).long(), F.conv2d(x, w))  # float64 falls short
    check(Fn(lambda x, w: (F.conv2d(x, w), F.conv_transpose2d(x, w.transpose(0, 1)))), (x, w), opset=opset,
          atol=0, rtol=0)


@pytest.mark.parametrize("opset", [7, 8])
def test_int_products_below_9_in_float64(check, opset):
    """Before opset 9 integers multiply in float64: exact while sums stay below 2**53."""
    x = torch.randint(-2**25, 2**25, (3, 4))
    check(Fn(lambda a, b: (a @ b, F.conv1d(a[None], b[:, :, None]))), (x, x.T.contiguous()), opset=opset,
          atol=0, rtol=0)


# -- nll_loss_forward's total_weight ---------------------------------------------------------------
LOGP = torch.log_softmax(torch.randn(4, 5), 1)
TARGET = torch.tensor([1, 0, 4, 2])
W5 = torch.rand(5) + 0.5


@pytest.mark.parametrize("opset", [7, NEWEST])
@pytest.mark.parametrize("fn,args", [
    (lambda x, t, w: aten.nll_loss_forward(x, t, w, 0, 1), (LOGP, TARGET, W5)),  # batched: 0
    (lambda x, t, w: aten.nll_loss2d_forward(x, t, w, 0, -100),
     (torch.randn(2, 5, 3, 3), torch.randint(0, 5, (2, 3, 3)), W5)),
    (lambda x, t, w: aten.nll_loss_forward(x, t, w, 0, -100), (LOGP[0], TARGET[1], W5)),  # unbatched: w[t]
    (lambda x, t: aten.nll_loss_forward(x, t, None, 0, 0), (LOGP[0], TARGET[1])),  # ignored: 0
], ids=["batched", "2d", "unbatched", "unbatched_ignored"])
def test_nll_forward_total_weight_unreduced(check, fn, args, opset):
    check(Fn(fn), args, opset=opset)


# -- Where before opset 9 ------------------------------------------------------------------------
SPECIAL = torch.tensor([[1.0, float("inf"), -2.0, float("nan")], [float("-inf"), 3.0, 0.5, -0.0]])


@pytest.mark.parametrize("opset", [7, 8, 9])
@pytest.mark.parametrize("fn,args", [
    (lambda x, m: x.masked_fill(m, float("-inf")), (torch.randn(2, 4), SPECIAL > 0)),
    (lambda x, m: x.masked_fill(m, float("nan")), (SPECIAL, torch.tensor([True, False, False, True]))),
    (lambda x, m: x.masked_fill(m, 7.0), (SPECIAL, SPECIAL.isfinite())),
    (lambda x, m: x.masked_fill(m, 3), (torch.randint(-5, 5, (2, 4)), SPECIAL.isnan())),
    (lambda x, m: x.masked_fill(m, float("inf")), (torch.zeros(0, 4), torch.zeros(0, 4, dtype=torch.bool))),
], ids=["neg_inf_fill", "nan_fill_broadcast_mask", "nonfinite_input", "int", "empty"])
def test_where_is_exact_for_non_finite_values(check, fn, args, opset):
    check(Fn(fn), args, opset=opset)


@pytest.mark.parametrize("opset", [7, 8, NEWEST])
def test_attention_with_key_padding_mask(check, opset):
    """MultiheadAttention's key_padding_mask is a masked_fill with -inf before the softmax."""
    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=True).eval()

    def fn(x, mask):
        return mha(x, x, x, key_padding_mask=mask, need_weights=False)[0]

    mask = torch.tensor([[False, False, True, True], [False, True, False, False]])
    with torch.no_grad():
        check(Fn(fn), (torch.randn(2, 4, 8), mask), opset=opset)


# -- Reshape with empty dims: advanced indexing of empty tensors ----------------------------------
WIN_COLS = torch.arange(3).reshape(3, 1) + torch.arange(5)  # [kernel, output]: unfold's decomposition
WIN_ROWS = WIN_COLS.reshape(3, 5, 1, 1)
EMPTY_INDEXING = {
    "empty_batch_adjacent_indices": (lambda x: aten.index.Tensor(x, [None, None, torch.tensor([[0], [2]]),
                                                                      torch.tensor([[1, 3]])]),
                                     (torch.randn(0, 2, 5, 5),)),
    "empty_rest": (lambda x: aten.index.Tensor(x, [torch.tensor([0, 1]), torch.tensor([1, 0])]),
                   (torch.randn(3, 2, 0, 1),)),
    "empty_batch_front": (lambda x: aten.index.Tensor(x, [None, torch.tensor([0, 1]), torch.tensor([1, 0])]),
                          (torch.randn(0, 3, 2, 1),)),
    "put_into_empty": (lambda x, v: aten.index_put.default(x, [None, torch.tensor([0, 1]), torch.tensor([1, 0])],
                                                           v, True), (torch.randn(0, 3, 2, 1), torch.randn(0, 2, 1))),
    "put_empty_rest": (lambda x, v: aten.index_put.default(x, [torch.tensor([2, 0]), torch.tensor([1, 1])], v),
                       (torch.randn(3, 2, 0), torch.randn(2, 0))),
    # im2col's own conversion, and PyTorch's decomposition of unfold (index.Tensor on the padded input)
    "unfold_empty_batch": (lambda x: F.unfold(x, 2, padding=1), (torch.randn(0, 1, 5, 5),)),
    "gather_windows_empty_batch": (lambda x: aten.index.Tensor(F.pad(x, [1, 1, 1, 1]),
                                                               [None, None, WIN_ROWS, WIN_COLS]),
                                   (torch.randn(0, 1, 5, 5),)),
}


@pytest.mark.parametrize("opset", [7, 11, 13, 14, NEWEST])
@pytest.mark.parametrize("name", list(EMPTY_INDEXING))
def test_reshape_with_empty_dims(check, name, opset):
    fn, args = EMPTY_INDEXING[name]
    check(Fn(fn), args, opset=opset)


@pytest.mark.parametrize("opset", [7, NEWEST])
def test_reshape_keeps_copy_semantics_with_a_dynamic_batch(check, opset):
    """A 0 in a conversion's own Reshape target still copies the input's dim (im2col keeps a
    dynamic batch that way), and the batch may be empty at run time."""
    x = torch.randn(2, 1, 5, 5)
    check(Fn(lambda x: F.unfold(x, 2)), (x,), opset=opset, input_names=["x"], dynamic_axes={"x": {0: "batch"}},
          run_inputs=(torch.randn(0, 1, 5, 5),))


@pytest.mark.parametrize("opset", [7, NEWEST])
@pytest.mark.parametrize("batch", [3, 0])
def test_int_conv_and_pools_with_a_dynamic_batch(check, opset, batch):
    """The integer windows never name the batch size, so it may be dynamic, and empty."""
    def fn(x, w):
        return (F.conv2d(x, w, padding=1), F.conv_transpose2d(x, w.transpose(0, 1), stride=2),
                F.max_pool2d(x, 2, return_indices=True), F.avg_pool2d(x, 3, 2, 1))

    w = ints(3, 4, 3, 3)
    check(Fn(fn), (X2, w), opset=opset, input_names=["x", "w"], dynamic_axes={"x": {0: "batch"}},
          run_inputs=(ints(batch, 4, 7, 6), w), atol=0, rtol=0)

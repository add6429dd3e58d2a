"""The declared conformance cases of the opset plugin (hook ``onnxplug_register_test_cases``).

A representative set over the families (elementwise, activations, reductions, shape, matmul,
nn, attention), each with the opset range its conversions claim. ``pytest --onnxplug-plugin
opset`` (or ``onnxplug test-plugin opset``) exports every case at every opset of its range and
compares onnxruntime with eager PyTorch; ``expect`` pins the form chosen at each opset where
it changes (``Gelu`` from 20, ``LayerNormalization`` from 17).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from onnxplug.testing import Nodes, OpCase


def _x(*shape):
    return lambda: [(torch.randn(*shape),)]


def _xy(a, b):
    return lambda: [(torch.randn(*a), torch.randn(*b))]


def _pos(*shape):
    return lambda: [(torch.rand(*shape) + 0.1,)]


def _case(name, fn, samples, lo=7, **kw):
    return OpCase(name, fn, samples, opsets=(lo, None), op=kw.pop("op", f"aten::{name}"), **kw)


def _module(factory):
    return {"fn": factory, "module": True}


ELEMENTWISE = [
    _case("add", torch.add, _xy((2, 3), (3,)), op="aten::add.Tensor"),
    _case("add_alpha", lambda x, y: torch.add(x, y, alpha=2), _xy((2, 3), (2, 3)),
          op="aten::add.Tensor"),
    _case("sub", torch.sub, _xy((2, 3), (1, 3)), op="aten::sub.Tensor"),
    _case("mul", torch.mul, _xy((2, 3), (2, 1)), op="aten::mul.Tensor"),
    _case("mul_scalar", lambda x: x * 2.5, _x(2, 3), op="aten::mul.Tensor"),
    _case("div", torch.div, lambda: [(torch.randn(2, 3), torch.rand(2, 3) + 0.5)],
          op="aten::div.Tensor"),
    _case("rsub", lambda x: 1.0 - x, _x(2, 3), op="aten::rsub.Scalar"),
    _case("neg", torch.neg, _x(2, 3)),
    _case("exp", torch.exp, _x(2, 3)),
    _case("log", torch.log, _pos(2, 3)),
    _case("sqrt", torch.sqrt, _pos(2, 3)),
    _case("rsqrt", torch.rsqrt, _pos(2, 3)),
    _case("pow", lambda x: torch.pow(x, 2.0), _x(2, 3), op="aten::pow.Tensor_Scalar"),
    _case("pow_tensor", torch.pow, lambda: [(torch.rand(2, 3) + 0.5, torch.randn(2, 3))],
          op="aten::pow.Tensor_Tensor"),
    _case("erf", torch.erf, _x(2, 3)),
    _case("tanh", torch.tanh, _x(2, 3)),
    _case("sigmoid", torch.sigmoid, _x(2, 3)),
    _case("relu", torch.relu, _x(2, 3)),
    _case("float16_add", torch.add, _xy((2, 3), (2, 3)), lo=7, dtypes=(torch.float16,),
          rtol=1e-2, atol=1e-2, op="aten::add.Tensor"),
]

ACTIVATIONS = [
    _case("gelu", F.gelu, _x(2, 8), expect=[Nodes("Gelu", count=0, opsets=(7, 19)),
                                             Nodes("Gelu", opsets=(20, None))]),
    _case("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), _x(2, 8), op="aten::gelu",
          expect=Nodes("Gelu", opsets=(20, None))),
    _case("softmax", lambda x: torch.softmax(x, dim=-1), _x(2, 3, 4), op="aten::_softmax"),
    _case("softmax_dim0", lambda x: torch.softmax(x, dim=0), _x(3, 4), op="aten::_softmax"),
    _case("log_softmax", lambda x: torch.log_softmax(x, dim=1), _x(2, 5),
          op="aten::_log_softmax"),
]

REDUCTIONS = [
    _case("sum", lambda x: x.sum(), _x(2, 3), op="aten::sum"),
    _case("sum_dim", lambda x: x.sum(dim=1, keepdim=True), _x(2, 3, 4),
          op="aten::sum.dim_IntList"),
    _case("mean_dim", lambda x: x.mean(dim=(0, 2)), _x(2, 3, 4), op="aten::mean.dim"),
    _case("amax", lambda x: torch.amax(x, dim=-1), _x(2, 5)),
    _case("amin", lambda x: torch.amin(x, dim=0, keepdim=True), _x(3, 4)),
    _case("argmax", lambda x: torch.argmax(x, dim=1), _x(3, 5)),
    _case("argmin", lambda x: torch.argmin(x, dim=0, keepdim=True), _x(3, 5)),
]

SHAPE = [
    _case("reshape", lambda x: x.reshape(3, -1), _x(2, 3, 2), op="aten::view"),
    _case("permute", lambda x: x.permute(2, 0, 1), _x(2, 3, 4)),
    _case("transpose", lambda x: x.transpose(0, 1), _x(2, 3), op="aten::transpose.int"),
    _case("flatten", lambda x: torch.flatten(x, 1), _x(2, 3, 4), op="aten::view"),
    _case("unsqueeze", lambda x: x.unsqueeze(1), _x(2, 3)),
    _case("squeeze", lambda x: x.squeeze(1), _x(2, 1, 3), op="aten::squeeze.dims"),
    _case("cat", lambda x, y: torch.cat([x, y], dim=1), _xy((2, 3), (2, 2))),
    _case("split", lambda x: torch.split(x, [1, 3], dim=1), _x(2, 4),
          op="aten::split_with_sizes"),
    _case("chunk", lambda x: torch.chunk(x, 2, dim=0), _x(4, 3), op="aten::split.Tensor"),
    _case("slice", lambda x: x[:, 1:3], _x(2, 4), op="aten::slice.Tensor"),
    _case("select", lambda x: x[1], _x(3, 4), op="aten::select.int"),
    _case("expand", lambda x: x.expand(3, 4), _x(1, 4)),
]

MATMUL = [
    _case("matmul", torch.matmul, _xy((2, 3, 4), (4, 5)), op="aten::matmul"),
    _case("mm", torch.mm, _xy((2, 3), (3, 4))),
    _case("bmm", torch.bmm, _xy((2, 3, 4), (2, 4, 5))),
    _case("addmm", torch.addmm, lambda: [(torch.randn(4), torch.randn(2, 3), torch.randn(3, 4))]),
    _case("linear", nn.Linear(4, 3), _x(2, 4), op="aten::linear"),
]


def _conv_bn():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())


NN = [
    _case("conv1d", nn.Conv1d(2, 3, 3, stride=2), _x(1, 2, 9)),
    _case("conv2d_bn_relu", lo=7, samples=_x(1, 3, 6, 6), op="aten::conv2d", **_module(_conv_bn)),
    _case("max_pool2d", lambda x: F.max_pool2d(x, 2), _x(1, 2, 6, 6)),
    _case("avg_pool2d", lambda x: F.avg_pool2d(x, 2), _x(1, 2, 6, 6)),
    _case("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, 1), _x(1, 2, 4, 4)),
    _case("layer_norm", nn.LayerNorm(8), _x(2, 3, 8),
          expect=[Nodes("LayerNormalization", opsets=(17, None)),
                  Nodes("LayerNormalization", count=0, opsets=(7, 16))]),
    _case("embedding", nn.Embedding(10, 4), lambda: [(torch.tensor([[1, 2], [9, 0]]),)]),
    _case("dropout_eval", nn.Dropout(0.5), _x(2, 3), op="aten::dropout"),
    _case("scaled_dot_product_attention", F.scaled_dot_product_attention,
          lambda: [tuple(torch.randn(1, 2, 4, 8) for _ in range(3))]),
    _case("linear_dynamic_batch", nn.Linear(4, 3),
          lambda: [(torch.randn(2, 4),), (torch.randn(5, 4),)], lo=9, op="aten::linear",
          input_names=("x",), dynamic_axes={"x": {0: "batch"}}),
]

CASES = ELEMENTWISE + ACTIVATIONS + REDUCTIONS + SHAPE + MATMUL + NN

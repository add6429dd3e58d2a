"""Recurrent layers, as of opset 7: ``nn.LSTM``, ``nn.GRU`` and ``nn.RNN`` as ONNX ``LSTM``,
``GRU`` and ``RNN``, one node per layer.

PyTorch hands the whole stack to one ATen op (``aten::lstm.input``: the input, the initial
states, every layer's weights in a flat list, and the layer's flags). Each layer becomes one
ONNX node over ``[seq, batch, features]`` (``batch_first`` is a Transpose on each side), both
directions in one node for ``bidirectional``; the next layer reads its output with the
directions concatenated on the feature axis, as PyTorch does.

The gates are ordered differently: PyTorch's LSTM weights are ``i, f, g, o`` and ONNX's
``i, o, f, c``; GRU's are ``r, z, n`` against ``z, r, h``, with ``linear_before_reset=1``
(PyTorch applies the reset gate after the hidden state's linear map). The weights are
constants, reordered and stacked here into new initializers (``[directions, gates * hidden,
features]``); biases are ``[W_b, R_b]`` per direction, zeros without ``bias``.

Declined (the op then goes to PyTorch's decomposition): LSTM projections (``proj_size``),
dropout between layers in training mode, and weights that are not constants.
"""

from __future__ import annotations

import torch

from ..forms import slice_
from ..helpers import transpose
from ..registration import op

# new order of PyTorch's gate blocks in ONNX's layout
_LSTM_GATES = (0, 3, 1, 2)  # i f g o -> i o f c
_GRU_GATES = (1, 0, 2)  # r z n -> z r h


def _reorder(w: torch.Tensor, gates: tuple[int, ...] | None) -> torch.Tensor:
    if gates is None:
        return w
    return torch.cat([w.chunk(len(gates))[i] for i in gates])


def _layer_weights(g, params: list, layer: int, dirs: int, has_biases: bool,
                   gates: tuple[int, ...] | None, hidden: int):
    """ONNX ``W``, ``R`` and ``B`` of ``layer``: the directions stacked, the gates reordered."""
    per = 4 if has_biases else 2
    ws, rs, bs = [], [], []
    for d in range(dirs):
        chunk = params[(layer * dirs + d) * per:(layer * dirs + d + 1) * per]
        consts = [g.const_value(p) for p in chunk]
        if any(c is None for c in consts):
            raise NotImplementedError("recurrent weights that are not constants")
        w_ih, w_hh = consts[0], consts[1]
        ws.append(_reorder(w_ih, gates))
        rs.append(_reorder(w_hh, gates))
        b_ih, b_hh = consts[2:4] if has_biases else (torch.zeros(w_ih.shape[0], dtype=w_ih.dtype),) * 2
        bs.append(torch.cat([_reorder(b_ih, gates), _reorder(b_hh, gates)]))
    stack = [torch.stack(t).contiguous() for t in (ws, rs, bs)]
    first = params[layer * dirs * per].name or f"rnn_l{layer}"  # the layer's weight_ih, named
    return [g.initializer(t, name=f"{first}_{kind}") for t, kind in zip(stack, "WRB")]


def _states(g, hx, layer: int, dirs: int, num_layers: int):
    """The initial state of ``layer``: its ``dirs`` rows of ``[layers * dirs, batch, hidden]``."""
    if num_layers == 1:
        return hx
    return slice_(g, hx, [layer * dirs], [(layer + 1) * dirs], [0])


def _recurrent(g, kind: str, x, hxs: list, params: list, has_biases: bool, num_layers: int,
               dropout: float, train: bool, bidirectional: bool, batch_first: bool,
               gates: tuple[int, ...] | None, **attrs):
    """The stack of ``num_layers`` ONNX ``kind`` nodes; ``(output, *final states)``."""
    if train and dropout and num_layers > 1:
        raise NotImplementedError("dropout between recurrent layers in training mode")
    dirs = 2 if bidirectional else 1
    if len(params) != num_layers * dirs * (4 if has_biases else 2):
        raise NotImplementedError("an LSTM projection (proj_size): a weight more per layer")
    hidden = g.shape(hxs[0])[-1]
    if not isinstance(hidden, int):
        raise NotImplementedError("a recurrent state of unknown hidden size")
    seq = transpose(g, x, [1, 0, 2]) if batch_first else x
    finals: list[list] = [[] for _ in hxs]
    direction = "bidirectional" if bidirectional else "forward"
    for layer in range(num_layers):
        w, r, b = _layer_weights(g, params, layer, dirs, has_biases, gates, hidden)
        states = [_states(g, h, layer, dirs, num_layers) for h in hxs]
        outs = g.op(kind, seq, w, r, b, None, *states, hidden_size_i=hidden, direction_s=direction,
                    outputs=1 + len(hxs), **attrs)
        y = outs[0]  # [seq, dirs, batch, hidden]
        for final, state in zip(finals, outs[1:]):
            final.append(state)
        y = transpose(g, y, [0, 2, 1, 3])
        seq = g.op("Reshape", y, g.constant([0, 0, dirs * hidden]))
    output = transpose(g, seq, [1, 0, 2]) if batch_first else seq
    return (output, *[f[0] if len(f) == 1 else g.op("Concat", *f, axis_i=0) for f in finals])


@op("aten::lstm.input")
def lstm(g, x, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    """``nn.LSTM``: ``(output, h_n, c_n)``."""
    return _recurrent(g, "LSTM", x, list(hx), list(params), has_biases, num_layers, dropout, train,
                      bidirectional, batch_first, _LSTM_GATES)


@op("aten::gru.input")
def gru(g, x, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    """``nn.GRU``: ``(output, h_n)``."""
    return _recurrent(g, "GRU", x, [hx], list(params), has_biases, num_layers, dropout, train,
                      bidirectional, batch_first, _GRU_GATES, linear_before_reset_i=1)


def _rnn(activation: str):
    def rnn(g, x, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
        dirs = 2 if bidirectional else 1
        return _recurrent(g, "RNN", x, [hx], list(params), has_biases, num_layers, dropout, train,
                          bidirectional, batch_first, None, activations_ss=[activation] * dirs)
    rnn.__doc__ = f"``nn.RNN(nonlinearity={activation.lower()!r})``: ``(output, h_n)``."
    return rnn


rnn_tanh = op("aten::rnn_tanh.input")(_rnn("Tanh"))
rnn_relu = op("aten::rnn_relu.input")(_rnn("Relu"))

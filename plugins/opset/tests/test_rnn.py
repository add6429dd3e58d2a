"""``nn.LSTM``, ``nn.GRU`` and ``nn.RNN`` as ONNX ``LSTM``/``GRU``/``RNN``: one or two layers,
one or both directions, ``batch_first``, without biases, with initial states given or not.
Each is exported, checked, run in onnxruntime and compared with eager PyTorch (every output:
the sequence and the final states) at opset 7 (static shapes: zeros of a dynamic shape need
opset 9), 14 and the newest, there with a dynamic batch checked at a second batch size.
torch.export fixes the sequence length of these modules, so it stays static."""

from __future__ import annotations

import pytest
import torch

from onnxplug.testing import NEWEST_OPSET, export_and_compare

OPSETS = [7, 14, NEWEST_OPSET]

MODULES = {
    "lstm-2-layers-bidirectional-batch-first": lambda: torch.nn.LSTM(
        8, 16, num_layers=2, batch_first=True, bidirectional=True),
    "lstm": lambda: torch.nn.LSTM(8, 16),
    "gru-2-layers-bidirectional": lambda: torch.nn.GRU(8, 16, num_layers=2, bidirectional=True),
    "gru-batch-first-no-bias": lambda: torch.nn.GRU(8, 16, batch_first=True, bias=False),
    "rnn-relu-2-layers": lambda: torch.nn.RNN(8, 16, nonlinearity="relu", num_layers=2),
    "rnn-tanh-bidirectional-batch-first": lambda: torch.nn.RNN(8, 16, bidirectional=True,
                                                               batch_first=True),
}


def _inputs(module, batch: int):
    return torch.randn(batch, 5, 8) if module.batch_first else torch.randn(5, batch, 8)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name", list(MODULES))
def test_recurrent_layers(name, opset):
    torch.manual_seed(0)
    module = MODULES[name]().eval()
    kind = type(module).__name__
    if opset < 9:
        result = export_and_compare(module, (_inputs(module, 2),), opset=opset, atol=1e-5)
    else:
        axes = {"x": {0 if module.batch_first else 1: "batch"}}
        result = export_and_compare(module, (_inputs(module, 2),), opset=opset, atol=1e-5,
                                    input_names=["x"], dynamic_axes=axes,
                                    run_inputs=(_inputs(module, 3),))
    ops = [n.op_type for n in result.model.graph.node]
    assert ops.count(kind) == module.num_layers  # one node per layer, both directions in it
    assert not result.decomposed


@pytest.mark.parametrize("opset", [14, NEWEST_OPSET])
def test_lstm_with_initial_states(opset):
    torch.manual_seed(0)
    module = torch.nn.LSTM(6, 10, num_layers=2, bidirectional=True).eval()

    class WithStates(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = module

        def forward(self, x, h0, c0):
            out, (h, c) = self.lstm(x, (h0, c0))
            return out, h, c

    def inputs(batch):
        return (torch.randn(4, batch, 6), torch.randn(4, batch, 10), torch.randn(4, batch, 10))

    axes = {"x": {1: "batch"}, "h0": {1: "batch"}, "c0": {1: "batch"}}
    export_and_compare(WithStates().eval(), inputs(2), opset=opset, atol=1e-5,
                       input_names=["x", "h0", "c0"], dynamic_axes=axes, run_inputs=inputs(3))


def test_lstm_projection_goes_to_pytorchs_decomposition():
    """proj_size adds a weight per layer that ONNX's LSTM has no place for: the conversion
    declines, and PyTorch's decomposition (checked against eager like every export) takes it."""
    module = torch.nn.LSTM(8, 16, proj_size=4).eval()
    result = export_and_compare(module, (torch.randn(5, 2, 8),), opset=17, atol=1e-5)
    assert "aten::lstm.input" in result.decomposed
    assert "LSTM" not in {n.op_type for n in result.model.graph.node}

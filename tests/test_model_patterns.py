"""Patterns found in real models that once failed to export (each named after its model):
a ``no_grad`` block inside ``forward``, an assert on a data-dependent value, keywords that a
``forward(**kwargs)`` absorbs, an in-place op after a failed lowering round, and an axis that
only a decomposition fixes. Every export is checked, run in onnxruntime and compared with eager
PyTorch, at the example size and at another size of the dynamic axes."""

from __future__ import annotations

import pytest
import torch

import onnxplug
from onnxplug.testing import NEWEST_OPSET, export_and_compare


@pytest.mark.parametrize("opset", [7, 17, NEWEST_OPSET])
def test_no_grad_block_inside_forward_is_inlined(opset):
    """phimoe: ``with torch.no_grad():`` in forward is captured as wrap_with_set_grad_enabled."""

    class Router(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gate = torch.nn.Linear(8, 4)

        def forward(self, x):
            with torch.no_grad():
                scores = self.gate(x).softmax(-1)
            return x * scores.max(-1, keepdim=True).values

    x = torch.randn(2, 5, 8)
    axes = {"x": {0: "batch", 1: "seq"}}
    result = export_and_compare(Router().eval(), (x,), opset=opset, input_names=["x"], dynamic_axes=axes,
                                run_inputs=(torch.randn(3, 7, 8),))
    assert "higher_order::wrap_with_set_grad_enabled" in result.served


def test_assert_on_an_item_is_dropped_with_what_feeds_it():
    """XLM, FlauBERT: ``assert lengths.max().item() <= slen`` is captured as a runtime assert on
    an ``item``; ONNX has no assertions, so neither the assert nor what only feeds it is
    lowered."""

    class Lengths(torch.nn.Module):
        def forward(self, ids):
            lengths = (ids != 0).sum(dim=1)
            torch._check(lengths.max().item() <= ids.shape[1])  # a runtime assert in the graph
            return ids * 2 + lengths.unsqueeze(1)

    ids = torch.randint(1, 9, (2, 6))
    axes = {"ids": {0: "batch", 1: "seq"}}
    result = export_and_compare(Lengths(), (ids,), opset=17, input_names=["ids"], dynamic_axes=axes,
                                run_inputs=(torch.randint(0, 9, (3, 4)),))
    assert result.capture.strategy == "torch.export"


def test_keywords_absorbed_by_var_kwargs_with_dynamic_axes():
    """openai-gpt, granitemoe: a keyword that lands in ``forward(**kwargs)`` made torch.export
    match the dynamic-shapes spec against inputs in another order."""

    class Forwarding(torch.nn.Module):
        def forward(self, input_ids, **kwargs):
            scale = 1.0 if kwargs.get("use_cache") else 2.0
            return input_ids.float() * scale + kwargs["mask"].float()

    kw = {"input_ids": torch.randint(0, 9, (2, 5)), "mask": torch.ones(2, 5, dtype=torch.long),
          "use_cache": False}
    axes = {"input_ids": {0: "batch", 1: "seq"}, "mask": {0: "batch", 1: "seq"}}
    model = Forwarding()
    result = export_and_compare(model, (), kwargs=kw, opset=17, input_names=["input_ids", "mask"],
                                dynamic_axes=axes)
    assert [str(d) for d in result.ir_model.graph.inputs[0].shape] == ["batch", "seq"]
    assert "forward" not in model.__dict__  # the capture's signature is gone again


def test_inplace_op_after_a_declined_conversion_waits_for_the_next_round():
    """TAPAS: once a lowering round has failed, an in-place op converted through its functional
    form (``x += y`` as ``add``) must not run on the values the failed round left empty."""

    def declining_silu(g, x):
        raise NotImplementedError("this test's silu declines: decompose it")

    class Model(torch.nn.Module):
        def forward(self, x):
            y = torch.nn.functional.silu(x) * 1.5
            y += torch.cos(x)
            return y

    result = export_and_compare(Model(), (torch.randn(2, 3),), opset=17,
                                custom_symbolics={"aten::silu": declining_silu})
    assert "aten::silu.default" in result.decomposed  # PyTorch's decomposition; the rest converted


def test_axis_fixed_by_a_decomposition_is_an_error(tmp_path):
    """FNet: PyTorch's decomposition of ``fft_fftn`` (no conversion) fixes the batch and
    sequence axes; the export says so instead of writing a graph that runs at one size only."""
    transformers = pytest.importorskip("transformers")
    cfg = transformers.FNetConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1,
                                  intermediate_size=32, max_position_embeddings=32)
    model = transformers.FNetModel(cfg).eval()
    path = tmp_path / "m.onnx"
    with pytest.raises(onnxplug.OnnxExporterError) as info:
        onnxplug.export(model, (torch.randint(0, 64, (2, 8)),), path, input_names=["input_ids"],
                        dynamic_axes={"input_ids": {0: "batch", 1: "seq"}}, opset_version=17)
    message = str(info.value)
    assert "of input 'input_ids'" in message and "is fixed to" in message
    assert "aten::fft_fftn" in message and "remove the axis from dynamic_axes" in message
    assert not path.exists()

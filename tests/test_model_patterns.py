"""Patterns found in real models that once failed to export, each test named after its model:
an assert on a data-dependent value, keywords that a ``forward(**kwargs)`` absorbs, an in-place
op after a failed lowering round, FNet's FFT and an axis that only a decomposition fixes (a
``no_grad`` block inside ``forward`` is in the opset plugin's control-flow tests). Every export
is checked, run in onnxruntime and compared with eager PyTorch, at the example size and where
axes are dynamic at another size."""

from __future__ import annotations

import pytest
import torch

import onnxplug
from onnxplug.testing import export_and_compare


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


def _tiny_fnet():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.FNetConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1,
                                  intermediate_size=32, max_position_embeddings=32)
    return transformers.FNetModel(cfg).eval()


FNET_AXES = {"input_ids": {0: "batch", 1: "seq"}}


def test_fnet_exports_with_dynamic_batch_and_sequence():
    """FNet mixes tokens with ``fftn`` over the sequence and hidden axes."""
    result = export_and_compare(_tiny_fnet(), (torch.randint(0, 64, (2, 8)),), opset=17,
                                input_names=["input_ids"], dynamic_axes=FNET_AXES,
                                run_inputs=(torch.randint(0, 64, (3, 12)),), atol=1e-4)
    assert "aten::fft_fftn.default" in result.served


def test_axis_fixed_by_a_decomposition_is_an_error(tmp_path):
    """FNet before fft_fftn converted: PyTorch's decomposition of it fixes the batch and
    sequence axes. The export says so instead of writing a graph that runs at one size only."""

    def declining_fftn(g, x, s=None, dim=None, norm=None):
        raise NotImplementedError("this test's fftn declines: decompose it")

    path = tmp_path / "m.onnx"
    with pytest.raises(onnxplug.OnnxExporterError) as info:
        onnxplug.export(_tiny_fnet(), (torch.randint(0, 64, (2, 8)),), path,
                        input_names=["input_ids"], dynamic_axes=FNET_AXES, opset_version=17,
                        custom_symbolics={"aten::fft_fftn": declining_fftn})
    message = str(info.value)
    assert "of input 'input_ids'" in message and "is fixed to" in message
    assert "aten::fft_fftn" in message and "remove the axis from dynamic_axes" in message
    assert not path.exists()

"""transformers' export API with export_format="onnxplug": prefill and decode graphs with their
caches, saved, checked with onnx.checker and run through transformers' ONNX runner, matching
eager PyTorch."""

from __future__ import annotations

import copy
from pathlib import Path

import onnx
import pytest
import torch

transformers = pytest.importorskip("transformers")
onnxplug_transformers = pytest.importorskip("onnxplug_transformers")

from transformers.exporters import AutoHfExporter  # noqa: E402
from transformers.exporters.utils import decompose_for_generation  # noqa: E402


def llama():
    return transformers.LlamaForCausalLM(transformers.LlamaConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=99, max_position_embeddings=64))


def gpt2():
    return transformers.GPT2LMHeadModel(transformers.GPT2Config(
        n_embd=32, n_layer=2, n_head=4, n_positions=64, vocab_size=99))


def test_the_backend_is_registered_on_import():
    from transformers.exporters.auto import EXPORT_BACKENDS

    assert EXPORT_BACKENDS["onnxplug"].exporter is onnxplug_transformers.OnnxplugExporter
    config = onnxplug_transformers.OnnxplugConfig(dynamic=True)
    assert isinstance(AutoHfExporter.from_config(config), onnxplug_transformers.OnnxplugExporter)


@pytest.mark.parametrize("build", [llama, pytest.param(gpt2, marks=pytest.mark.slow)])
def test_export_for_generation_matches_eager(build, tmp_path):
    torch.manual_seed(0)
    model = build().eval()
    ids = torch.randint(0, 99, (1, 6))
    sample = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    config = onnxplug_transformers.OnnxplugConfig(dynamic=True, opset_version=18)
    exported = AutoHfExporter.from_config(config).export_for_generation(model, sample, config=config)
    assert set(exported.components) == {"prefill", "decode"}
    exported.save_pretrained(tmp_path)
    files = sorted(Path(tmp_path).glob("*.onnx"))
    assert len(files) == 2
    for path in files:
        onnx.checker.check_model(str(path), full_check=True)
    for name, (submodel, inputs) in decompose_for_generation(model, sample).items():
        got = exported.runners[name](**copy.deepcopy(inputs))
        with torch.no_grad():
            want = submodel(**copy.deepcopy(inputs))
        got_leaves = [t for t in torch.utils._pytree.tree_leaves(got) if isinstance(t, torch.Tensor)]
        want_leaves = [t for t in torch.utils._pytree.tree_leaves(want) if isinstance(t, torch.Tensor)]
        assert len(got_leaves) == len(want_leaves) > 1  # logits and the cache
        for g, w in zip(got_leaves, want_leaves):
            torch.testing.assert_close(g, w, rtol=1e-3, atol=1e-4)

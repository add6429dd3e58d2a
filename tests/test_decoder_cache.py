"""Decoders with their cache (transformers' DynamicCache and EncoderDecoderCache) as inputs
and outputs: default names, dynamic batch/sequence/past length, prefill and decode exports,
checked in onnxruntime against eager PyTorch at the export sizes and at other sizes."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

import onnxplug
from onnxplug.verify import eager_outputs, run_onnxruntime

transformers = pytest.importorskip("transformers")

SMALL = dict(vocab_size=99, max_position_embeddings=64)


def llama():
    return transformers.LlamaForCausalLM(transformers.LlamaConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, **SMALL))


def gpt2():
    return transformers.GPT2LMHeadModel(transformers.GPT2Config(
        n_embd=32, n_layer=2, n_head=4, n_positions=64, vocab_size=99))


def qwen2():
    return transformers.Qwen2ForCausalLM(transformers.Qwen2Config(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, **SMALL))


def mistral():
    """Sliding-window attention: its cache layers count the tokens they have seen."""
    return transformers.MistralForCausalLM(transformers.MistralConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, sliding_window=16, **SMALL))


def gemma2():
    """Alternating sliding-window and global layers, logit soft-capping."""
    return transformers.Gemma2ForCausalLM(transformers.Gemma2Config(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, sliding_window=16, **SMALL))


def gemma3():
    """Gemma 3's text decoder: a sliding-window layer (its cache a DynamicSlidingWindowLayer)
    and a global one (a DynamicLayer), with their own rotary tables. The window holds every
    past token of these tests, so both layers share the "past" axis."""
    return transformers.Gemma3ForCausalLM(transformers.Gemma3TextConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, query_pre_attn_scalar=8, sliding_window=16,
        layer_types=["sliding_attention", "full_attention"], **SMALL))


DECODERS = {"llama": llama, "gpt2": gpt2, "qwen2": qwen2, "mistral": mistral, "gemma2": gemma2,
            "gemma3": gemma3}


def cache_of(model, batch, past):
    torch.manual_seed(1)
    ids = torch.randint(0, 99, (batch, past))
    with torch.no_grad():
        out = model(ids, use_cache=True)
    return getattr(out, "cache", None) or out.past_key_values


def decode_axes(layers):
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "total"},
            "logits": {0: "batch", 1: "seq"}}
    for i in range(layers):
        for kv in ("key", "value"):
            axes[f"past_key_values.{i}.{kv}"] = {0: "batch", 2: "past"}
            axes[f"present.{i}.{kv}"] = {0: "batch", 2: "total"}
    return axes


def dims(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def run_and_compare(model, path, kwargs):
    """Feed the saved graph the flattened inputs and compare with eager on the same inputs."""
    from onnxplug.caches import cache_pytrees

    with cache_pytrees():
        expected = eager_outputs(model, (), kwargs)
        inputs = [x for x in torch.utils._pytree.tree_leaves(kwargs) if isinstance(x, torch.Tensor)]
    actual = run_onnxruntime(str(path), inputs)
    assert len(actual) == len(expected)
    for e, a in zip(expected, actual):
        np.testing.assert_allclose(a, e.numpy(), rtol=1e-3, atol=1e-4)


# One opset per decoder in the default run; the other combinations run with -m slow.
DECODE_CASES = [pytest.param(name, opset, marks=() if fast else pytest.mark.slow)
                for name, opset, fast in [("llama", 17, True), ("llama", 18, False),
                                          ("gpt2", 17, False), ("gpt2", 18, True),
                                          ("qwen2", 17, False), ("qwen2", 18, True),
                                          ("mistral", 17, True), ("mistral", 18, False),
                                          ("gemma2", 17, False), ("gemma2", 18, True),
                                          ("gemma3", 17, True), ("gemma3", 18, False)]]


@pytest.mark.parametrize("name, opset", DECODE_CASES)
def test_decode_with_past_exports_with_default_names_and_dynamic_axes(name, opset, tmp_path):
    torch.manual_seed(0)
    model = DECODERS[name]().eval()
    cache = cache_of(model, 2, 3)
    kwargs = {"input_ids": torch.randint(0, 99, (2, 2)),
              "attention_mask": torch.ones(2, 5, dtype=torch.long),
              "past_key_values": cache, "use_cache": True}
    path = tmp_path / "decode.onnx"
    r = onnxplug.export(model, (), path, kwargs=kwargs, dynamic_axes=decode_axes(2),
                        opset_version=opset, verify=True)  # verify: this size and a second one
    proto = onnx.load(path)
    names = [i.name for i in proto.graph.input]
    assert names[:2] == ["input_ids", "attention_mask"]
    assert names[2:] == [f"past_key_values.{i}.{kv}" for i in range(2) for kv in ("key", "value")]
    outs = [o.name for o in proto.graph.output]
    assert outs[0] == "logits"
    assert outs[1:] == [f"present.{i}.{kv}" for i in range(2) for kv in ("key", "value")]
    assert dims(proto.graph.input[2])[0] == "batch" and dims(proto.graph.input[2])[2] == "past"
    assert dims(proto.graph.output[1])[2] == "total"
    assert {"batch", "seq", "past", "total"} <= set(r.axis_ranges)
    # another batch, new-token count and past length than the example
    other = {"input_ids": torch.randint(0, 99, (3, 1)),
             "attention_mask": torch.ones(3, 8, dtype=torch.long),
             "past_key_values": cache_of(model, 3, 7), "use_cache": True}
    run_and_compare(model, path, other)


@pytest.mark.parametrize("name", ["llama", "gpt2", "gemma3"])
def test_prefill_without_past_returns_the_cache_as_present(name, tmp_path):
    torch.manual_seed(0)
    model = DECODERS[name]().eval()
    kwargs = {"input_ids": torch.randint(0, 99, (2, 6)),
              "attention_mask": torch.ones(2, 6, dtype=torch.long), "use_cache": True}
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}
    axes.update({f"present.{i}.{kv}": {0: "batch", 2: "seq"} for i in range(2) for kv in ("key", "value")})
    path = tmp_path / "prefill.onnx"
    onnxplug.export(model, (), path, kwargs=kwargs, dynamic_axes=axes, verify=True)
    proto = onnx.load(path)
    assert [o.name for o in proto.graph.output][1:] == [
        f"present.{i}.{kv}" for i in range(2) for kv in ("key", "value")]
    run_and_compare(model, path, {"input_ids": torch.randint(0, 99, (1, 11)),
                                  "attention_mask": torch.ones(1, 11, dtype=torch.long),
                                  "use_cache": True})


def test_the_callers_cache_is_left_as_it_was(tmp_path):
    model = llama().eval()
    cache = cache_of(model, 2, 3)
    before = [layer.keys.clone() for layer in cache.layers]
    onnxplug.export(model, (), tmp_path / "m.onnx", verify=True,
                    kwargs={"input_ids": torch.randint(0, 99, (2, 2)),
                            "attention_mask": torch.ones(2, 5, dtype=torch.long),
                            "past_key_values": cache, "use_cache": True})
    assert [layer.keys.shape for layer in cache.layers] == [b.shape for b in before]
    assert all(torch.equal(layer.keys, b) for layer, b in zip(cache.layers, before))


def test_the_pytree_registration_is_scoped_to_the_export():
    from torch.utils import _pytree as pytree

    assert transformers.DynamicCache not in pytree.SUPPORTED_NODES


def bart():
    return transformers.BartForConditionalGeneration(transformers.BartConfig(
        d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, **SMALL))


def t5():
    return transformers.T5ForConditionalGeneration(transformers.T5Config(
        d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
        vocab_size=99))


def whisper():
    return transformers.WhisperForConditionalGeneration(transformers.WhisperConfig(
        d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=16,
        max_source_positions=32, max_target_positions=64, vocab_size=99, pad_token_id=1,
        bos_token_id=1, eos_token_id=2, decoder_start_token_id=1))


def seq2seq_step(model, batch, src, past):
    """The decoder's step with an EncoderDecoderCache: self-attention past and cross-attention
    keys/values of the encoder output, as generate() calls it."""
    torch.manual_seed(batch * 10 + src)
    mask = torch.ones(batch, src, dtype=torch.long)
    with torch.no_grad():
        if isinstance(model, transformers.WhisperForConditionalGeneration):
            frames = 2 * model.config.max_source_positions  # whisper pads audio to its window
            encoded = model.get_encoder()(torch.randn(batch, 16, frames)).last_hidden_state
            mask = None
        else:
            encoded = model.get_encoder()(input_ids=torch.randint(3, 99, (batch, src)),
                                          attention_mask=mask).last_hidden_state
        out = model(encoder_outputs=(encoded,), attention_mask=mask, use_cache=True,
                    decoder_input_ids=torch.randint(3, 99, (batch, past)))
    cache = getattr(out, "cache", None) or out.past_key_values
    kwargs = {"encoder_outputs": (encoded,), "decoder_input_ids": torch.randint(3, 99, (batch, 1)),
              "past_key_values": cache, "use_cache": True}
    if mask is not None:
        kwargs["attention_mask"] = mask
    return kwargs


@pytest.mark.parametrize("build", [bart, pytest.param(t5, marks=pytest.mark.slow),
                                   pytest.param(whisper, marks=pytest.mark.slow)])
def test_encoder_decoder_cache_decode_step(build, tmp_path):
    torch.manual_seed(0)
    model = build().eval()
    kwargs = seq2seq_step(model, 2, 5, 3)
    layers = len(kwargs["past_key_values"].self_attention_cache.layers)
    axes = {"encoder_outputs.0": {0: "batch", 1: "src"}, "decoder_input_ids": {0: "batch"}}
    if "attention_mask" in kwargs:
        axes["attention_mask"] = {0: "batch", 1: "src"}
    for i in range(layers):
        for kv in ("key", "value"):
            axes[f"past_key_values.{i}.decoder.{kv}"] = {0: "batch", 2: "past"}
            axes[f"past_key_values.{i}.encoder.{kv}"] = {0: "batch", 2: "src"}
    path = tmp_path / "step.onnx"
    onnxplug.export(model, (), path, kwargs=kwargs, dynamic_axes=axes, verify=True)
    names = [i.name for i in onnx.load(path).graph.input]
    assert "past_key_values.0.decoder.key" in names and "past_key_values.1.encoder.value" in names
    run_and_compare(model, path, seq2seq_step(model, 3, 7, 4))


def test_gemma3_decode_past_its_sliding_window(tmp_path):
    """Past the window, the sliding layer holds its last window - 1 tokens (a fixed axis) while
    the global layer holds them all: the count of tokens seen, which places the new ones, comes
    from the global layer, so the graph is right at every past length beyond the window."""
    torch.manual_seed(0)
    cfg = gemma3().config
    cfg.sliding_window = 4
    model = transformers.Gemma3ForCausalLM(cfg).eval()

    def step(batch, past):
        cache = cache_of(model, batch, past)
        assert [tuple(layer.keys.shape[2:3]) for layer in cache.layers] == [(3,), (past,)]
        return {"input_ids": torch.randint(0, 99, (batch, 1)),
                "attention_mask": torch.ones(batch, past + 1, dtype=torch.long),
                "past_key_values": cache, "use_cache": True}

    axes = {"input_ids": {0: "batch"}, "attention_mask": {0: "batch", 1: "total"}}
    for kv in ("key", "value"):
        axes[f"past_key_values.0.{kv}"] = {0: "batch"}  # the window: window - 1 tokens
        axes[f"past_key_values.1.{kv}"] = {0: "batch", 2: "past"}
    path = tmp_path / "gemma3_window.onnx"
    r = onnxplug.export(model, (), path, kwargs=step(2, 6), dynamic_axes=axes, opset_version=18,
                        verify=True)
    assert "past" in r.axis_ranges
    for batch, past in [(3, 9), (1, 12)]:
        run_and_compare(model, path, step(batch, past))

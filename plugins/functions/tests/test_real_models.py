"""Transformers models with local functions: decoders with their cache, an encoder, a CNN.

Each export is checked, run in onnxruntime and compared with eager PyTorch and with the flat
export, at the export sizes and (with dynamic axes) at other sizes.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from functions_testing import calls, functions_by_name

import onnxplug
from onnxplug.caches import cache_pytrees
from onnxplug.verify import eager_outputs, run_onnxruntime

transformers = pytest.importorskip("transformers")
from transformers.models.gpt2.modeling_gpt2 import GPT2Block  # noqa: E402
from transformers.models.llama.modeling_llama import LlamaDecoderLayer  # noqa: E402


def llama():
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(transformers.LlamaConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=99, max_position_embeddings=64)).eval()


def gpt2():
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(transformers.GPT2Config(
        n_embd=32, n_layer=3, n_head=4, n_positions=64, vocab_size=99)).eval()


def cache_of(model, batch, past):
    torch.manual_seed(1)
    with torch.no_grad():
        return model(torch.randint(0, 99, (batch, past)), use_cache=True).past_key_values


def decode_axes(layers):
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "total"},
            "logits": {0: "batch", 1: "seq"}}
    for i in range(layers):
        for kv in ("key", "value"):
            axes[f"past_key_values.{i}.{kv}"] = {0: "batch", 2: "past"}
            axes[f"present.{i}.{kv}"] = {0: "batch", 2: "total"}
    return axes


def decode_inputs(model, batch, new, past):
    return {"input_ids": torch.randint(0, 99, (batch, new)),
            "attention_mask": torch.ones(batch, new + past, dtype=torch.long),
            "past_key_values": cache_of(model, batch, past), "use_cache": True}


def run(model_proto, model, kwargs):
    with cache_pytrees():
        expected = eager_outputs(model, (), kwargs)
        inputs = [x for x in torch.utils._pytree.tree_leaves(kwargs) if isinstance(x, torch.Tensor)]
    actual = run_onnxruntime(model_proto, inputs)
    assert len(actual) == len(expected)
    for e, a in zip(expected, actual):
        np.testing.assert_allclose(a, e.numpy(), rtol=1e-3, atol=1e-4)
    return actual


@pytest.mark.parametrize("make, layer", [(llama, LlamaDecoderLayer), (gpt2, GPT2Block)])
@pytest.mark.parametrize("option", ["layer", True])
def test_decoder_with_cache(make, layer, option):
    model = make()
    kwargs = decode_inputs(model, 2, 2, 3)
    functions = {layer} if option == "layer" else True
    fn = onnxplug.export(model, (), kwargs=kwargs, dynamic_axes=decode_axes(3), verify=True,
                         export_modules_as_functions=functions).model
    flat = onnxplug.export(model, (), kwargs=kwargs, dynamic_axes=decode_axes(3)).model
    onnx.checker.check_model(fn, full_check=True)
    assert len(calls(fn, layer.__name__)) == 3
    assert [f.name for f in fn.functions].count(layer.__name__) == 1
    assert [i.name for i in fn.graph.input] == [i.name for i in flat.graph.input]
    assert [o.name for o in fn.graph.output] == [o.name for o in flat.graph.output]
    other = decode_inputs(model, 3, 1, 6)  # another batch, token count and past length
    for a, b in zip(run(fn, model, other), run(flat, model, other)):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_bert_layers_share_one_function(both):
    model = transformers.BertModel(transformers.BertConfig(
        num_hidden_layers=4, hidden_size=32, num_attention_heads=4, intermediate_size=64,
        vocab_size=99)).eval()
    ids = torch.randint(0, 99, (2, 7))
    from transformers.models.bert.modeling_bert import BertLayer

    fn, _ = both(model, (ids,), rtol=1e-3, atol=1e-4)
    assert len(calls(fn.model, "BertLayer")) == 4
    assert "BertLayer_1" not in functions_by_name(fn.model)
    fn, _ = both(model, (ids,), functions={BertLayer}, rtol=1e-3, atol=1e-4)
    assert [f.name for f in fn.model.functions] == ["BertLayer"]


def test_resnet_bottlenecks(both):
    from transformers.models.resnet.modeling_resnet import ResNetBottleNeckLayer

    torch.manual_seed(0)
    model = transformers.ResNetModel(transformers.ResNetConfig(
        depths=[2, 2], hidden_sizes=[16, 32], embedding_size=8)).eval()
    fn, _ = both(model, (torch.randn(1, 3, 32, 32),), functions={ResNetBottleNeckLayer},
                 rtol=1e-3, atol=1e-4)
    # the first bottleneck of each stage (with a shortcut projection) and the repeated one;
    # the two stages' first bottlenecks differ in their stride, an inferred attribute
    assert len(fn.model.functions) == 2
    inferred = [a for f in fn.model.functions for a in f.attribute if a.startswith("inferred::")]
    assert inferred and all("strides" in a for a in inferred), inferred
    assert len([n for n in fn.model.graph.node if n.op_type.startswith("ResNetBottleNeck")]) == 4

"""transformers' mixture-of-experts custom op (``transformers::grouped_mm_fallback``), converted by
the onnxplug-transformers plugin: alone, with empty experts and rows past the last block, and
inside a Mixtral model with dynamic batch and sequence axes. Each export is checked with
onnx.checker, run in onnxruntime and compared with eager PyTorch."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")
pytest.importorskip("onnxplug_transformers")
import transformers.integrations.moe  # noqa: E402,F401  (defines the custom op)

from onnxplug.testing import export_and_compare  # noqa: E402
from onnxplug.verify import run_onnxruntime  # noqa: E402


class GroupedMM(torch.nn.Module):
    def __init__(self, experts: int, k: int, n: int):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(experts, k, n))

    def forward(self, x, offs):
        return torch.ops.transformers.grouped_mm_fallback(x, self.weight, offs)


@pytest.mark.parametrize("opset", [13, 17, 18, 21])
@pytest.mark.parametrize("ends", [[2, 5, 5, 9], [0, 3, 3, 7], [9, 9, 9, 9]],
                         ids=["full", "empty-and-tail", "one-expert"])
def test_grouped_mm_fallback(opset, ends):
    torch.manual_seed(0)
    model = GroupedMM(4, 6, 5).eval()
    x, offs = torch.randn(9, 6), torch.tensor(ends, dtype=torch.int32)
    export_and_compare(model, (x, offs), opset=opset)
    # the same graph serves other routings: the block ends are an input
    other = (x, torch.tensor([1, 1, 6, 9], dtype=torch.int32))
    export_and_compare(model, (x, offs), opset=opset, run_inputs=other)


def test_mixtral_with_dynamic_axes():
    torch.manual_seed(0)
    cfg = transformers.MixtralConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                     num_attention_heads=4, num_key_value_heads=2, vocab_size=99,
                                     num_local_experts=4, num_experts_per_tok=2,
                                     max_position_embeddings=64)
    model = transformers.MixtralForCausalLM(cfg).eval()
    ids = torch.randint(0, 99, (2, 7))
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}
    kwargs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "use_cache": False}
    result = export_and_compare(model, (), kwargs=kwargs, opset=17,
                                input_names=["input_ids", "attention_mask"], dynamic_axes=axes,
                                atol=1e-4, verify=True)  # verify also runs a second size
    assert "MatMul" in {n.op_type for n in result.model.graph.node}
    other = torch.randint(0, 99, (3, 11))
    feeds = [other, torch.ones_like(other)]
    (logits, *_) = run_onnxruntime(result.model, feeds)
    with torch.no_grad():
        expected = model(input_ids=other, attention_mask=feeds[1], use_cache=False).logits
    torch.testing.assert_close(torch.as_tensor(logits), expected, rtol=1e-3, atol=1e-4)

"""Models on the meta device exported with weights= (safetensors files, folders, state dicts).

Each model is exported twice, materialised and on the meta device with its checkpoint: the two
graphs must be equal node by node and the initializers byte by byte; the file is checked with
onnx.checker and run in onnxruntime against the materialised model in eager PyTorch.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

import onnxplug
from onnxplug.errors import OptionError

safetensors_torch = pytest.importorskip("safetensors.torch")


class Folding(nn.Module):
    """Linear layers on 3-D inputs (transposed weights), a fold over a weight (``w * 2``, a
    slice and a cast: constant folding works on checkpoint weights), a buffer, a tied weight."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(32, 16)
        self.fc = nn.Linear(16, 24)
        self.head = nn.Linear(16, 32, bias=False)
        self.head.weight = self.emb.weight  # tied
        self.w = nn.Parameter(torch.randn(24, 16))
        self.register_buffer("scale", torch.linspace(0.5, 1.5, 16))

    def forward(self, ids):
        h = self.emb(ids) * self.scale
        h = torch.relu(self.fc(h)) @ (self.w * 2)[:, :16].to(torch.float32)
        return self.head(h)


def _llama():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=256, tie_word_embeddings=True, use_cache=False)

    class Logits(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids):
            return self.inner(input_ids).logits

    return lambda: Logits(transformers.LlamaForCausalLM(cfg)).eval()


def _save_checkpoint(model: nn.Module, path: str, shards: int = 1) -> None:
    """The model's state dict in ``shards`` safetensors files (tied weights once, as
    ``save_pretrained`` does)."""
    state, seen = {}, set()
    for name, t in model.state_dict().items():
        if t.untyped_storage().data_ptr() not in seen:
            seen.add(t.untyped_storage().data_ptr())
            state[name] = t.contiguous()
    names = list(state)
    for k in range(shards):
        part = {n: state[n] for n in names[k::shards]}
        safetensors_torch.save_file(part, path if shards == 1 else os.path.join(path, f"m-{k}.safetensors"))


def _non_persistent(model: nn.Module) -> dict[str, torch.Tensor]:
    """What a checkpoint does not hold: non-persistent buffers and plain tensor attributes."""
    persistent = set(model.state_dict())
    out = {}
    for prefix, module in model.named_modules():
        for name, t in [*module._buffers.items(), *vars(module).items()]:
            full = f"{prefix}.{name}" if prefix else name
            if isinstance(t, torch.Tensor) and not name.startswith("_") and full not in persistent:
                out[full] = t
    return out


def _graphs_equal(a: onnx.ModelProto, b: onnx.ModelProto) -> None:
    assert len(a.graph.node) == len(b.graph.node)
    for x, y in zip(a.graph.node, b.graph.node):
        assert x == y, f"first differing node:\n{x}\nvs\n{y}"
    assert [i.name for i in a.graph.input] == [i.name for i in b.graph.input]
    assert [o.name for o in a.graph.output] == [o.name for o in b.graph.output]
    wa = {t.name: onnx.numpy_helper.to_array(t, base_dir="") for t in a.graph.initializer}
    wb = {t.name: onnx.numpy_helper.to_array(t, base_dir="") for t in b.graph.initializer}
    assert sorted(wa) == sorted(wb)
    for name in wa:
        assert wa[name].dtype == wb[name].dtype and wa[name].tobytes() == wb[name].tobytes(), name


def _run(path: str, feeds: dict) -> np.ndarray:
    onnx.checker.check_model(path, full_check=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def _both_ways(tmp_path, build, args, weights_of, **kw):
    torch.manual_seed(0)
    real = build()
    with torch.device("meta"):
        meta = build()
    assert any(p.is_meta for p in meta.parameters())
    onnxplug.export(real, args, str(tmp_path / "real.onnx"), **kw)
    onnxplug.export(meta, args, str(tmp_path / "meta.onnx"), weights=weights_of(real), **kw)
    a = onnx.load(str(tmp_path / "real.onnx"))
    b = onnx.load(str(tmp_path / "meta.onnx"))
    _graphs_equal(a, b)
    with torch.no_grad():
        expected = real(*args).numpy()
    feeds = {i.name: x.numpy() for i, x in zip(b.graph.input, args)}
    np.testing.assert_allclose(_run(str(tmp_path / "meta.onnx"), feeds), expected,
                               rtol=1e-4, atol=1e-5)
    return real, meta


def test_safetensors_file_same_graph_and_weights(tmp_path):
    ckpt = str(tmp_path / "model.safetensors")

    def weights_of(real):
        _save_checkpoint(real, ckpt)
        return ckpt

    _both_ways(tmp_path, Folding, (torch.randint(0, 32, (2, 5)),), weights_of,
               input_names=["ids"], dynamic_axes={"ids": {0: "batch", 1: "seq"}})


def test_state_dict_mapping(tmp_path):
    _both_ways(tmp_path, Folding, (torch.randint(0, 32, (3, 4)),),
               lambda real: dict(real.state_dict()))


def test_sharded_folder_and_llama_with_rotary_buffers(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()

    def weights_of(real):
        _save_checkpoint(real, str(folder), shards=3)
        return [str(folder), _non_persistent(real)]  # rotary inv_freq is in no checkpoint

    _both_ways(tmp_path, _llama(), (torch.randint(0, 256, (2, 7)),), weights_of,
               input_names=["input_ids"], output_names=["logits"],
               dynamic_axes={"input_ids": {0: "batch", 1: "seq"}})


def test_external_data(tmp_path):
    torch.manual_seed(0)
    real = Folding().eval()
    ckpt = str(tmp_path / "m.safetensors")
    _save_checkpoint(real, ckpt)
    with torch.device("meta"):
        meta = Folding().eval()
    path = str(tmp_path / "ext.onnx")
    result = onnxplug.export(meta, (torch.randint(0, 32, (2, 5)),), path, weights=ckpt,
                             external_data=True)
    assert result.external_data and os.path.exists(path + ".data")
    ids = torch.randint(0, 32, (2, 5))
    with torch.no_grad():
        expected = real(ids).numpy()
    name = onnx.load(path, load_external_data=False).graph.input[0].name
    np.testing.assert_allclose(_run(path, {name: ids.numpy()}), expected, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- errors

@pytest.fixture
def meta_model():
    with torch.device("meta"):
        return Folding().eval()


def _export_fails(tmp_path, model, match, **kw):
    path = tmp_path / "out.onnx"
    with pytest.raises(OptionError, match=match):
        onnxplug.export(model, (torch.randint(0, 32, (2, 5)),), str(path), **kw)
    assert not path.exists() and not (tmp_path / "out.onnx.data").exists()


def test_meta_model_without_weights(tmp_path, meta_model):
    _export_fails(tmp_path, meta_model, "meta device.*weights=")


def test_missing_weight_is_named(tmp_path, meta_model):
    torch.manual_seed(0)
    state = dict(Folding().state_dict())
    del state["fc.weight"]
    _export_fails(tmp_path, meta_model, r"not in the checkpoint: fc\.weight", weights=state)


def test_shape_and_dtype_mismatch(tmp_path, meta_model):
    torch.manual_seed(0)
    state = dict(Folding().state_dict())
    state["fc.bias"] = torch.zeros(25)
    state["w"] = state["w"].half()
    _export_fails(tmp_path, meta_model, r"fc\.bias: checkpoint float32\[25\], model float32\[24\]",
                  weights=state)
    _export_fails(tmp_path, meta_model, r"w: checkpoint float16\[24, 16\], model float32",
                  weights=state)


def test_weights_for_a_materialised_model(tmp_path):
    model = Folding().eval()
    _export_fails(tmp_path, model, "built on the meta device", weights=dict(model.state_dict()))


def test_bad_weights_arguments(tmp_path, meta_model):
    _export_fails(tmp_path, meta_model, "no such file", weights=str(tmp_path / "nope.safetensors"))
    empty = tmp_path / "empty"
    empty.mkdir()
    _export_fails(tmp_path, meta_model, "without .safetensors files", weights=str(empty))
    _export_fails(tmp_path, meta_model, "mappings", weights=[42])
    _export_fails(tmp_path, meta_model, "verify=True", weights=str(empty), verify=True)


# --------------------------------------------------------------------------- no second copy

class SharedStorage(nn.Module):
    """A Linear on 3-D inputs (its weight is transposed for MatMul) and two parameters that are
    one storage (tied by hand)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 48)
        self.a = nn.Parameter(torch.randn(48, 48))
        self.b = nn.Parameter(self.a.data)

    def forward(self, x):
        h = self.fc(x)
        return h @ self.a + torch.tanh(h) @ self.b


def test_graph_holds_views_and_tied_storage_once(tmp_path, monkeypatch):
    from onnxplug import checkpoint

    monkeypatch.setattr(checkpoint, "CHUNK_BYTES", 1000)  # several blocks per tensor
    torch.manual_seed(0)
    model = SharedStorage().eval()
    x = torch.randn(2, 3, 64)
    path = str(tmp_path / "views.onnx")
    result = onnxplug.export(model, (x,), path)
    inits = result.ir_model.graph.initializers.values()
    views = [v.const_value.raw for v in inits if isinstance(v.const_value, checkpoint.TensorView)]
    # the transposed Linear weight is a view of the parameter's own memory, not a copy
    assert any(t.untyped_storage().data_ptr() == model.fc.weight.untyped_storage().data_ptr()
               for t in views)
    square = [v for v in inits if tuple(v.shape) == (48, 48)]
    assert len(square) == 1  # a and b: one storage, one initializer
    with torch.no_grad():
        expected = model(x).numpy()
    name = onnx.load(path).graph.input[0].name
    np.testing.assert_allclose(_run(path, {name: x.numpy()}), expected, rtol=1e-4, atol=1e-5)

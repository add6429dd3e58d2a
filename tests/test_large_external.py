"""Models past the 2 GB protobuf limit, and where external data may point.

The slow test exports a model whose float32 initializers total about 2.2 GB to a path without
asking for external data: the exporter must pick it, ``onnx.load`` must load the result, and
onnxruntime must run it and match eager PyTorch. Run it with ``pytest -m slow
tests/test_large_external.py``. Measured: about a minute and a peak RSS of 5.5 GB (the weights
are held in PyTorch, then in ``onnx.load``'s proto, then in onnxruntime; the test frees each
copy it can before making the next).

The fast test checks on a small model that every external-data location the exporter writes is
a bare file name in the model's own folder (never absolute, never ``..``, never a subfolder),
and that each tensor's offset and length lie inside that file.
"""

from __future__ import annotations

import gc
import os

import onnx
import pytest
import torch

import onnxplug
from onnxplug import serialize
from onnxplug.testing import assert_matches
from onnxplug.verify import run_onnxruntime

WIDTH = 2048


class BigHeads(torch.nn.Module):
    """An embedding table and two output heads: ~2.24 GB of float32 weights in three tensors,
    each below 2 GB on its own (shapes differ, so no two are compared byte by byte)."""

    def __init__(self, vocab: int = 100_000, head_a: int = 98_000, head_b: int = 75_000):
        super().__init__()
        with torch.device("meta"):
            self.embed = torch.nn.Embedding(vocab, WIDTH)
            self.head_a = torch.nn.Linear(WIDTH, head_a)
            self.head_b = torch.nn.Linear(WIDTH, head_b)
        generator = torch.Generator().manual_seed(0)
        for name, param in list(self.named_parameters()):
            data = torch.empty(param.shape).uniform_(-0.05, 0.05, generator=generator)
            module, _, attr = name.rpartition(".")
            setattr(self.get_submodule(module), attr, torch.nn.Parameter(data, requires_grad=False))

    def forward(self, ids):
        h = self.embed(ids)
        return self.head_a(h).relu(), self.head_b(h).tanh()


def _external_refs(graph: onnx.GraphProto) -> list[tuple[str, dict[str, str]]]:
    """``(name, {location, offset, length})`` of every external initializer, subgraphs included."""
    out = [(t.name, {e.key: e.value for e in t.external_data}) for t in graph.initializer
           if t.data_location == onnx.TensorProto.EXTERNAL]
    for node in graph.node:
        for attr in node.attribute:
            for sub in [attr.g] * attr.HasField("g") + list(attr.graphs):
                out += _external_refs(sub)
    return out


def _assert_locations_inside(path: str) -> int:
    """Every external reference of the model at ``path`` names a file beside it; return how many."""
    folder = os.path.realpath(os.path.dirname(path))
    refs = _external_refs(onnx.load(path, load_external_data=False).graph)
    for name, ref in refs:
        location = ref["location"]
        assert location == os.path.basename(location) and not os.path.isabs(location), (name, ref)
        assert ".." not in location.split("/") and "\\" not in location, (name, ref)
        data = os.path.realpath(os.path.join(folder, location))
        assert os.path.dirname(data) == folder and os.path.isfile(data), (name, ref)
        end = int(ref.get("offset", 0)) + int(ref["length"])
        assert end <= os.path.getsize(data), (name, ref)
    return len(refs)


def test_external_data_locations_stay_in_the_output_folder(tmp_path, monkeypatch):
    model = torch.nn.Sequential(torch.nn.Linear(64, 96), torch.nn.GELU(),
                                torch.nn.Linear(96, 32)).eval()
    x = torch.randn(3, 64)
    out = tmp_path / "nested" / "my model.v2.onnx"
    out.parent.mkdir()
    onnxplug.export(model, (x,), str(out), external_data=True)
    assert sorted(os.listdir(out.parent)) == ["my model.v2.onnx", "my model.v2.onnx.data"]
    assert _assert_locations_inside(str(out)) == 2  # both weights; the biases stay inline
    monkeypatch.chdir(tmp_path)  # a relative f: the data still goes beside the model, not to the cwd
    onnxplug.export(model, (x,), os.path.join("nested", "rel.onnx"), external_data=True)
    assert _assert_locations_inside(str(out.parent / "rel.onnx")) == 2
    assert sorted(os.listdir(tmp_path)) == ["nested"]
    loaded = onnx.load(str(out.parent / "rel.onnx"))
    onnx.checker.check_model(loaded, full_check=True)
    assert_matches(model, (x,), run_onnxruntime(loaded, [x]))


@pytest.mark.slow
def test_model_past_2gb_exports_with_external_data(tmp_path):
    model = BigHeads().eval()
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    assert total > serialize.PROTOBUF_LIMIT
    ids = torch.tensor([[0, 17, 99_999, 4_242, 73_000, 5]])
    with torch.no_grad():
        expected = model(ids)

    target = tmp_path / "big.onnx"
    result = onnxplug.export(model, (ids,), target)  # external data is not asked for
    assert result.external_data
    assert sorted(os.listdir(tmp_path)) == ["big.onnx", "big.onnx.data"]
    assert os.path.getsize(target) < 2**20  # the graph alone; the weights are beside it
    assert os.path.getsize(tmp_path / "big.onnx.data") >= total - 2**20
    assert _assert_locations_inside(str(target)) == 5  # weights and the heads' biases
    del result
    gc.collect()

    onnx.checker.check_model(str(target), full_check=True)
    loaded = onnx.load(str(target))  # the weights come in from big.onnx.data
    weights = {t.name: t for t in loaded.graph.initializer}
    assert len(weights["embed.weight"].raw_data) == 100_000 * WIDTH * 4
    del loaded, weights
    gc.collect()

    del model  # the eager outputs are kept; onnxruntime gets the memory of the weights
    gc.collect()
    outputs = run_onnxruntime(str(target), [ids])
    assert [o.shape for o in outputs] == [tuple(e.shape) for e in expected]
    torch.testing.assert_close(torch.from_numpy(outputs[0]), expected[0], rtol=1e-3, atol=1e-5)
    torch.testing.assert_close(torch.from_numpy(outputs[1]), expected[1], rtol=1e-3, atol=1e-5)

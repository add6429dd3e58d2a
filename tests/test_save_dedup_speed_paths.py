"""The fast paths after capture keep their guarantees.

* Initializer deduplication compares a sample of elements before hashing: twins are still
  merged (transposed Linear weights included, which the graph holds as lazy views), and
  tensors whose samples agree but whose bytes differ are still kept apart.
* A large transposed weight is written in blocks cut along its source's rows: the file's bytes
  are those of a whole contiguous transpose, in single files and in external data.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnx_ir as ir
import torch
from onnx import numpy_helper
from torch import nn

import onnxplug
from onnxplug import serialize
from onnxplug.checkpoint import TensorView
from onnxplug.testing import assert_matches, export_and_compare, load_checked
from onnxplug.verify import run_onnxruntime


class Pair(nn.Module):
    """Two bias-free Linear layers (their weights are used transposed: lazy views)."""

    def __init__(self, n: int = 64, same: bool = True, poke: tuple[int, int] | None = None):
        super().__init__()
        self.a = nn.Linear(n, n, bias=False)
        self.b = nn.Linear(n, n, bias=False)
        with torch.no_grad():
            self.b.weight.copy_(self.a.weight if same else torch.randn(n, n))
            if poke is not None:  # one element apart from a's, away from the sampled ones
                self.b.weight[poke] += 1.0

    def forward(self, x):
        return self.a(x) - 2 * self.b(x)


def _weights(proto: onnx.ModelProto) -> list[np.ndarray]:
    return [numpy_helper.to_array(t) for t in proto.graph.initializer if t.dims and len(t.dims) == 2]


def test_identical_transposed_weights_are_merged():
    torch.manual_seed(0)
    r = export_and_compare(Pair().eval(), (torch.randn(3, 64),))
    assert len(_weights(r.model)) == 1


def test_weights_equal_in_the_sample_but_not_the_bytes_stay_apart():
    torch.manual_seed(0)
    n = 64
    # element (5, 3) of W.T is none of the 64 sampled ones (spread over 4096 elements)
    sampled = set(np.linspace(0, n * n - 1, serialize_sample_count()).astype(np.int64).tolist())
    assert 3 * n + 5 not in sampled
    model = Pair(n, poke=(5, 3)).eval()  # weight[5, 3] is W.T[3, 5]
    from onnxplug import passes

    assert passes._sample(TensorView(model.a.weight.data.t())) == \
        passes._sample(TensorView(model.b.weight.data.t()))  # so the digests decide
    r = export_and_compare(model, (torch.randn(3, n),))
    kept = _weights(r.model)
    assert len(kept) == 2 and not np.array_equal(kept[0], kept[1])


def serialize_sample_count() -> int:
    from onnxplug import passes

    return passes.SAMPLE_ELEMENTS


def test_sample_reads_the_logical_elements_of_a_view():
    from onnxplug import passes

    w = torch.randn(300, 7)
    view = TensorView(w.t())
    contiguous = ir.tensor(w.t().contiguous().numpy())
    assert passes._sample(view) == passes._sample(contiguous)
    assert passes._sample(view) != passes._sample(TensorView(w))


def test_blocks_of_a_large_transpose_are_its_bytes(monkeypatch):
    monkeypatch.setattr(serialize, "WHOLE_BYTES", 4096)
    monkeypatch.setattr(serialize, "TRANSPOSE_BLOCK", 1024)
    for source in (torch.randn(1000, 48), torch.randn(1000, 48).half(), torch.randn(48, 1000)[:, ::2]):
        view = TensorView(source.t())
        got = b"".join(bytes(c) for c in serialize._view_chunks(view))
        assert got == source.t().contiguous().numpy().tobytes()
        assert got == b"".join(bytes(c) for c in view.chunks())


class Head(nn.Module):
    """A wide output projection, as a language model's head is: its weight is saved transposed."""

    def __init__(self, vocab: int = 3000, hidden: int = 32):
        super().__init__()
        self.proj = nn.Linear(hidden, vocab, bias=False)

    def forward(self, x):
        return self.proj(torch.relu(x))


def test_blocked_transpose_in_a_single_file_and_external_data(tmp_path, monkeypatch):
    monkeypatch.setattr(serialize, "WHOLE_BYTES", 4096)
    monkeypatch.setattr(serialize, "TRANSPOSE_BLOCK", 4096)
    torch.manual_seed(0)
    model = Head().eval()
    x = torch.randn(2, 5, 32)
    for external in (False, True):
        path = tmp_path / f"head-{external}.onnx"
        onnxplug.export(model, (x,), path, external_data=external)
        proto = load_checked(path)
        assert_matches(model, (x,), run_onnxruntime(proto, [x]))
        arrays = [numpy_helper.to_array(t) for t in proto.graph.initializer]
        expected = model.proj.weight.detach().t().contiguous().numpy()
        assert any(a.shape == expected.shape and np.array_equal(a, expected) for a in arrays)

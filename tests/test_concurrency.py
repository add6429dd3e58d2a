"""Exports at the same time: threads and processes give the bytes a sequential run gives.

torch.export keeps process-global state while it traces, so onnxplug serialises capture with
``onnxplug.capture.CAPTURE_LOCK``; everything after capture runs in parallel. These tests start
several different exports at once (different models, opsets, dynamic axes and per-call
``custom_symbolics``) and require byte-identical files to the same exports run one by one,
which also checks that the per-export registry does not leak one call's overrides into another.
Every reference model is checked, run in onnxruntime and compared with eager PyTorch.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import onnx
import pytest
import torch
from torch import nn

import onnxplug
from onnxplug.testing import assert_matches, load_checked
from onnxplug.verify import run_onnxruntime

NEWEST = onnx.defs.onnx_opset_version()


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 8), nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3))


class TwoInOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x, y):
        h = self.fc(x) + y
        return h.relu(), h.softmax(dim=-1).sum(dim=1)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv, self.out = nn.Linear(8, 24), nn.Linear(8, 8)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        w = torch.softmax(q @ k.transpose(-1, -2) / 8 ** 0.5, dim=-1)
        return self.out(torch.nn.functional.gelu(w @ v))


def relu_as_max(g, x):
    """A per-call override: relu as Max(x, 0), so the graph differs from the plugin's Relu."""
    return g.op("Max", x, g.constant(torch.zeros((), dtype=g.dtype(x))))


def _job(index: int):
    """Job ``index``: ``(model, args, export options)``, built the same way in every process."""
    torch.manual_seed(index)
    jobs = [
        lambda: (MLP(), (torch.randn(2, 4),), {"opset_version": 17}),
        lambda: (MLP(), (torch.randn(3, 4),), {"opset_version": 11}),
        lambda: (ConvNet(), (torch.randn(2, 3, 6, 6),),
                 {"opset_version": 13, "input_names": ["img"],
                  "dynamic_axes": {"img": {0: "batch"}}}),
        lambda: (MLP(), (torch.randn(2, 4),),
                 {"opset_version": 18, "custom_symbolics": {"aten::relu": relu_as_max}}),
        lambda: (TwoInOut(), (torch.randn(2, 4), torch.randn(2, 4)), {"opset_version": 9}),
        lambda: (Attention(), (torch.randn(2, 5, 8),), {"opset_version": NEWEST}),
    ]
    model, args, options = jobs[index]()
    return model.eval(), args, options


N_JOBS = 6


def export_job(index: int, path: str) -> bytes:
    """Export job ``index`` to ``path`` and return the file's bytes (a process-pool worker)."""
    model, args, options = _job(index)
    onnxplug.export(model, args, path, **options)
    return Path(path).read_bytes()


@pytest.fixture(scope="module")
def sequential(tmp_path_factory) -> list[bytes]:
    """Every job exported one after the other; each model checked and compared with eager."""
    folder = tmp_path_factory.mktemp("sequential")
    out = []
    for i in range(N_JOBS):
        path = folder / f"job{i}.onnx"
        out.append(export_job(i, str(path)))
        model, args, _ = _job(i)
        proto = load_checked(path)
        assert_matches(model, args, run_onnxruntime(proto, list(args)))
    assert proto.graph.node  # the last one too
    assert any(n.op_type == "Max" for n in onnx.load_from_string(out[3]).graph.node)
    assert not any(n.op_type == "Max" for n in onnx.load_from_string(out[0]).graph.node)
    return out


def test_the_same_export_twice_gives_identical_bytes(sequential, tmp_path):
    for i in range(N_JOBS):
        assert export_job(i, str(tmp_path / f"again{i}.onnx")) == sequential[i], f"job {i}"


def test_threads_started_at_once_give_the_sequential_bytes(sequential, tmp_path):
    """Two rounds of every job, all started together behind a barrier."""
    tasks = [(i, tmp_path / f"r{r}_job{i}.onnx") for r in range(2) for i in range(N_JOBS)]
    # Models are built before the threads start: building draws from torch's global random
    # generator, which threads would interleave (the weights, not the exports, would differ).
    built = [_job(index) for index, _ in tasks]
    barrier = threading.Barrier(len(tasks))

    def run(k):
        model, args, options = built[k]
        barrier.wait()
        onnxplug.export(model, args, tasks[k][1], **options)
        return Path(tasks[k][1]).read_bytes()

    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        results = list(pool.map(run, range(len(tasks))))
    for (index, path), data in zip(tasks, results):
        assert data == sequential[index], f"{path.name} differs from the sequential export"


PROCESSES = 2


def test_a_spawned_process_pool_gives_the_sequential_bytes(sequential, tmp_path):
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=PROCESSES, mp_context=context) as pool:
        futures = [pool.submit(export_job, i, str(tmp_path / f"p_job{i}.onnx"))
                   for i in range(N_JOBS)]
        results = [f.result(timeout=600) for f in futures]
    for index, data in enumerate(results):
        assert data == sequential[index], f"job {index} differs in a worker process"


def test_an_export_waits_for_the_capture_lock(sequential, tmp_path):
    """While another thread holds ``CAPTURE_LOCK`` an export cannot capture; once released it
    finishes with the usual bytes."""
    from onnxplug.capture import CAPTURE_LOCK

    result: list = []

    def work():
        try:
            result.append(export_job(0, str(tmp_path / "w.onnx")))
        except Exception as exc:  # reported by the assertions below
            result.append(exc)

    worker = threading.Thread(target=work)
    with CAPTURE_LOCK:
        worker.start()
        worker.join(timeout=2)
        assert worker.is_alive() and not result, f"the export finished without the lock: {result}"
    worker.join(timeout=600)
    assert result == [sequential[0]]

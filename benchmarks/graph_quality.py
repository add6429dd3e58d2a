"""Graph quality: node counts and onnxruntime latency of onnxplug's graphs against torch.onnx's.

    python benchmarks/graph_quality.py                        # all four models
    python benchmarks/graph_quality.py --models resnet50 --runs 50 --threads 1
    python benchmarks/graph_quality.py --models bert --profile   # onnxruntime's slowest op types

For each model (random weights from a ``transformers`` config, nothing downloaded) it exports,
once each and in this one process:

* ``onnxplug, no optimize``: ``onnxplug.export`` at opset 17 without the passes of
  ``onnxplug.optimize``, the graph they start from;
* ``onnxplug``: the same export with the IR passes registered by default;
* ``onnxplug + pending passes``: also with ``onnxplug.optimize.PENDING_PASSES`` (Conv +
  BatchNormalization folding, until it is registered by default);
* ``dynamo=True``: ``torch.onnx.export(dynamo=True)`` at opset 18, which runs its optimiser;
* ``dynamo=False``: ``torch.onnx.export(dynamo=False)`` at opset 17 (TorchScript exporter).

and reports the top-level node count, the median onnxruntime latency over ``--runs`` runs after
``--warmup`` runs (the exporters' graphs taking turns run by run; ``--threads`` intra-op threads, graph optimisations at onnxruntime's default
level), and the largest absolute difference from eager PyTorch. Ratios are onnxplug's (with every
pass) over the faster anchor's latency and over dynamo=True's node count: at most 1.0 is the
issue's bar. The transformers models are wrapped to return their last hidden state only, so
that every exporter sees the same one-tensor signature (the TorchScript exporter cannot pass
transformers 5's keyword arguments otherwise).

torch.onnx is used here, and only here, as the competition being measured.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

EXPORTERS = ("onnxplug_before", "onnxplug", "onnxplug_all", "dynamo", "torchscript")
LABELS = {"onnxplug": "onnxplug", "onnxplug_before": "onnxplug, no optimize",
          "onnxplug_all": "onnxplug + pending passes",
          "dynamo": "dynamo=True (18)", "torchscript": "dynamo=False (17)"}


# --------------------------------------------------------------------------- models

def build(name: str):
    """``(model, args)`` for one benchmark model, with random weights (seeded)."""
    import transformers

    torch.manual_seed(0)
    if name == "resnet50":
        model = transformers.ResNetModel(transformers.ResNetConfig())
        args = (torch.randn(1, 3, 224, 224),)
    elif name == "bert":
        model = transformers.BertModel(transformers.BertConfig())
        args = (torch.randint(0, 30000, (1, 128)),)
    elif name == "gpt2":
        model = transformers.GPT2Model(transformers.GPT2Config(use_cache=False))
        args = (torch.randint(0, 50000, (1, 128)),)
    elif name == "vit":
        model = transformers.ViTModel(transformers.ViTConfig(), add_pooling_layer=False)
        args = (torch.randn(1, 3, 224, 224),)
    else:
        raise SystemExit(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    return LastHiddenState(model).eval(), args


MODELS = ("resnet50", "bert", "gpt2", "vit")


class LastHiddenState(torch.nn.Module):
    """``model(x).last_hidden_state``: one tensor in, one out, for every exporter."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, return_dict=True).last_hidden_state


# --------------------------------------------------------------------------- exporters

@contextlib.contextmanager
def without_optimize():
    """Run onnxplug's exports without the passes of onnxplug.optimize (for the 'before' column)."""
    from onnxplug import optimize
    from onnxplug.plugins import load_plugins

    loaded = load_plugins()
    saved = list(loaded.ir_passes)
    names = {name for _, _, name in optimize.OPTIMIZE_PASSES + optimize.PENDING_PASSES}
    loaded.ir_passes[:] = [p for p in saved if p.name not in names]
    try:
        yield
    finally:
        loaded.ir_passes[:] = saved


@contextlib.contextmanager
def quiet_stdout():
    """Silence file descriptor 1 (the TorchScript exporter prints whole graphs from C++ when it
    fails), so that stdout carries only the table."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def export(exporter: str, model, args) -> onnx.ModelProto:
    if exporter.startswith("onnxplug"):
        import onnxplug

        from onnxplug.optimize import enable_pending
        from onnxplug.plugins import load_plugins

        ctx = {"onnxplug_before": without_optimize,
               "onnxplug_all": lambda: enable_pending(load_plugins())}.get(exporter, contextlib.nullcontext)()
        with ctx:
            return onnxplug.export(model, args, None, opset_version=17).model
    with warnings.catch_warnings(), quiet_stdout():
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            buf = io.BytesIO()
            torch.onnx.export(model, args, buf, opset_version=17, dynamo=False)
            return onnx.load_from_string(buf.getvalue())
        program = torch.onnx.export(model, args, opset_version=18, dynamo=True, verbose=False)
        return program.model_proto


# --------------------------------------------------------------------------- measuring

def session(proto: onnx.ModelProto, threads: int, profile_dir: str | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    if profile_dir:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(profile_dir) / "ort")
    path = Path(tempfile.mkdtemp()) / "model.onnx"
    onnx.save(proto, str(path), save_as_external_data=proto.ByteSize() > 1_500_000_000)
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def feeds(sess, args) -> dict:
    return {i.name: a.numpy() for i, a in zip(sess.get_inputs(), args)}


def latencies(sessions: dict, args, warmup: int, runs: int) -> dict[str, float]:
    """Median seconds per run of each session, the sessions taking turns run by run, so that
    a busy machine slows every exporter's graph alike."""
    f = {k: feeds(s, args) for k, s in sessions.items()}
    for _ in range(warmup):
        for k, s in sessions.items():
            s.run(None, f[k])
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for _ in range(runs):
        for k, s in sessions.items():
            t = time.perf_counter()
            s.run(None, f[k])
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def max_abs_diff(sess, args, expected: np.ndarray) -> float:
    got = sess.run(None, feeds(sess, args))[0]
    return float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64))))


def profile(proto, args, threads: int, runs: int = 10) -> list[tuple[str, float]]:
    """Total onnxruntime kernel time per op type (microseconds per run), slowest first."""
    with tempfile.TemporaryDirectory() as d:
        sess = session(proto, threads, d)
        f = feeds(sess, args)
        for _ in range(runs):
            sess.run(None, f)
        events = json.loads(Path(sess.end_profiling()).read_text())
    per_op: dict[str, float] = collections.defaultdict(float)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_op[e["args"]["op_name"]] += e["dur"] / runs
    return sorted(per_op.items(), key=lambda kv: -kv[1])


def bench(name: str, exporters, warmup: int, runs: int, threads: int, show_profile: bool) -> dict:
    model, args = build(name)
    with torch.no_grad():
        out = model(*args)
    expected = out.numpy()
    rows, sessions, protos = {}, {}, {}
    for exporter in exporters:
        t = time.perf_counter()
        try:
            protos[exporter] = export(exporter, model, args)
        except Exception as exc:  # an anchor that fails is reported, not fatal
            rows[exporter] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"}
            print(f"  {name} {exporter}: failed: {rows[exporter]['error']}", file=sys.stderr)
            continue
        seconds = time.perf_counter() - t
        proto = protos[exporter]
        sessions[exporter] = session(proto, threads)
        ops = collections.Counter(n.op_type for n in proto.graph.node)
        rows[exporter] = {"nodes": len(proto.graph.node), "export_s": seconds,
                          "max_abs_diff": max_abs_diff(sessions[exporter], args, expected),
                          "op_types": dict(ops.most_common())}
        print(f"  {name} {exporter}: {rows[exporter]['nodes']} nodes, {dict(ops.most_common(14))}",
              file=sys.stderr)
    for exporter, seconds in latencies(sessions, args, warmup, runs).items():
        rows[exporter]["latency_ms"] = 1000 * seconds
        print(f"  {name} {exporter}: {1000 * seconds:.2f} ms", file=sys.stderr)
        if show_profile:
            for op, us in profile(protos[exporter], args, threads)[:10]:
                print(f"      {op:24s} {us / 1000:8.3f} ms", file=sys.stderr)
    return rows


def render(results: dict, threads: int, runs: int) -> str:
    lines = [f"onnxruntime {_ort_version()}, {threads or 'default'} intra-op thread(s), median of "
             f"{runs} runs after warm-up", "",
             "| model | exporter | nodes | latency (ms) | max abs diff |", "|---|---|---|---|---|"]
    for name, rows in results.items():
        for exporter, row in rows.items():
            if "error" in row:
                lines.append(f"| {name} | {LABELS[exporter]} | fails | - | {row['error']} |")
                continue
            lines.append(f"| {name} | {LABELS[exporter]} | {row['nodes']} | "
                         f"{row['latency_ms']:.2f} | {row['max_abs_diff']:.2e} |")
    lines += ["", "| model | nodes / dynamo=True | latency / faster anchor |", "|---|---|---|"]
    for name, rows in results.items():
        ours = rows.get("onnxplug_all", rows.get("onnxplug", {}))
        anchors = [rows[e] for e in ("dynamo", "torchscript") if "latency_ms" in rows.get(e, {})]
        if "nodes" not in ours or not anchors:
            continue
        node_ratio = (f"{ours['nodes'] / rows['dynamo']['nodes']:.2f}"
                      if "nodes" in rows.get("dynamo", {}) else "-")
        fastest = min(a["latency_ms"] for a in anchors)
        lines.append(f"| {name} | {node_ratio} | {ours['latency_ms'] / fastest:.2f} |")
    return "\n".join(lines)


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--exporters", default=",".join(EXPORTERS))
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads; 0: onnxruntime's default")
    p.add_argument("--profile", action="store_true", help="print onnxruntime's time per op type")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    a = p.parse_args(argv)
    exporters = [e for e in a.exporters.split(",") if e]
    results = {}
    for name in [m for m in a.models.split(",") if m]:
        results[name] = bench(name, exporters, a.warmup, a.runs, a.threads, a.profile)
    print(render(results, a.threads, a.runs))
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

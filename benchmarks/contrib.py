"""What opting into onnxruntime's ``com.microsoft`` domain buys: standard domain vs contrib ops.

    python benchmarks/contrib.py                          # both models, opsets 13 and 17
    python benchmarks/contrib.py --models bert --runs 20 --threads 2 --profile /tmp/prof

Two models with random weights, built from transformers configurations:

* ``bert``: a BERT-base-shaped encoder (hidden 768, 12 heads, FFN 3072, ``--bert-layers``
  layers, 12 by default) on batch 1 x 128 tokens with a padding mask;
* ``llama``: a Llama-shaped decoder block (TinyLlama's widths: hidden 2048, 32 query heads,
  4 key/value heads, FFN 5632, RMSNorm, rotary embeddings; one layer) on batch 1 x 128 tokens.

Each is exported by onnxplug at opsets 13 and 17, once with the standard domain only and once
with ``custom_opsets={"com.microsoft": 1}``. For each export: the node count (and the
com.microsoft nodes), the onnxruntime latency (median of ``--runs`` runs after warm-up; both
sessions of a pair use the same ``SessionOptions`` and run interleaved, so a busy machine slows
both alike), and the max abs difference from eager PyTorch. The ratio is contrib latency over
standard latency (below 1: the contrib export is faster); the CPU-time ratio is the same over
the process's CPU time per run (one intra-op thread runs on the calling thread), which other
processes on a busy machine disturb much less than wall time. ``--profile DIR`` writes onnxruntime
profiles and prints the five op types that take the most time in each session.

Writes ``benchmarks/results/contrib.json`` (``contrib_seq<N>.json`` for another ``--seq``) and
the table in ``docs/contrib.md`` between the ``<!-- table seq=N -->`` markers.
"""

from __future__ import annotations

import argparse
import collections
import datetime as _dt
import json
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT_JSON = HERE / "results" / "contrib.json"  # contrib_seq<N>.json for other --seq
OUT_MD = ROOT / "docs" / "contrib.md"
MS = "com.microsoft"
BAR = {13: 0.85, 17: 0.95}


class HiddenStates(torch.nn.Module):
    """A transformers model called with tensors, returning ``last_hidden_state``."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask=None):
        kwargs = {"use_cache": False} if "Llama" in type(self.model).__name__ else {}
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state


def bert(layers: int, seq: int = 128):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    cfg = BertConfig(num_hidden_layers=layers, attn_implementation="sdpa")
    model = HiddenStates(BertModel(cfg)).eval()
    ids = torch.randint(0, cfg.vocab_size, (1, seq))
    mask = torch.ones(1, seq, dtype=torch.int64)
    mask[:, seq - seq // 8:] = 0  # padded tail
    return model, (ids, mask), ("input_ids", "attention_mask")


def llama(layers: int = 1, seq: int = 128):
    from transformers import LlamaConfig, LlamaModel

    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=2048, intermediate_size=5632, num_attention_heads=32,
                      num_key_value_heads=4, num_hidden_layers=layers, vocab_size=1024,
                      max_position_embeddings=2048, attn_implementation="sdpa")
    model = HiddenStates(LlamaModel(cfg)).eval()
    ids = torch.randint(0, cfg.vocab_size, (1, seq))
    return model, (ids,), ("input_ids",)


def session(proto_bytes: bytes, threads: int, profile: str | None = None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile:
        so.enable_profiling = True
        so.profile_file_prefix = profile
    return ort.InferenceSession(proto_bytes, so, providers=["CPUExecutionProvider"])


def top_ops(profile_path: str, n: int = 6) -> list[tuple[str, float]]:
    events = json.loads(Path(profile_path).read_text())
    by_type: dict[str, float] = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            by_type[e["args"].get("op_name", "?")] += e.get("dur", 0)
    total = sum(by_type.values()) or 1
    return [(k, round(100 * v / total, 1)) for k, v in sorted(by_type.items(), key=lambda kv: -kv[1])[:n]]


def measure(name: str, build, opsets, runs: int, threads: int, profile_dir: str | None):
    import onnxplug

    model, args, names = build()
    with torch.no_grad():
        expected = model(*args).numpy()
    feeds = {n: a.numpy() for n, a in zip(names, args)}
    rows = []
    for opset in opsets:
        variants = {}
        for label, custom in (("standard", None), ("com.microsoft", {MS: 1})):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = onnxplug.export(model, args, opset_version=opset, input_names=list(names),
                                         custom_opsets=custom)
            proto = result.model
            counts = collections.Counter(n.domain or "ai.onnx" for n in proto.graph.node)
            types = collections.Counter(n.op_type for n in proto.graph.node if n.domain == MS)
            sess = session(proto.SerializeToString(), threads)
            got = sess.run(None, feeds)[0]
            variants[label] = dict(proto=proto, sess=sess, nodes=len(proto.graph.node),
                                   ms_nodes=dict(types), domains=dict(counts),
                                   max_abs=float(np.abs(got - expected).max()),
                                   close=bool(np.allclose(got, expected, rtol=1e-3, atol=1e-4)))
        for v in variants.values():  # warm-up
            for _ in range(5):
                v["sess"].run(None, feeds)
        times = {k: [] for k in variants}
        cpu = {k: [] for k in variants}
        for _ in range(runs):
            for k, v in variants.items():
                t, c = time.perf_counter(), time.process_time()
                v["sess"].run(None, feeds)
                times[k].append(time.perf_counter() - t)
                cpu[k].append(time.process_time() - c)
        row = dict(model=name, opset=opset)
        for k, v in variants.items():
            row[k] = dict(nodes=v["nodes"], ms_nodes=v["ms_nodes"], max_abs=v["max_abs"],
                          close=v["close"], latency_ms=1000 * statistics.median(times[k]),
                          cpu_ms=1000 * statistics.median(cpu[k]))
        row["ratio"] = row["com.microsoft"]["latency_ms"] / row["standard"]["latency_ms"]
        row["cpu_ratio"] = row["com.microsoft"]["cpu_ms"] / row["standard"]["cpu_ms"]
        row["bar"] = BAR.get(opset)
        if profile_dir:
            Path(profile_dir).mkdir(parents=True, exist_ok=True)
            row["profile"] = {}
            for k, v in variants.items():
                s = session(v["proto"].SerializeToString(), threads,
                            f"{profile_dir}/{name}_opset{opset}_{k.replace('.', '_')}")
                for _ in range(10):
                    s.run(None, feeds)
                row["profile"][k] = top_ops(s.end_profiling())
        rows.append(row)
        print(json.dumps({k: row[k] for k in row if k != "profile"}), flush=True)
        if "profile" in row:
            for k, ops in row["profile"].items():
                print(f"  {k}: {ops}", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| model | opset | nodes (standard) | nodes (com.microsoft) | com.microsoft ops | "
             "latency standard (ms) | latency com.microsoft (ms) | ratio | bar | CPU-time ratio | "
             "max abs diff (standard / com.microsoft) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s, c = r["standard"], r["com.microsoft"]
        ops = ", ".join(f"{k} {v}" for k, v in sorted(c["ms_nodes"].items()))
        ok = "yes" if r["bar"] is None or r["ratio"] <= r["bar"] else "**no**"
        lines.append(f"| {r['model']} | {r['opset']} | {s['nodes']} | {c['nodes']} | {ops} | "
                     f"{s['latency_ms']:.2f} | {c['latency_ms']:.2f} | {r['ratio']:.2f} | "
                     f"{r['bar']} ({ok}) | {r['cpu_ratio']:.2f} | {s['max_abs']:.1e} / {c['max_abs']:.1e} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="bert,llama")
    p.add_argument("--opsets", default="13,17")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    p.add_argument("--bert-layers", type=int, default=12)
    p.add_argument("--seq", type=int, default=128, help="tokens per input (batch 1)")
    p.add_argument("--profile", default=None, help="folder for onnxruntime profiles")
    p.add_argument("--no-write", action="store_true", help="print only")
    a = p.parse_args(argv)
    opsets = [int(o) for o in a.opsets.split(",")]
    builders = {"bert": lambda: bert(a.bert_layers, a.seq), "llama": lambda: llama(1, a.seq)}
    rows = []
    for name in a.models.split(","):
        rows += measure(name, builders[name], opsets, a.runs, a.threads, a.profile)
    print(table(rows))
    if a.no_write:
        return 0
    import onnxruntime as ort

    meta = dict(date=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                python=platform.python_version(), torch=torch.__version__,
                onnxruntime=ort.__version__, machine=platform.machine(), threads=a.threads,
                runs=a.runs, bert_layers=a.bert_layers, seq=a.seq)
    out_json = OUT_JSON if a.seq == 128 else OUT_JSON.with_name(f"contrib_seq{a.seq}.json")
    out_json.parent.mkdir(exist_ok=True)
    out_json.write_text(json.dumps(dict(meta=meta, rows=rows), indent=1, default=str) + "\n")
    if OUT_MD.exists():
        text = OUT_MD.read_text()
        start, end = f"<!-- table seq={a.seq} -->", f"<!-- /table seq={a.seq} -->"
        if start in text and end in text:
            head, rest = text.split(start, 1)
            _, tail = rest.split(end, 1)
            info = (f"\n\nMeasured {meta['date']}: onnxruntime {meta['onnxruntime']}, torch "
                    f"{meta['torch']}, {a.threads} intra-op thread(s), median of {a.runs} runs, "
                    f"BERT with {a.bert_layers} layers, batch 1 x {a.seq} tokens.\n\n")
            OUT_MD.write_text(head + start + info + table(rows) + "\n\n" + end + tail)
    return 0


if __name__ == "__main__":
    sys.exit(main())

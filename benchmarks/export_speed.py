"""Export speed and graph quality: onnxplug against both torch.onnx exporters, same run, same models.

    python benchmarks/export_speed.py                       # all models, 5 runs each, opset 18
    python benchmarks/export_speed.py --models mlp,cnn --runs 3

For each model: the wall time of each exporter's export (median of ``--runs`` runs after one
warm-up run, interleaved so that a busy machine slows every exporter alike), the onnxruntime
inference time of each exporter's graph (median of ``--infer-runs`` runs, one thread), the graph's
node count, and whether the graph matches eager PyTorch. Ratios are the exporter's time over
onnxplug's, so a ratio above 1 means onnxplug is faster. Writes benchmarks/results/export_speed.json
and docs/benchmarks.md.

torch.onnx is used here, and only here, as the competition being measured.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import io
import json
import logging
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT_JSON = HERE / "results" / "export_speed.json"
OUT_MD = ROOT / "docs" / "benchmarks.md"
EXPORTERS = ("onnxplug", "dynamo", "torchscript")
LABELS = {"onnxplug": "onnxplug", "dynamo": "torch.onnx dynamo=True",
          "torchscript": "torch.onnx dynamo=False"}


# --------------------------------------------------------------------------- the models

class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512),
                                       torch.nn.GELU(), torch.nn.Linear(512, 10))

    def forward(self, x):
        return self.net(x)


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1))
        self.head = torch.nn.Linear(64, 10)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


class Encoder(torch.nn.Module):
    """A transformer encoder stack over token embeddings, as a text classifier would use it."""

    def __init__(self, layers: int, d_model: int, heads: int, vocab: int = 1000):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, d_model)
        self.pos = torch.nn.Parameter(torch.randn(1, 64, d_model) * 0.02)
        layer = torch.nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=0.0, batch_first=True,
                                                 activation="gelu")
        self.encoder = torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = torch.nn.LayerNorm(d_model)
        self.head = torch.nn.Linear(d_model, 2)

    def forward(self, tokens):
        h = self.embed(tokens) + self.pos[:, : tokens.shape[1]]
        return self.head(self.norm(self.encoder(h)).mean(dim=1))


def models() -> dict:
    """name -> (description, factory, example inputs)."""
    return {
        "mlp": ("MLP 256-512-512-10, batch 32", MLP, (torch.randn(32, 256),)),
        "cnn": ("small CNN (3 conv + BN + pool), 8x3x32x32", SmallCNN, (torch.randn(8, 3, 32, 32),)),
        "encoder2": ("transformer encoder, 2 layers, d=128, 4 heads, 4x32 tokens",
                     lambda: Encoder(2, 128, 4), (torch.randint(0, 1000, (4, 32)),)),
        "encoder12": ("transformer encoder, 12 layers, d=384, 6 heads, 4x64 tokens",
                      lambda: Encoder(12, 384, 6), (torch.randint(0, 1000, (4, 64)),)),
    }


# --------------------------------------------------------------------------- the exporters

LAST_ONNXPLUG: dict = {}  # stage timings and decomposed ops of onnxplug's latest export

def export(exporter: str, model, args, opset: int):
    """Export and return the ModelProto, as each exporter's ordinary call does it."""
    if exporter == "onnxplug":
        import onnxplug

        result = onnxplug.export(model, args, None, opset_version=opset)
        LAST_ONNXPLUG.update(stages=dict(result.timings), decomposed=list(result.decomposed))
        return result.model
    if exporter == "torchscript":
        import onnx

        buf = io.BytesIO()
        torch.onnx.export(model, args, buf, opset_version=opset, dynamo=False)
        return onnx.load_from_string(buf.getvalue())
    return torch.onnx.export(model, args, opset_version=opset, dynamo=True, verbose=False).model_proto


def node_count(proto) -> int:
    """Nodes of the main graph plus those of local functions (what a runtime would execute)."""
    return len(proto.graph.node) + sum(len(f.node) for f in proto.functions)


def ort_session(proto):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def infer_time(sess, args, runs: int) -> tuple[float, list]:
    feeds = {i.name: a.numpy() for i, a in zip(sess.get_inputs(), args)}
    out = sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def bench_model(name: str, desc: str, factory, args, exporters, runs: int, infer_runs: int,
                opset: int) -> dict:
    torch.manual_seed(0)
    model = factory().eval()
    with torch.no_grad():
        expected = model(*args).numpy()
    times: dict = {e: [] for e in exporters}
    protos: dict = {}
    errors: dict = {}
    for r in range(runs + 1):  # run 0 is the warm-up
        for e in exporters:
            if e in errors:
                continue
            t0 = time.perf_counter()
            try:
                proto = export(e, model, args, opset)
            except Exception as exc:  # noqa: BLE001 - a failing exporter is a result
                errors[e] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160]}"
                continue
            if r:
                times[e].append(time.perf_counter() - t0)
            protos[e] = proto
    row: dict = {"model": name, "description": desc, "params": sum(p.numel() for p in model.parameters()),
                 "exporters": {}}
    for e in exporters:
        if e in errors:
            row["exporters"][e] = {"error": errors[e]}
            continue
        sess = ort_session(protos[e])
        t_inf, out = infer_time(sess, args, infer_runs)
        diff = float(abs(out[0].astype("float64") - expected.astype("float64")).max())
        row["exporters"][e] = {"export_s": statistics.median(times[e]), "export_runs": times[e],
                               "infer_ms": t_inf * 1000, "nodes": node_count(protos[e]),
                               "max_abs_diff": diff}
    if "onnxplug" in protos:
        row["onnxplug_stages"] = dict(LAST_ONNXPLUG)
    base = row["exporters"].get("onnxplug", {})
    for e, v in row["exporters"].items():
        if "error" in v or "error" in base or not base:
            continue
        v["export_ratio"] = v["export_s"] / base["export_s"]
        v["infer_ratio"] = v["infer_ms"] / base["infer_ms"]
    return row


# --------------------------------------------------------------------------- docs/benchmarks.md

def render(result: dict) -> str:
    exps = result["exporters"]
    lines = ["# Benchmarks", "",
             "Generated by `python benchmarks/export_speed.py` (see benchmarks/README.md); do not edit by hand.", "",
             f"Run {result['date']} on {result['machine']}; opset {result['opset']}; "
             + ", ".join(f"{k} {v}" for k, v in result["versions"].items() if v) + ".", "",
             f"Export time is the median of {result['runs']} runs after a warm-up run, the exporters "
             "interleaved run by run; inference is the median of "
             f"{result['infer_runs']} onnxruntime runs on one thread (CPU provider). A ratio is the other "
             "exporter's time divided by onnxplug's: above 1 means onnxplug is faster (export) or its "
             "graph runs faster (inference). Nodes count the main graph plus local functions.", "",
             "The development machine is shared (other work, including a low-priority sweep, may have run "
             "alongside), so absolute times are noisy; the interleaving keeps the ratios fair.", "",
             "## Export time", "",
             "| model | " + " | ".join(f"{LABELS[e]} (s)" for e in exps) + " | "
             + " | ".join(f"{LABELS[e]} / onnxplug" for e in exps if e != "onnxplug") + " |",
             "|---|" + "---|" * (2 * len(exps) - 1)]
    for row in result["rows"]:
        ex = row["exporters"]
        cells = [("error" if "error" in ex[e] else f"{ex[e]['export_s']:.3f}") for e in exps]
        cells += [("—" if "export_ratio" not in ex[e] else
                   f"**{ex[e]['export_ratio']:.1f}x**" if e == "dynamo" else f"{ex[e]['export_ratio']:.1f}x")
                  for e in exps if e != "onnxplug"]
        lines.append(f"| {row['description']} | " + " | ".join(cells) + " |")
    lines += ["", "## Graph: inference time and size", "",
              "| model | " + " | ".join(f"{LABELS[e]} ms (nodes)" for e in exps) + " | "
              + " | ".join(f"{LABELS[e]} / onnxplug inference" for e in exps if e != "onnxplug") + " |",
              "|---|" + "---|" * (2 * len(exps) - 1)]
    for row in result["rows"]:
        ex = row["exporters"]
        cells = [("error" if "error" in ex[e] else f"{ex[e]['infer_ms']:.2f} ({ex[e]['nodes']})") for e in exps]
        cells += [(f"{ex[e]['infer_ratio']:.2f}x" if "infer_ratio" in ex[e] else "—") for e in exps if e != "onnxplug"]
        lines.append(f"| {row['description']} | " + " | ".join(cells) + " |")
    errs = [(row["model"], e, v["error"]) for row in result["rows"] for e, v in row["exporters"].items() if "error" in v]
    bad = [(row["model"], e, v["max_abs_diff"]) for row in result["rows"] for e, v in row["exporters"].items()
           if "max_abs_diff" in v and v["max_abs_diff"] > 1e-3]
    lines += ["", "## Correctness", ""]
    lines.append("Every graph's output was compared with eager PyTorch: "
                 + ("all within 1e-3." if not bad else
                    "; ".join(f"{m} / {e}: max abs difference {d:.3g}" for m, e, d in bad) + "."))
    for m, e, msg in errs:
        lines.append(f"- {m} / {LABELS[e]} failed to export: {msg}")
    staged = [row for row in result["rows"] if row.get("onnxplug_stages")]
    if staged:
        stages = list(dict.fromkeys(k for row in staged for k in row["onnxplug_stages"]["stages"]))
        lines += ["", "## Where onnxplug's export time goes", "",
                  "Seconds per stage of onnxplug's last timed export (`ExportResult.timings`); "
                  "'fx passes' includes re-tracing the program with PyTorch's decompositions when some "
                  "op has no conversion (the ops listed last).", "",
                  "| model | " + " | ".join(stages) + " | decomposed ops |", "|---|" + "---|" * (len(stages) + 1)]
        for row in staged:
            st = row["onnxplug_stages"]
            lines.append(f"| {row['model']} | " + " | ".join(f"{st['stages'].get(k, 0):.3f}" for k in stages)
                         + f" | {', '.join(st['decomposed']) or '—'} |")
    lines += ["", "## The bar", "",
              "onnxplug's export time should be at most a third of the torch.export-based exporter's "
              "(dynamo=True / onnxplug ≥ 3x in the table above)."]
    met = [row["model"] for row in result["rows"]
           if row["exporters"].get("dynamo", {}).get("export_ratio", 0) >= 3]
    lines.append(f"Met for: {', '.join(met) if met else 'none of the models yet'}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="mlp,cnn,encoder2,encoder12")
    ap.add_argument("--exporters", default=",".join(EXPORTERS))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--infer-runs", type=int, default=30)
    ap.add_argument("--opset", type=int, default=18)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--render", action="store_true", help="only rewrite docs/benchmarks.md from the JSON")
    a = ap.parse_args(argv)
    if a.render:
        OUT_MD.write_text(render(json.loads(OUT_JSON.read_text())))
        return
    torch.set_num_threads(a.threads)
    exps = [e for e in a.exporters.split(",") if e]
    table = models()
    rows = []
    for name in a.models.split(","):
        desc, factory, args = table[name]
        print(f"{name}: {desc}", flush=True)
        row = bench_model(name, desc, factory, args, exps, a.runs, a.infer_runs, a.opset)
        for e, v in row["exporters"].items():
            print(f"  {e:12s} " + (v["error"] if "error" in v else
                  f"export {v['export_s']:.3f}s  infer {v['infer_ms']:.2f}ms  nodes {v['nodes']}  "
                  f"ratio {v.get('export_ratio', 1):.2f}x"), flush=True)
        rows.append(row)
    import importlib.metadata as md

    result = {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs ({platform.processor() or 'cpu'}), "
                         f"torch threads {a.threads}",
              "opset": a.opset, "runs": a.runs, "infer_runs": a.infer_runs,
              "versions": {p: md.version(p) for p in ("torch", "onnx", "onnxruntime", "onnxscript")},
              "exporters": exps, "rows": rows}
    if a.no_write:
        return
    OUT_JSON.parent.mkdir(parents=True, exist_ok=True)
    OUT_JSON.write_text(json.dumps(result, indent=1) + "\n")
    OUT_MD.parent.mkdir(parents=True, exist_ok=True)
    OUT_MD.write_text(render(result))
    print(f"wrote {OUT_JSON.relative_to(ROOT)} and {OUT_MD.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())

"""Exports of real-size models, each in a fresh process: onnxplug against both torch.onnx exporters.

    python benchmarks/models.py                                   # everything (about 30-60 min)
    python benchmarks/models.py --models bert --repeats 1         # a quick look
    python benchmarks/models.py --models resnet50,bert --exporters onnxplug,dynamo --no-write
    python benchmarks/models.py --models bert,gpt2,llama1b  # re-measure some rows, keep the others
    python benchmarks/models.py --render                          # docs/performance.md from the json

Models are built from ``transformers`` configs with random weights (seeded, no downloads). Each
export runs in a child process started for it alone, so it pays for what a user's first export
pays: the exporter's imports, plugin loading, torch.export's cold caches. ``--repeats`` times per
exporter (``--big-repeats`` for the 1 B decoder), the exporters interleaved run by run. Before
each child the driver flushes the page cache's dirty pages (``os.sync()``): the files an earlier
child wrote (each exporter's first one is kept for onnxruntime) would otherwise be written back
to disk during a later child's save, and the kernel throttles that child's writes, so one
exporter would pay for another's output. A child measures:

* wall time of the export call, the exporter's import included (``import onnxplug`` or
  ``import torch.onnx``);
* peak RSS during the export (the kernel's high-water mark, reset just before the call, so the
  model's construction does not count; it includes the model's weights, which the process holds
  anyway), and the RSS of the bare process (torch and transformers imported, no model yet);
* the time spent inside ``torch.export.export`` (every attempt the exporter makes);
* onnxplug's stage timings (``ExportResult.timings``);
* the node count (main graph plus local functions) and the size of the files written.

Then one more child per model loads each exporter's graph in onnxruntime and times it (median of
``--ort-runs`` runs after warm-up, or of as many as fit in ``--ort-budget`` seconds per graph,
with ``intra_op_num_threads=1`` and with onnxruntime's default; the exporters' graphs take turns
run by run), and compares its first output with
eager PyTorch (max abs difference). The 2x and 4x deeper encoders are there for how onnxplug's
cost scales with the graph: only onnxplug exports them unless ``--deep-anchors``, and they are
not timed in onnxruntime. The 1 B decoder is timed over at most ``BIG_ORT_RUNS`` runs.

A run merges with the previous ``results/models.json``: the models it did not measure keep
their rows, each labelled with the date of the run that measured it (``--fresh`` drops them).
Sections of ``docs/performance.md`` that this script does not write are kept as they are.

onnxplug exports at opset 17, ``torch.onnx.export(dynamo=False)`` at 17, ``dynamo=True`` at 18
(its own opset; it does not convert down cleanly); batch and sequence axes are dynamic
(``dynamic_axes``) where an exporter accepts that, and an exporter that rejects them is retried
with static shapes (marked ``static``). Writes ``benchmarks/results/models.json`` and
``docs/performance.md``; ratios are onnxplug / anchor, so below 1 means onnxplug is faster,
smaller or lighter.

torch.onnx is used here, and only here, as the competition being measured.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from proc_memory import reset_peak, status_bytes

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT_JSON = HERE / "results" / "models.json"
OUT_MD = ROOT / "docs" / "performance.md"
OUT_BIG = HERE / "results" / "big_model.json"  # written by benchmarks/big_model.py
EXPORTERS = ("onnxplug", "dynamo", "torchscript")
LABELS = {"onnxplug": "onnxplug", "dynamo": "dynamo=True", "torchscript": "dynamo=False"}
OPSETS = {"onnxplug": 17, "dynamo": 18, "torchscript": 17}
BIG = "llama1b"

# key: (label, builder name, builder arguments)
MODELS = {
    "resnet50": ("ResNet-50, 2x3x224x224", "resnet", {}),
    "bert": ("BERT-base, 2x128 tokens", "bert", {"layers": 12}),
    "gpt2": ("GPT-2 small, 2x128 tokens, no cache", "gpt2", {}),
    "vit": ("ViT-B/16, 2x3x224x224", "vit", {}),
    "bert-2x": ("BERT-base 24 layers (2x), 2x128 tokens", "bert", {"layers": 24}),
    "bert-4x": ("BERT-base 48 layers (4x), 2x128 tokens", "bert", {"layers": 48}),
    BIG: ("Llama-style decoder, 1.24 B parameters, float16, 2x128 tokens", "llama", {}),
}
DEFAULT_MODELS = ("bert", BIG, "resnet50", "gpt2", "vit", "bert-2x", "bert-4x")
BIG_ORT_RUNS = 5  # timed onnxruntime runs of the 1 B decoder, at most
DEEP = ("bert-2x", "bert-4x")  # for how onnxplug's cost scales: onnxplug only unless --deep-anchors


# --------------------------------------------------------------------------- models (in children)

def _first(out):
    """The main tensor of a transformers output (logits or last hidden state)."""
    for name in ("logits", "last_hidden_state"):
        if hasattr(out, name):
            return getattr(out, name)
    return out[0] if isinstance(out, (tuple, list)) else out


def build(key: str):
    """``(module, example args, input names, output names, dynamic axes, weight bytes)``."""
    import torch
    import transformers

    _, kind, kw = MODELS[key]
    torch.manual_seed(0)

    class Main(torch.nn.Module):  # one tensor out, as the exporters all flatten outputs alike
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

    # named arguments: the anchors map dynamic_axes onto forward's parameters by name
    class Images(Main):
        def forward(self, pixel_values):
            return _first(self.inner(pixel_values))

    class Tokens(Main):
        def forward(self, input_ids):
            return _first(self.inner(input_ids))

    class TokensMask(Main):
        def forward(self, input_ids, attention_mask):
            return _first(self.inner(input_ids, attention_mask))

    batch, seq = 2, 128
    tokens = {0: "batch", 1: "sequence"}
    if kind == "resnet":
        inner = transformers.ResNetForImageClassification(transformers.ResNetConfig())
        args = (torch.randn(batch, 3, 224, 224),)
        names, axes = ["pixel_values"], {"pixel_values": {0: "batch"}, "logits": {0: "batch"}}
    elif kind == "vit":
        inner = transformers.ViTModel(transformers.ViTConfig(), add_pooling_layer=False)
        args = (torch.randn(batch, 3, 224, 224),)
        names, axes = ["pixel_values"], {"pixel_values": {0: "batch"}, "out": {0: "batch"}}
    elif kind == "bert":
        inner = transformers.BertModel(transformers.BertConfig(num_hidden_layers=kw["layers"]),
                                       add_pooling_layer=False)
        ids = torch.randint(0, inner.config.vocab_size, (batch, seq))
        args = (ids, torch.ones(batch, seq, dtype=torch.int64))
        names = ["input_ids", "attention_mask"]
        axes = {"input_ids": tokens, "attention_mask": tokens, "out": tokens}
    elif kind == "gpt2":
        inner = transformers.GPT2LMHeadModel(transformers.GPT2Config(use_cache=False))
        args = (torch.randint(0, inner.config.vocab_size, (batch, seq)),)
        names, axes = ["input_ids"], {"input_ids": tokens, "out": tokens}
    elif kind == "llama":
        cfg = transformers.LlamaConfig(
            hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
            num_attention_heads=32, num_key_value_heads=8, vocab_size=128256,
            tie_word_embeddings=True, use_cache=False, torch_dtype=torch.float16)
        with torch.device("cpu"):
            inner = transformers.LlamaForCausalLM(cfg).to(torch.float16)
        args = (torch.randint(0, cfg.vocab_size, (batch, seq)),)
        names, axes = ["input_ids"], {"input_ids": tokens, "out": tokens}
    else:
        raise KeyError(key)
    wrapper = {"resnet": Images, "vit": Images, "bert": TokensMask}.get(kind, Tokens)
    model = wrapper(inner.eval()).eval()
    out_name = "logits" if kind == "resnet" else "out"
    # tied weights (GPT-2's and the decoder's embedding and head) are one tensor: count it once
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes()
                for t in model.state_dict().values()}
    weights = sum(storages.values())
    return model, args, names, [out_name], axes, weights


# --------------------------------------------------------------------------- measuring (in children)


def child_export(key: str, exporter: str, out_dir: str) -> dict:
    import resource

    import torch

    rec: dict = {"model": key, "exporter": exporter}
    model, args, names, outs, axes, weights = build(key)
    rec["weight_bytes"] = weights
    rec["rss_model"] = status_bytes("VmRSS")
    path = os.path.join(out_dir, "model.onnx")
    capture = [0.0]
    real_export = torch.export.export

    def timed_export(*a, **k):
        t = time.perf_counter()
        try:
            return real_export(*a, **k)
        finally:
            capture[0] += time.perf_counter() - t

    torch.export.export = timed_export
    hwm_reset = reset_peak()
    rec["static"] = False

    def run(dynamic: bool):
        kw = dict(input_names=names, output_names=outs, dynamic_axes=axes if dynamic else None,
                  opset_version=OPSETS[exporter])
        if exporter == "onnxplug":
            import onnxplug

            return onnxplug.export(model, args, path, **kw)
        import torch.onnx

        if exporter == "dynamo":
            return torch.onnx.export(model, args, path, dynamo=True, optimize=True,
                                     external_data=weights > 2**31 - 2**26, **kw)
        return torch.onnx.export(model, args, path, dynamo=False, **kw)

    t0 = time.perf_counter()
    try:
        result = run(True)
    except Exception as exc:  # noqa: BLE001 - an anchor that rejects dynamic axes
        if exporter == "onnxplug":
            raise
        rec["dynamic_error"] = _reason(exc)
        for name in os.listdir(out_dir):
            os.unlink(os.path.join(out_dir, name))
        rec["static"] = True
        capture[0] = 0.0
        t0 = time.perf_counter()
        result = run(False)
    rec["wall"] = time.perf_counter() - t0
    rec["rss_peak"] = status_bytes("VmHWM") if hwm_reset else None
    rec["maxrss_life"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    rec["capture"] = capture[0] if exporter != "torchscript" else None
    if exporter == "onnxplug":
        rec["timings"] = dict(result.timings)
    import onnx

    proto = onnx.load(path, load_external_data=False)
    rec["nodes"] = len(proto.graph.node) + sum(len(f.node) for f in proto.functions)
    rec["file_bytes"] = sum(os.path.getsize(os.path.join(out_dir, n)) for n in os.listdir(out_dir))
    rec["plain_write"] = plain_write_seconds(rec["file_bytes"], out_dir)
    rec["opset"] = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    return rec


def plain_write_seconds(size: int, folder: str) -> float:
    """Seconds a plain ``write()`` of ``size`` bytes to a new file in ``folder`` takes (then the
    file is deleted): the floor under any exporter's save on this machine, where the first use
    of page-cache pages costs far more than copying into them."""
    block = os.urandom(1 << 20) * 64
    path = os.path.join(folder, "plain-write.bin")
    t = time.perf_counter()
    with open(path, "wb") as fh:
        for start in range(0, size, len(block)):
            fh.write(memoryview(block)[:min(len(block), size - start)])
    took = time.perf_counter() - t
    os.unlink(path)
    return took


def _reason(exc: BaseException) -> str:
    """One line saying why an export failed (torch.onnx puts it under 'Exception summary')."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if "## Exception summary" in lines:
        lines = lines[lines.index("## Exception summary") + 1:]
    return f"{type(exc).__name__}: {(lines[0] if lines else '')[:300]}"


def child_bare() -> dict:
    """RSS of a process with torch and transformers imported and nothing else."""
    import torch  # noqa: F401
    import transformers  # noqa: F401

    return {"rss_bare": status_bytes("VmRSS")}


def child_ort(key: str, dirs: dict, runs: int, budget: float) -> dict:
    import numpy as np
    import onnxruntime as ort
    import torch

    model, args, *_ = build(key)
    with torch.no_grad():
        expected = model(*args).detach().float().numpy()
    del model
    feeds_np = [a.numpy() for a in args]
    out: dict = {exporter: {} for exporter in dirs}
    for label, threads in (("ort_1", 1), ("ort_default", 0)):
        sessions = {}
        for exporter, folder in dirs.items():
            rec = out[exporter]
            try:
                so = ort.SessionOptions()
                so.log_severity_level = 3
                so.intra_op_num_threads = threads
                sess = ort.InferenceSession(os.path.join(folder, "model.onnx"), so,
                                            providers=["CPUExecutionProvider"])
                feeds = {i.name: x for i, x in zip(sess.get_inputs(), feeds_np)}
                got = sess.run(None, feeds)[0]
                for _ in range(3):
                    sess.run(None, feeds)
                sessions[exporter] = (sess, feeds)
                if "max_abs_diff" not in rec:
                    rec["max_abs_diff"] = float(np.max(np.abs(got.astype(np.float64) - expected)))
            except Exception as exc:  # noqa: BLE001 - record, do not stop the run
                rec[label] = None
                rec.setdefault("ort_error", f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        for exporter, times in interleaved_runs(sessions, runs, budget).items():
            out[exporter][label] = statistics.median(times)
            out[exporter][label + "_runs"] = len(times)
        del sessions
    return out


def interleaved_runs(sessions: dict, runs: int, budget: float) -> dict[str, list[float]]:
    """Seconds of each timed run of each ``{exporter: (session, feeds)}``, the exporters taking
    turns run by run (the first of each round rotating), so that a slow spell of this shared
    machine falls on all of them alike rather than on whichever was timed then. Stops after
    ``runs`` rounds, or once ``budget`` seconds per session have passed (at least one round)."""
    times: dict[str, list[float]] = {exporter: [] for exporter in sessions}
    order = list(sessions)
    start = time.perf_counter()
    for round_ in range(runs):
        if round_ and time.perf_counter() - start > budget * len(order):
            break
        for exporter in order[round_ % len(order):] + order[:round_ % len(order)]:
            sess, feeds = sessions[exporter]
            t = time.perf_counter()
            sess.run(None, feeds)
            times[exporter].append(time.perf_counter() - t)
    return times


# --------------------------------------------------------------------------- the driver

def _spawn(argv: list[str], timeout: float) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), *argv]
    env = dict(os.environ, PYTHONWARNINGS="ignore", TRANSFORMERS_VERBOSITY="error")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@RESULT ")]
    if proc.returncode != 0 or not lines:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        # the exception's own line: the last one of the traceback that names an error
        named = [ln for ln in lines if not ln.startswith((" ", "\t")) and "Error" in ln]
        reason = (named[-1] if named else " | ".join(lines[-2:]))[:400] or f"exit code {proc.returncode}"
        if proc.returncode < 0 or proc.returncode == 137:
            reason = f"killed (signal {-proc.returncode if proc.returncode < 0 else 9}): " + reason
        return {"error": reason}
    return json.loads(lines[-1][len("@@RESULT "):])


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def with_earlier(report: dict, a: argparse.Namespace, previous: dict | None = None) -> dict:
    """``report`` merged with the rows of the previous results/models.json that it did not
    measure (unless ``--fresh``), so a partial run never drops the other models' rows."""
    if a.fresh:
        return report
    if previous is None:
        previous = getattr(a, "previous", None)
    return merge(dict(report), previous) if previous else report


def write_bytecode() -> None:
    """Compile the project's own modules once, as pip does for an installed package: the anchors
    (torch.onnx, onnxscript) are installed with their bytecode, onnxplug's editable packages are
    not, and where ``PYTHONDONTWRITEBYTECODE`` is set (this machine, CI) every child would
    otherwise compile about 200 modules from source (0.2 s of each export)."""
    dirs = [str(ROOT / d) for d in ("core", "plugins", "contrib_ops", "integrations")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", *dirs],
                   check=False, stdout=subprocess.DEVNULL)


def drive(a: argparse.Namespace, previous: dict | None = None) -> dict:
    models = a.models.split(",")
    exporters = a.exporters.split(",")
    for m in models:
        if m not in MODELS:
            raise SystemExit(f"unknown model {m!r}; choose from {', '.join(MODELS)}")
    a.previous = previous  # what the writes after each model merge with
    write_bytecode()
    work = Path(tempfile.mkdtemp(prefix="onnxplug-models-", dir=a.workdir))
    bare = [_spawn(["--child-bare"], 300).get("rss_bare") for _ in range(2)]
    report: dict = {"ort_budget": a.ort_budget, "started": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                    "machine": _machine(), "repeats": a.repeats, "big_repeats": a.big_repeats,
                    "ort_runs": a.ort_runs, "rss_bare": _median(bare), "models": {}}
    try:
        for key in models:
            repeats = a.big_repeats if key == BIG else a.repeats
            chosen = exporters if key not in DEEP or a.deep_anchors else \
                [e for e in exporters if e == "onnxplug"]
            runs: dict[str, list] = {e: [] for e in chosen}
            kept: dict[str, str] = {}
            for r in range(repeats):
                for exporter in chosen:
                    folder = work / f"{key}-{exporter}-{r}"
                    folder.mkdir()
                    os.sync()  # the files kept from earlier children are written out first
                    t = time.perf_counter()
                    rec = _spawn(["--child-export", key, exporter, str(folder)], a.timeout)
                    rec["process_wall"] = time.perf_counter() - t
                    runs[exporter].append(rec)
                    ok = "error" not in rec
                    print(f"{key:9s} {exporter:11s} run {r + 1}/{repeats}: "
                          + (f"{rec['wall']:.2f}s, peak RSS {rec['rss_peak'] / 2**30 if rec.get('rss_peak') else 0:.2f} GB, "
                             f"{rec['nodes']} nodes" + (" (static shapes)" if rec.get("static") else "")
                             if ok else f"FAILED: {rec['error'][:200]}"), flush=True)
                    if ok and exporter not in kept:
                        kept[exporter] = str(folder)
                    else:
                        shutil.rmtree(folder, ignore_errors=True)
            ort = {}
            if kept and a.ort_runs > 0 and key != BIG and key not in DEEP:
                ort = _spawn(["--child-ort", key, json.dumps(kept), str(a.ort_runs),
                              str(a.ort_budget)], a.timeout)
                if "error" in ort:
                    print(f"{key:9s} onnxruntime FAILED: {ort['error'][:200]}", flush=True)
                    ort = {}
            elif kept and key == BIG and a.ort_runs > 0:
                # the 1 B model: a few timed runs (each takes seconds), within the same budget
                ort = _spawn(["--child-ort", key, json.dumps(kept), str(min(a.ort_runs, BIG_ORT_RUNS)),
                              str(a.ort_budget)], a.timeout)
                if "error" in ort:
                    print(f"{key:9s} onnxruntime FAILED: {ort['error'][:200]}", flush=True)
                    ort = {}
            for folder in kept.values():
                shutil.rmtree(folder, ignore_errors=True)
            report["models"][key] = {"label": MODELS[key][0], "runs": runs, "run": report["started"],
                                     "ort_runs": a.ort_runs, "summary": _summarise(runs, ort)}
            _print_model(key, report["models"][key]["summary"])
            if not a.no_write:  # after each model, so an interrupted run still reports
                report["finished"] = None
                report["measured"] = list(report["models"])
                _write(with_earlier(report, a))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["finished"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return report


def _summarise(runs: dict, ort: dict) -> dict:
    out = {}
    for exporter, recs in runs.items():
        good = [r for r in recs if "error" not in r]
        s: dict = {"ok": len(good), "tried": len(recs)}
        if not good:
            s["error"] = recs[0].get("error") if recs else "not run"
            out[exporter] = s
            continue
        for k in ("wall", "rss_peak", "capture", "rss_model", "plain_write"):
            s[k] = _median([r.get(k) for r in good])
        for k in ("nodes", "file_bytes", "weight_bytes", "opset", "static", "dynamic_error"):
            s[k] = good[0].get(k)
        if exporter == "onnxplug":
            stages = {name for r in good for name in r.get("timings", {})}
            s["timings"] = {st: _median([r["timings"].get(st) for r in good]) for st in stages}
        s.update(ort.get(exporter, {}))
        out[exporter] = s
    return out


def _machine() -> dict:
    import importlib.metadata as md

    versions = {}
    for dist in ("torch", "transformers", "onnx", "onnx-ir", "onnxruntime", "onnxscript"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = "-"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"platform": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "versions": versions, "load_at_start": load}


# --------------------------------------------------------------------------- reporting

def _gb(v):
    return "-" if v is None else f"{v / 2**30:.2f}"


def _s(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


def _ratio(a, b):
    if a is None or b is None or not b:
        return "-"
    return f"{a / b:.2f}x"


def _print_model(key, summary):
    parts = []
    for e, s in summary.items():
        if "error" in s:
            parts.append(f"{e}: failed")
        else:
            parts.append(f"{e}: {_s(s['wall'])}s {_gb(s['rss_peak'])} GB {s['nodes']} nodes")
    print(f"== {key}: " + "; ".join(parts), flush=True)
    p = summary.get("onnxplug", {})
    for anchor in ("dynamo", "torchscript"):
        q = summary.get(anchor, {})
        if "wall" in p and "wall" in q:
            print(f"   onnxplug/{anchor}: time {_ratio(p['wall'], q['wall'])}, "
                  f"peak RSS {_ratio(p['rss_peak'], q['rss_peak'])}, nodes {_ratio(p['nodes'], q['nodes'])}",
                  flush=True)


def _cell(s, fmt):
    if not s:
        return "not run"
    return "fails" if "error" in s else fmt(s)


def render(report: dict) -> str:
    models = report["models"]
    m = report["machine"]
    v = m["versions"]
    lines = [
        "# Performance: exports of real-size models, each in a fresh process",
        "",
        "Generated by `python benchmarks/models.py` (see benchmarks/README.md); do not edit by hand.",
        "",
        f"Run {report['started']} to {report.get('finished') or '(interrupted)'} on {m['platform']}, {m['cpus']} CPUs "
        f"(load average {m['load_at_start']:.1f} at the start; the machine is shared, so absolute "
        "times are noisy and the ratios within this run are what counts); "
        f"torch {v['torch']}, transformers {v['transformers']}, onnx {v['onnx']}, onnx-ir {v['onnx-ir']}, "
        f"onnxruntime {v['onnxruntime']}, onnxscript {v['onnxscript']}.",
        "",
        "Each export ran in a fresh child process, "
        f"{report['repeats']} times per exporter ({report['big_repeats']} for the 1 B decoder), the "
        "exporters interleaved run by run; the figures are medians. The export time is the wall "
        "time of the export call including the exporter's import (`import onnxplug`, its plugins, "
        "`import torch.onnx`, onnxscript). Peak RSS is the process's high-water mark during the "
        "export (reset just before it), so it includes the model's weights, which the process "
        f"holds anyway; a bare process with torch and transformers imported holds {_gb(report['rss_bare'])} GB. "
        "onnxplug and `torch.onnx.export(dynamo=False)` export at opset 17, `dynamo=True` at "
        "opset 18 (with `optimize=True`). Batch and sequence axes are dynamic (`dynamic_axes`). "
        "Models are built from transformers configs with random weights. Ratios are onnxplug / "
        "anchor: below 1 means onnxplug is faster, lighter or smaller.",
    ]
    earlier = sorted({e.get("run") for e in models.values()
                      if e.get("run") and e.get("run") != report.get("started")})
    if earlier:
        lines += ["", "Rows labelled [run of ...] were not re-measured in this run: they are that "
                  "earlier run's figures (results/models.json keeps them), on the library as it "
                  f"was then ({', '.join(earlier)})."]
    lines += [
        "",
        "## Export time and memory",
        "",
        "| model | onnxplug s | dynamo=True s | dynamo=False s | onnxplug / dynamo=True | onnxplug / dynamo=False "
        "| onnxplug GB | dynamo=True GB | dynamo=False GB | RSS onnxplug / lower anchor |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for key, entry in models.items():
        s = entry["summary"]
        p, d, t = s.get("onnxplug", {}), s.get("dynamo", {}), s.get("torchscript", {})

        def wall(x):
            return _s(x["wall"]) + (" (static)" if x.get("static") else "")

        anchors_rss = [x["rss_peak"] for x in (d, t) if x and "error" not in x and x.get("rss_peak")]
        lines.append(
            f"| {_label(report, entry)} | {_cell(p, wall)} | {_cell(d, wall)} | {_cell(t, wall)} "
            f"| {_ratio(p.get('wall'), d.get('wall'))} | {_ratio(p.get('wall'), t.get('wall'))} "
            f"| {_cell(p, lambda x: _gb(x['rss_peak']))} | {_cell(d, lambda x: _gb(x['rss_peak']))} "
            f"| {_cell(t, lambda x: _gb(x['rss_peak']))} "
            f"| {_ratio(p.get('rss_peak'), min(anchors_rss) if anchors_rss else None)} |")
        for e, x in s.items():
            if x and "error" in x:
                notes.append(f"- {_label(report, entry)}, {LABELS[e]}: {x['error'][:300]}")
            elif x and x.get("static"):
                notes.append(f"- {_label(report, entry)}, {LABELS[e]}: rejected dynamic axes "
                             f"({(x.get('dynamic_error') or '')[:200]}); timed with static shapes.")
    if notes:
        lines += ["", "Failures and fallbacks:", "", *notes]

    lines += [
        "",
        "## Where the time goes",
        "",
        "Seconds inside `torch.export.export` (every attempt the exporter made), and onnxplug's "
        "stages (`ExportResult.timings`). 'after capture' is lowering, IR passes, checking and "
        "saving (what onnxplug adds to the capture), and its ratio to the capture time. 'plain "
        "write' is the same child writing as many bytes as the export's files hold to a new file "
        "with plain `write()` calls: the floor under any exporter's save on this machine.",
        "",
        "| model | capture onnxplug | capture dynamo=True | plugins | capture | fx passes | lower "
        "| ir passes | check | save | plain write | after capture | after / capture |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, entry in models.items():
        s = entry["summary"]
        p, d = s.get("onnxplug", {}), s.get("dynamo", {})
        tm = p.get("timings") or {}
        after = sum(tm.get(k) or 0 for k in ("lower", "ir passes", "check", "save")) if tm else None
        lines.append(
            f"| {_label(report, entry)} | {_s(p.get('capture'))} | {_s(d.get('capture'))} "
            + " ".join(f"| {_s(tm.get(k), 3)}" for k in
                       ("plugins", "capture", "fx passes", "lower", "ir passes", "check", "save"))
            + f" | {_s(p.get('plain_write'), 3)} | {_s(after, 3)} | {_ratio(after, tm.get('capture'))} |")

    lines += [
        "",
        "## Graph: size, speed and correctness",
        "",
        f"onnxruntime CPU latency, median of {report['ort_runs']} runs after 3 warm-up runs "
        f"({BIG_ORT_RUNS} for the 1 B decoder, whose runs take seconds; or of as many as fit in "
        f"{report.get('ort_budget', 30):.0f} s per graph on this shared machine; the least any "
        f"session got was {_min_runs(report)}), with "
        "one intra-op thread and with onnxruntime's default; the exporters' graphs take turns run "
        "by run, so a slow spell falls on all of them alike; max abs difference of the first "
        "output from eager PyTorch. 'vs faster anchor' divides onnxplug's latency by the faster "
        "anchor's (same thread setting).",
        "",
        "| model | nodes onnxplug / dynamo=True / dynamo=False | MB onnxplug / dynamo=True / dynamo=False "
        "| ms 1 thread onnxplug / dynamo=True / dynamo=False | vs faster anchor | ms default threads "
        "| vs faster anchor | max abs diff onnxplug / dynamo=True / dynamo=False |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, entry in models.items():
        s = entry["summary"]
        ex = [s.get(e, {}) for e in EXPORTERS]

        def trio(fn):
            return " / ".join(_cell(x, fn) for x in ex)

        def ms(label):
            return trio(lambda x: "-" if x.get(label) is None else f"{x[label] * 1e3:.1f}")

        def versus(label):
            anchors = [x.get(label) for x in ex[1:] if x and "error" not in x and x.get(label)]
            return _ratio(ex[0].get(label), min(anchors) if anchors else None)

        lines.append(
            f"| {_label(report, entry)} | {trio(lambda x: str(x['nodes']))} "
            f"| {trio(lambda x: format(x['file_bytes'] / 1e6, '.0f'))} | {ms('ort_1')} | {versus('ort_1')} "
            f"| {ms('ort_default')} | {versus('ort_default')} "
            f"| {trio(lambda x: '-' if x.get('max_abs_diff') is None else format(x['max_abs_diff'], '.1e'))} |")

    deep = [k for k in ("bert", "bert-2x", "bert-4x") if k in models]
    if len(deep) > 1:
        lines += ["", "## Scaling with depth", "",
                  "The same encoder at 12, 24 and 48 layers: onnxplug's lowering time per node "
                  "should stay flat (lowering linear in the number of nodes).", "",
                  "| model | nodes | lower s | lower ms per node | ir passes s | check s | save s | export s |",
                  "|---|---|---|---|---|---|---|---|"]
        for key in deep:
            p = models[key]["summary"].get("onnxplug", {})
            tm = p.get("timings") or {}
            per = (tm.get("lower") or 0) / p["nodes"] * 1e3 if p.get("nodes") else None
            lines.append(f"| {_label(report, models[key])} | {p.get('nodes', '-')} | {_s(tm.get('lower'), 3)} "
                         f"| {_s(per, 3)} | {_s(tm.get('ir passes'), 3)} | {_s(tm.get('check'), 3)} "
                         f"| {_s(tm.get('save'), 3)} | {_s(p.get('wall'))} |")

    if BIG in models:
        s = models[BIG]["summary"]
        p = s.get("onnxplug", {})
        lines += ["", "## The 1 B decoder: memory while saving", "",
                  "Saved with external data. The bar: peak RSS at most 1.3x the weight bytes plus "
                  "the bare process.", "",
                  "| exporter | weights GB | RSS with the model built GB | peak RSS GB | peak / (weights + bare) | files GB |",
                  "|---|---|---|---|---|---|"]
        for e in EXPORTERS:
            x = s.get(e)
            if not x:
                continue
            if "error" in x:
                lines.append(f"| {LABELS[e]} | - | - | fails | - | - |")
                continue
            bound = (x.get("weight_bytes") or 0) + (report.get("rss_bare") or 0)
            lines.append(f"| {LABELS[e]} | {_gb(x.get('weight_bytes'))} | {_gb(x.get('rss_model'))} "
                         f"| {_gb(x.get('rss_peak'))} | {_ratio(x.get('rss_peak'), bound)} "
                         f"| {_gb(x.get('file_bytes'))} |")
        if p and "error" not in p and p.get("rss_peak"):
            limit = 1.3 * p["weight_bytes"] + (report.get("rss_bare") or 0)
            lines += ["", f"onnxplug's peak {_gb(p['rss_peak'])} GB against the bar's "
                      f"{_gb(limit)} GB: {'met' if p['rss_peak'] <= limit else 'not met'}."]
            alt = json.loads(OUT_BIG.read_text()).get("llama1b_hashed_dedupe") if OUT_BIG.exists() else None
            if alt and p["rss_peak"] > limit:
                lines += ["", "The rest of the peak is the initializer deduplication pass (core/passes.py, "
                          "see Models larger than memory): with it hashing one tensor at a time, the "
                          f"same export peaks at {_gb(alt['rss_peak_sampled'])} GB (RSS sampled every "
                          "50 ms in one process; the lowering holds no copy of the weights and saving "
                          "adds one transposed block at a time)."]

    lines += _render_big()
    lines += PROFILE_NOTE
    lines += ["", "## The bars, in this run", ""] + _bars(report)
    return "\n".join(lines + _kept_sections(lines)) + "\n"


GENERATED = frozenset({  # the headings render() writes (some only when their rows exist)
    "## After capture: what the profile showed",
    "## Export time and memory", "## Where the time goes", "## Graph: size, speed and correctness",
    "## Scaling with depth", "## The 1 B decoder: memory while saving",
    "## Models larger than memory", "## The bars, in this run"})


PROFILE_NOTE = [
    "", "## After capture: what the profile showed", "",
    "Profiled with cProfile (py-spy and pyinstrument are not installed here) around the export's "
    "`ir passes` and `save` stages, 2026-12-02, one export each in a fresh process: a 2-layer "
    "Llama-style decoder at the 1 B model's widths (hidden 2048, vocabulary 128256, tied "
    "embedding, float16, a 1.29 GB file) and BERT-base (seq 128, dynamic batch and sequence).",
    "",
    "| where | before | after | what it was |",
    "|---|---|---|---|",
    "| 2-layer decoder, ir passes | 1.21 s | 0.17 s | `deduplicate_initializers` hashed every "
    "same-shaped weight (21 blake2b digests, 0.60 s) and made each transposed Linear weight "
    "contiguous first (0.46 s); it now compares 64 sampled elements, read in place, and hashes "
    "only tensors whose samples collide |",
    "| 2-layer decoder, save | 21.0 s | 5.5 s | 12.1 s went into making blocks of *rows* of the "
    "transposed tied embedding (the LM head, 128256 x 2048) contiguous, each block reading the "
    "whole 525 MB source column by column; blocks are now cut along the source's rows and "
    "transposed while small (1.3 s, a whole transpose's cost, one 16 MB block held). A tied "
    "weight is also stored once now (a Transpose node, as dynamo=True does), 525 MB less to "
    "write. The rest is the disk: `dd` with fdatasync writes 146 MB/s here, and a plain "
    "`open().write` of 1.29 GB took 3.1 s against the writer's 4.5 s |",
    "| BERT-base, ir passes | 0.76 s | 0.23 s | the same deduplication hashing (0.60 s, now 0.04 s) |",
    "| BERT-base, save | 1.08 s | 1.46 s (noise) | 0.96 s of it is `write()` itself: a plain "
    "write of the same 435 MB takes 0.15-1.8 s on this machine, by the state of the page cache |",
    "| check (both) | 0.05-0.07 s | - | the checker runs on a weight-free copy already |",
    "| BERT-base, save to a path | 1.02 s | 0.41 s (medians of 4, noisy) | every written page "
    "allocated its own disk blocks; the file's blocks are now reserved first (`fallocate(2)`), "
    "then written (a 540 MB write alone: 0.21 s to 0.08 s) |",
    "| every export, `import onnxplug` after torch | 0.72 s | 0.37 s | 0.42 s of it was importing "
    "ml_dtypes 0.7.0 (onnx imports it; 0.6.0 takes 3 ms): 0.7.0 is excluded. The anchors import "
    "onnx too and gained as much. Most of the rest is sympy, which torch.export needs anyway |",
    "| ResNet-50, lower | - | about 0.1 s less | each node's stack trace was parsed for its source "
    "line, which only `verbose` uses |",
    "| capture (every model) | ResNet-50 0.84-0.96 s, BERT-base 1.44 s | 0.81-0.83 s, 1.35-1.41 s "
    "(3 and 2 alternating fresh pairs) | torch.export symbolised a captured traceback for every "
    "node (`CapturedTraceback`, linecache); only error messages and `verbose` read them. The "
    "capture now records none (unless `verbose`), and a failing lowering captures again with them, "
    "so errors still name the user's line |",
    "| the benchmark's save column | BERT-base 0.86 s, GPT-2 1.03 s | 0.18 s, 0.37 s | not onnxplug: "
    "the files earlier children kept for onnxruntime were being written back to disk during later "
    "children's saves, which the kernel throttled. The driver now runs `os.sync()` before each "
    "child. Files of several GB (the 1 B decoder, 2.5 GB) still write at this machine's speed: "
    "2.5 GB written to a new file took between 0.6 s and 7.3 s in six runs minutes apart, and "
    "the save stays at or below the plain write measured in the same child |",
    "| BERT-base's save, single exports as a user runs them (16:20-16:32 UTC, after this table's "
    "run) | - | 0.14-1.02 s over 15 fresh exports; a reviewer's own: 0.81 s | bimodal with this "
    "machine's page-cache state, not with onnxplug: in 5 alternating pairs while slow, 0.84 s "
    "median with the blocks reserved and 0.90 s without. In the slow state 'after capture' is "
    "0.6-0.7x of capture on BERT-base (the reviewer's: 0.72x), against 0.19x in the table above |",
    "",
    "The lesson: after capture, the cost was never the graph (a few hundred nodes) but touching "
    "weight bytes that did not need touching, and touching them in a cache-hostile order.",
]


def _kept_sections(generated: list[str]) -> list[str]:
    """The sections of the current docs/performance.md that this script does not generate
    (others' own, "Decomposition", "Startup and capture", ...), in their order, as they are."""
    if not OUT_MD.exists():
        return []
    ours = GENERATED | {ln for ln in generated if ln.startswith("## ")}
    kept: list[str] = []
    keep = False
    for line in OUT_MD.read_text().splitlines():
        if line.startswith("## "):
            keep = line not in ours
        if keep:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return [""] + kept if kept else []


def _render_big() -> list[str]:
    """The section of benchmarks/big_model.py's last run (results/big_model.json), if any."""
    if not OUT_BIG.exists():
        return []
    r = json.loads(OUT_BIG.read_text())
    ck, ex, rt, sib = (r.get(k) or {} for k in ("checkpoint", "export", "ort", "sibling"))
    sh = r.get("shape", {})
    label = (f"Llama-shaped decoder, {(ck.get('params') or 0) / 1e9:.2f} B parameters, float16 "
             f"(hidden {sh.get('hidden')}, {sh.get('layers')} layers, vocabulary {sh.get('vocab')})")
    lines = ["", "## Models larger than memory", "",
             f"Generated by `python benchmarks/big_model.py` (run {r.get('started')} to "
             f"{r.get('finished')}, each step in a fresh process). The model is built on the meta "
             "device and exported with `weights=` from a sharded safetensors checkpoint the "
             "benchmark writes tensor by tensor (deleted afterwards), with external data, 2x128 "
             "tokens, dynamic batch and sequence. Peak RSS is the export's high-water mark (reset "
             "just before the call); the bar is 2 GB (2e9 bytes; the page's GB are GiB). "
             "onnxruntime only creates a session on the file, without running it: the session "
             "itself loads every weight (its peak is onnxruntime's, not the exporter's).", "",
             "| model | checkpoint GB | export s | peak RSS GB | bare process GB | bar: peak < 2 GB "
             "| files GB | nodes | onnxruntime session s | its peak RSS GB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    if "error" in ex:
        lines.append(f"| {label} | {_gb(ck.get('checkpoint_bytes'))} | fails | - | - | - | - | - | - | - |")
        lines += ["", f"The export failed: {ex['error']}"]
    else:
        met = ex.get("rss_peak") is not None and ex["rss_peak"] < r.get("bar_bytes", 2e9)
        lines.append(
            f"| {label} | {_gb(ck.get('checkpoint_bytes'))} | {_s(ex.get('wall'))} "
            f"| {_gb(ex.get('rss_peak'))} | {_gb(ex.get('rss_bare'))} | {'met' if met else 'not met'} "
            f"| {_gb(ex.get('file_bytes'))} | {ex.get('nodes', '-')} "
            f"| {_s(rt.get('session_s')) if 'error' not in rt else 'fails'} "
            f"| {_gb(rt.get('rss_peak')) if 'error' not in rt else '-'} |")
        tm = ex.get("timings") or {}
        lines += ["", "Stages of that export (s): " + ", ".join(
            f"{k} {v:.2f}" for k, v in tm.items()) + "."]
        alt = r.get("export_hashed_dedupe")  # measured by hand, see the note's text
        if alt and "error" not in alt:
            lines += ["", f"The table's run predates a fix: the built-in IR pass "
                      "`deduplicate_initializers` (core/passes.py) then read every group of equally "
                      "shaped initializers at once and kept their bytes as dictionary keys (for "
                      "this model, the 56 gate and up projections together). It now keeps a hash "
                      "of one tensor at a time (commit 006b186). The same export with that pass "
                      "hashing one tensor at a time (measured with an equivalent patch, before the "
                      f"fix landed) peaks at "
                      f"{_gb(alt.get('rss_peak'))} GB ({_s(alt.get('wall'))} s, ir passes "
                      f"{_s((alt.get('timings') or {}).get('ir passes'))} s, the same "
                      f"{alt.get('nodes')} nodes): under the bar. A rerun of big_model.py gives "
                      "the library's own figure."]
    if sib:
        if "error" in sib:
            lines += ["", f"The materialised sibling failed: {sib['error']}"]
        else:
            lines += ["", "A materialised sibling of the same family (hidden 256, 2 layers, "
                      "vocabulary 1024, float16), exported normally and on the meta device from "
                      f"its own checkpoint: graphs equal node by node: {'yes' if sib['same_nodes'] else 'NO'}; "
                      f"weights equal byte by byte: {'yes' if sib['same_weights'] else 'NO'}; "
                      f"onnxruntime against eager PyTorch: max abs difference {sib['max_abs_diff']:.1e} "
                      f"(logits up to {sib['max_abs_logit']:.2f})."]
    return lines


def merge(report: dict, previous: dict) -> dict:
    """``report`` with the models it did not measure taken from ``previous`` (an earlier
    run's results), each labelled with that run's date."""
    models = dict(report["models"])
    for key, entry in previous.get("models", {}).items():
        if key not in models:
            entry = dict(entry)
            baked = re.search(r" \[run of ([^\]]+)\]", entry["label"])  # older files' labels
            if baked:
                entry.setdefault("run", baked.group(1))
            entry["label"] = MODELS[key][0] if key in MODELS else entry["label"].split(" [run of ")[0]
            entry.setdefault("run", previous.get("started"))
            entry.setdefault("ort_runs", previous.get("ort_runs"))
            entry.setdefault("repeats", previous.get("big_repeats" if key == BIG else "repeats"))
            models[key] = entry
    order = [k for k in DEFAULT_MODELS if k in models] + [k for k in models if k not in DEFAULT_MODELS]
    report["models"] = {k: models[k] for k in order}
    report.pop("earlier", None)
    return report


def _label(report: dict, entry: dict) -> str:
    """A row's label, with the date of the run that measured it when that is not this run."""
    run = entry.get("run")
    if run and run != report.get("started"):
        return f"{entry['label']} [run of {run}]"
    return entry["label"]


def _min_runs(report: dict):
    counts = [x[k] for e in report["models"].values() for x in e["summary"].values()
              for k in ("ort_1_runs", "ort_default_runs") if isinstance(x, dict) and x.get(k)]
    return min(counts) if counts else "-"


def _bars(report: dict) -> list[str]:
    """Each model's bars, met or not, with onnxplug's ratio to the anchor beside the bar."""
    out = []
    for key, entry in report["models"].items():
        s = entry["summary"]
        p = s.get("onnxplug", {})
        if not p or "error" in p:
            out.append(f"- {_label(report, entry)}: onnxplug failed.")
            continue
        d, t = (x if x and "error" not in x else {} for x in (s.get("dynamo"), s.get("torchscript")))
        checks = []  # (what, onnxplug / anchor, the bar)
        if d:
            checks.append(("time / dynamo=True", p["wall"] / d["wall"], 0.35))
        if t:
            checks.append(("time / dynamo=False", p["wall"] / t["wall"], 1.0))
        tm = p.get("timings") or {}
        if tm.get("capture"):
            after = sum(tm.get(k) or 0 for k in ("lower", "ir passes", "check", "save"))
            checks.append(("after capture / capture", after / tm["capture"], 0.5))
        rss = [x["rss_peak"] for x in (d, t) if x.get("rss_peak")]
        if rss and p.get("rss_peak"):
            checks.append(("peak RSS / lower anchor", p["rss_peak"] / min(rss), 1.0))
        if d:
            checks.append(("nodes / dynamo=True", p["nodes"] / d["nodes"], 1.0))
        lat = [x.get("ort_1") for x in (d, t) if x.get("ort_1")]
        if lat and p.get("ort_1"):
            checks.append(("latency (1 thread) / faster anchor", p["ort_1"] / min(lat), 1.0))

        def said(c):
            return f"{c[0]} {c[1]:.3f}x (bar {c[2]}x)"
        met = [said(c) for c in checks if c[1] <= c[2]]
        missed = [said(c) for c in checks if c[1] > c[2]]
        out.append(f"- {_label(report, entry)}: met: {', '.join(met) or 'none'}; "
                   f"not met: {', '.join(missed) or 'none'}.")
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0].startswith("--child"):
        try:
            if argv[0] == "--child-export":
                rec = child_export(*argv[1:4])
            elif argv[0] == "--child-bare":
                rec = child_bare()
            else:
                rec = child_ort(argv[1], json.loads(argv[2]), int(argv[3]), float(argv[4]))
        except Exception:  # noqa: BLE001 - the driver records the reason
            traceback.print_exc()
            return 1
        print("@@RESULT " + json.dumps(rec), flush=True)
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS),
                    help=f"comma-separated, from: {', '.join(MODELS)}")
    ap.add_argument("--exporters", default=",".join(EXPORTERS))
    ap.add_argument("--repeats", type=int, default=3, help="fresh-process exports per exporter")
    ap.add_argument("--big-repeats", type=int, default=1, help=f"the same, for {BIG}")
    ap.add_argument("--ort-runs", type=int, default=50, help="timed onnxruntime runs (0: skip)")
    ap.add_argument("--ort-budget", type=float, default=30,
                    help="stop timing one session after this many seconds (fewer runs, counted)")
    ap.add_argument("--deep-anchors", action="store_true",
                    help="export the 2x and 4x encoders with the anchors too (slow)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per child process")
    ap.add_argument("--workdir", default=None, help="where the exported files go meanwhile")
    ap.add_argument("--no-write", action="store_true",
                    help="print only; leave results/models.json and docs/performance.md alone")
    ap.add_argument("--merge", action="store_true",
                    help="(the default) keep the models this run does not measure from the "
                         "previous results/models.json, each labelled with its run's date")
    ap.add_argument("--fresh", action="store_true",
                    help="drop the previous results/models.json's rows: render only this run")
    ap.add_argument("--render", action="store_true",
                    help="measure nothing: render docs/performance.md from results/models.json "
                         "(and results/big_model.json)")
    a = ap.parse_args(argv)
    if a.render:
        OUT_MD.write_text(render(json.loads(OUT_JSON.read_text())))
        print(f"wrote {OUT_MD.relative_to(ROOT)}")
        return 0
    previous = json.loads(OUT_JSON.read_text()) if OUT_JSON.exists() else None
    report = drive(a, previous)
    report["measured"] = list(report["models"])
    report = with_earlier(report, a, previous)
    print(render(report))
    if not a.no_write:
        _write(report)
        print(f"wrote {OUT_JSON.relative_to(ROOT)} and {OUT_MD.relative_to(ROOT)}")
    return 0


def _write(report: dict) -> None:
    OUT_JSON.parent.mkdir(exist_ok=True)
    OUT_JSON.write_text(json.dumps(report, indent=1) + "\n")
    OUT_MD.write_text(render(report))


if __name__ == "__main__":
    sys.exit(main())

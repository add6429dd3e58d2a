"""transformers' export API: the onnxplug backend against transformers' own ``onnx`` backend.

For each decoder (random weights, shrunk config), ``export_for_generation`` with
``dynamic=True`` through each backend, in a fresh process: success, the export time, the max
abs difference of every component (prefill, decode) from eager PyTorch on transformers' own
per-component inputs, and onnxruntime latency of the decode step (median of 20 runs after
warm-up, through transformers' runner).

    .venv/bin/python benchmarks/hf_backend.py [--models llama,gpt2] [--backends onnxplug,onnx]

Writes ``benchmarks/results/hf_backend.json`` and ``docs/transformers-backend.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "hf_backend.json"
PAGE = HERE.parent / "docs" / "transformers-backend.md"
DECODERS = ["llama", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "gpt2", "gpt_neox", "falcon"]


def worker(model_type: str, backend: str) -> dict:
    import copy
    import statistics
    import warnings

    warnings.filterwarnings("ignore")
    import torch
    import transformers
    import zoo_models
    from transformers.exporters import AutoHfExporter
    from transformers.exporters.utils import decompose_for_generation

    record = {"model": model_type, "backend": backend}
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(zoo_models._config(model_type)).eval()
    ids = torch.randint(3, 500, (1, 6))
    sample = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if backend == "onnxplug":
        import onnxplug_transformers

        config = onnxplug_transformers.OnnxplugConfig(dynamic=True, opset_version=18)
    else:
        from transformers.exporters.configs import OnnxConfig

        config = OnnxConfig(dynamic=True, opset_version=18)
    start = time.perf_counter()
    try:
        exported = AutoHfExporter.from_config(config).export_for_generation(model, sample,
                                                                            config=config)
    except Exception as exc:  # noqa: BLE001 - reported
        return {**record, "status": "export-failed",
                "reason": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}"}
    record["export_s"] = round(time.perf_counter() - start, 2)
    worst = 0.0
    try:
        for name, (submodel, inputs) in decompose_for_generation(model, sample).items():
            got = exported.runners[name](**copy.deepcopy(inputs))
            with torch.no_grad():
                want = submodel(**copy.deepcopy(inputs))
            g = [t for t in torch.utils._pytree.tree_leaves(got) if isinstance(t, torch.Tensor)]
            w = [t for t in torch.utils._pytree.tree_leaves(want) if isinstance(t, torch.Tensor)]
            if len(g) != len(w):
                raise RuntimeError(f"{name}: {len(g)} outputs, eager {len(w)}")
            worst = max([worst] + [float((a - b).abs().max()) for a, b in zip(g, w)])
            if name == "decode":
                runs = []
                for i in range(25):
                    t = time.perf_counter()
                    exported.runners[name](**copy.deepcopy(inputs))
                    if i >= 5:
                        runs.append(time.perf_counter() - t)
                record["decode_ms"] = round(1000 * statistics.median(runs), 3)
    except Exception as exc:  # noqa: BLE001
        return {**record, "status": "run-failed",
                "reason": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}"}
    record["max_diff"] = worst
    record["status"] = "ok" if worst <= 1e-3 else "mismatch"
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2)
    parser.add_argument("--models", default=",".join(DECODERS))
    parser.add_argument("--backends", default="onnxplug,onnx")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    records = {(r["model"], r["backend"]): r for r in old}
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    for model in args.models.split(","):
        for backend in args.backends.split(","):
            try:
                out = subprocess.run([sys.executable, __file__, "--worker", model, backend],
                                     capture_output=True, text=True, timeout=args.timeout, env=env)
                line = (out.stdout.strip().splitlines() or [""])[-1]
                record = json.loads(line) if line.startswith("{") else {
                    "model": model, "backend": backend, "status": "crash",
                    "reason": (out.stderr.strip().splitlines() or ["?"])[-1][:200]}
            except subprocess.TimeoutExpired:
                record = {"model": model, "backend": backend, "status": "timeout"}
            records[(model, backend)] = record
            print(json.dumps(record), flush=True)
            RESULTS.write_text(json.dumps(sorted(records.values(), key=lambda r: (r["model"], r["backend"])), indent=1) + "\n")
    render(list(records.values()))


def render(records: list[dict]) -> None:
    by = {(r["model"], r["backend"]): r for r in records}
    lines = ["# transformers' export API: the onnxplug backend", "",
             "Generated by `benchmarks/hf_backend.py`. `export_for_generation(model, "
             "{input_ids, attention_mask}, config)` with `dynamic=True` at opset 18, one fresh "
             "process per model and backend, on decoders built from shrunk configs with random "
             "weights. `max diff` is over every output of both components (prefill, decode) on "
             "transformers' own per-component inputs, against eager PyTorch; `decode` is the "
             "median onnxruntime time of one decode step through transformers' runner.", "",
             "| model | onnxplug | onnx (torch.onnx dynamo) | export time ratio | decode latency ratio |",
             "|---|---|---|---|---|"]

    def cell(r):
        if r is None:
            return "not run"
        if r["status"] != "ok":
            return f"{r['status']}: {r.get('reason', '')}"[:120]
        return f"ok, {r['export_s']} s, max diff {r['max_diff']:.1e}, decode {r.get('decode_ms')} ms"

    for model in sorted({r["model"] for r in records}):
        a, b = by.get((model, "onnxplug")), by.get((model, "onnx"))
        both = a and b and a["status"] == b["status"] == "ok"
        t = f"{a['export_s'] / b['export_s']:.2f}x" if both else "-"
        lat = f"{a['decode_ms'] / b['decode_ms']:.2f}x" if both and b.get("decode_ms") else "-"
        lines.append(f"| {model} | {cell(a)} | {cell(b)} | {t} | {lat} |")
    PAGE.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

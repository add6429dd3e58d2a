"""The GPU check: a model that lives on CUDA exports to the graph it exports to on the CPU, and
that graph runs in onnxruntime's CUDA provider with eager CUDA's numerics.

For each model (the real-size ones of ``models.py``, random weights, dynamic batch and sequence):

1. export it on the CPU, then move the module and its example inputs to the device and export
   it again (``onnxplug.export(..., f=None)``, opset 17);
2. compare the two graphs: nodes (op, domain, inputs, outputs, attributes) in order, graph
   inputs and outputs with their shapes, and every initializer byte for byte;
3. run the device export in onnxruntime with ``CUDAExecutionProvider`` first (the check fails
   when onnxruntime does not put the graph on it) and compare with the eager model on the device,
   at the export shape and at a second batch size; also time it (median of ``--runs`` after
   warm-up).

Eager CUDA runs with TF32 off, so that both sides compute in float32.

    python benchmarks/gpu_check.py                  # on a machine with an NVIDIA GPU
    python benchmarks/gpu_check.py --device cpu --models resnet50 --no-write   # the same steps on the CPU

Results go to ``benchmarks/results/gpu_check.json`` and the "GPU check" section of
``docs/performance.md`` (the rest of that page is ``models.py``'s and is left as it is). Needs
onnxruntime-gpu (``pip install onnxruntime-gpu``) and a CUDA build of torch on that machine.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from models import MODELS, build  # noqa: E402

OUT_JSON = HERE / "results" / "gpu_check.json"
OUT_MD = HERE.parent / "docs" / "performance.md"
HEADING = "## GPU check"
OPSET = 17
RTOL, ATOL = 1e-3, 1e-4


def graph_signature(proto) -> list:
    """Everything of the main graph but the initializers' bytes, in order."""
    g = proto.graph

    def value(v):
        return v.name, v.type.SerializeToString(deterministic=True)

    return [[(n.op_type, n.domain, list(n.input), list(n.output),
              sorted((a.name, a.SerializeToString(deterministic=True)) for a in n.attribute))
             for n in g.node],
            [value(v) for v in g.input], [value(v) for v in g.output],
            [(t.name, t.data_type, list(t.dims)) for t in g.initializer],
            [(o.domain, o.version) for o in proto.opset_import]]


def initializer_bytes_equal(a, b) -> tuple[int, int]:
    """How many initializers of ``a`` have the same bytes in ``b``, and how many there are."""
    from onnx import numpy_helper

    other = {t.name: t for t in b.graph.initializer}
    same = sum(1 for t in a.graph.initializer if t.name in other and
               numpy_helper.to_array(t).tobytes() == numpy_helper.to_array(other[t.name]).tobytes())
    return same, len(a.graph.initializer)


def second_inputs(args: tuple, names: list[str], axes: dict) -> tuple:
    """The example inputs at batch 3 instead of 2 (every model here has a dynamic batch): one
    more row, new noise for images, a copy of the first row for token ids and masks."""
    import torch

    def grow(x):
        extra = torch.randn_like(x[:1]) if x.is_floating_point() else x[:1]
        return torch.cat([x, extra], 0)

    return tuple(grow(x) if 0 in axes.get(name, {}) else x for name, x in zip(names, args))


def check_model(key: str, device: str, runs: int) -> dict:
    import numpy as np
    import onnxruntime as ort
    import torch

    import onnxplug

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model, args, names, outs, axes, weights = build(key)
    kw = dict(opset_version=OPSET, input_names=names, output_names=outs, dynamic_axes=axes)
    rec: dict = {"model": MODELS[key][0], "device": device, "weights_bytes": weights}
    t = time.perf_counter()
    on_cpu = onnxplug.export(model, args, None, **kw).model
    rec["export_cpu_s"] = time.perf_counter() - t
    model = model.to(device)
    dev_args = tuple(a.to(device) for a in args)
    t = time.perf_counter()
    on_dev = onnxplug.export(model, dev_args, None, **kw).model
    rec["export_device_s"] = time.perf_counter() - t
    rec["same_graph"] = graph_signature(on_cpu) == graph_signature(on_dev)
    rec["same_initializers"], rec["initializers"] = initializer_bytes_equal(on_cpu, on_dev)
    rec["nodes"] = len(on_dev.graph.node)

    provider = "CUDAExecutionProvider" if device.startswith("cuda") else "CPUExecutionProvider"
    session = ort.InferenceSession(on_dev.SerializeToString(),
                                   providers=[provider, "CPUExecutionProvider"])
    rec["provider"] = session.get_providers()[0]
    if rec["provider"] != provider:
        rec["error"] = f"onnxruntime did not use {provider} (it has {ort.get_available_providers()})"
        return rec
    diffs = []
    for inputs in (args, second_inputs(args, names, axes)):
        with torch.no_grad():
            expected = model(*(a.to(device) for a in inputs)).float().cpu().numpy()
        feed = {n: a.numpy() for n, a in zip(names, inputs)}
        got = session.run(None, feed)[0].astype(np.float32)
        diffs.append(float(np.max(np.abs(got - expected))))
        rec.setdefault("shapes", []).append(list(got.shape))
        rec.setdefault("matches", []).append(bool(np.allclose(got, expected, rtol=RTOL, atol=ATOL)))
    rec["max_abs_diff"] = diffs
    feed = {n: a.numpy() for n, a in zip(names, args)}
    for _ in range(5):
        session.run(None, feed)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - t)
    rec["ort_ms"] = statistics.median(times) * 1e3
    return rec


def _machine(device: str) -> dict:
    import onnxruntime as ort
    import torch

    info = {"when": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "torch": torch.__version__, "onnxruntime": ort.__version__, "device": device}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def render(report: dict | None) -> list[str]:
    lines = [HEADING, ""]
    if not report:
        return lines + [
            "Not measured yet: no session so far was lent a machine with an NVIDIA GPU. "
            "`python benchmarks/gpu_check.py` on one exports each model of this page from the "
            "CPU and from CUDA, compares the two graphs node by node and byte by byte, and runs "
            "the CUDA export in onnxruntime's CUDA provider against eager CUDA (see the "
            "script's docstring).", ""]
    m = report["machine"]
    lines += [f"Run {m['when']} with `python benchmarks/gpu_check.py` on {m.get('gpu', m['device'])}; "
              f"torch {m['torch']}, onnxruntime {m['onnxruntime']}, opset {OPSET}. The module and its "
              "inputs on the device; the graph compared with the CPU export of the same module; "
              f"onnxruntime's {report['rows'][0].get('provider', '-') if report['rows'] else '-'} "
              f"against eager on the device at batch 2 and 3 (rtol {RTOL}, atol {ATOL}).", "",
              "| model | same graph | initializers equal | nodes | max abs diff (batch 2 / 3) | matches | "
              "onnxruntime ms | export s (CPU / device) |",
              "|---|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        if "error" in r and "max_abs_diff" not in r:
            lines.append(f"| {r['model']} | {r.get('same_graph', '-')} | - | - | - | no: {r['error']} | - | - |")
            continue
        lines.append(
            f"| {r['model']} | {'yes' if r['same_graph'] else 'no'} | {r['same_initializers']} / "
            f"{r['initializers']} | {r['nodes']} | "
            f"{' / '.join(f'{d:.1e}' for d in r['max_abs_diff'])} | "
            f"{'yes' if all(r['matches']) else 'no'} | {r['ort_ms']:.2f} | "
            f"{r['export_cpu_s']:.2f} / {r['export_device_s']:.2f} |")
    return lines + [""]


def write_section(section: list[str]) -> None:
    """Replace (or append) this script's section of docs/performance.md, keeping the rest."""
    text = OUT_MD.read_text().splitlines() if OUT_MD.exists() else []
    out, skipping, placed = [], False, False
    for line in text:
        if line.startswith("## "):
            skipping = line == HEADING
            if skipping:
                out += section
                placed = True
        if not skipping:
            out.append(line)
    if not placed:
        out += [""] + section
    OUT_MD.write_text("\n".join(out).rstrip() + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet50,bert,gpt2")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--render", action="store_true", help="only render the docs section")
    a = ap.parse_args()
    if a.render:
        report = json.loads(OUT_JSON.read_text()) if OUT_JSON.exists() else None
        write_section(render(report))
        return
    import torch

    if a.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("gpu_check: torch sees no CUDA device here (a CPU build, or no GPU). Run it on a "
                 "machine with an NVIDIA GPU and a CUDA build of torch, or pass --device cpu to "
                 "try the steps on the CPU.")
    rows = []
    for key in a.models.split(","):
        try:
            rows.append(check_model(key, a.device, a.runs))
        except Exception as exc:  # noqa: BLE001 - a failure is a row of the table
            rows.append({"model": MODELS[key][0], "error": f"{type(exc).__name__}: {exc}"[:300]})
        print(json.dumps(rows[-1]), flush=True)
    report = {"machine": _machine(a.device), "rows": rows}
    if not a.no_write:
        OUT_JSON.write_text(json.dumps(report, indent=1) + "\n")
        write_section(render(report))
    print("\n".join(render(report)))
    bad = [r["model"] for r in rows if "error" in r or not r["same_graph"] or not all(r["matches"])]
    if bad:
        sys.exit(f"gpu_check: not met for {', '.join(bad)}")


if __name__ == "__main__":
    main()

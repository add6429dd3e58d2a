"""Detection family of the real-ops benchmark: torchvision's detection models through onnxplug
and both torch.onnx exporters, each export in a fresh process with a timeout, checked with
onnx.checker and run in onnxruntime against eager PyTorch (boxes, scores and labels) on the
export image and a second image.

Needs torchvision: run it with the vision environment (``benchmarks/vision_env.sh``)::

    .venv-vision/bin/python benchmarks/realops_detection.py
    .venv-vision/bin/python benchmarks/realops_detection.py --exporters onnxplug --models 'fasterrcnn*'

``CASES`` (from ``onnxplug_vision.detection``) is the case list ``benchmarks/realops.py`` imports
for its detection family; ``run_case(exporter, name)`` runs one. Results are merged into
``benchmarks/results/realops_detection.json``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "realops_detection.json"
EXPORTERS = ("onnxplug", "torchscript", "dynamo")
OPSET = 17


def _opset(exporter: str) -> int:
    """The opset an exporter is asked for (the dynamo exporter's lowest is 18)."""
    return max(OPSET, 18) if exporter == "dynamo" else OPSET


def _export(exporter: str, model, imgs, path: str) -> str:
    """Export to ``path``; returns what captured it."""
    import torch

    if exporter == "onnxplug":
        import onnxplug

        r = onnxplug.export(model, (imgs,), path, opset_version=OPSET, capture="trace")
        return r.capture.strategy
    if exporter == "torchscript":
        torch.onnx.export(model, (imgs,), path, opset_version=OPSET, dynamo=False)
        return "torch.jit.trace"
    torch.onnx.export(model, (imgs,), path, opset_version=_opset(exporter), dynamo=True)
    return "torch.export"


def run_case(exporter: str, name: str) -> dict:
    """Export one model with one exporter and compare with eager; a result record."""
    import tempfile

    import onnx
    import onnxruntime as ort

    from onnxplug_vision.detection import CASES, compare, eager_outputs, images

    case = next(c for c in CASES if c.name == name)
    model = case.build()
    record = {"model": name, "exporter": exporter, "opset": _opset(exporter)}
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/model.onnx"
        start = time.perf_counter()
        try:
            record["capture"] = _export(exporter, model, images(0), path)
        except Exception as exc:  # noqa: BLE001 - the record says why
            record.update(status="export failed", error=_line(exc))
            return record
        record["export_s"] = round(time.perf_counter() - start, 1)
        try:
            proto = onnx.load(path)
            onnx.checker.check_model(proto)
            sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            for seed in (0, 1):
                imgs = images(seed)
                feed = {i.name: t.numpy() for i, t in zip(sess.get_inputs(), imgs)}
                compare(sess.run(None, feed), eager_outputs(model, imgs))
        except Exception as exc:  # noqa: BLE001
            record.update(status="mismatch or onnxruntime failure", error=_line(exc))
            return record
        record["nodes"] = len(proto.graph.node)
    record["status"] = "pass"
    return record


def _line(exc: BaseException) -> str:
    text = [x.strip() for x in f"{type(exc).__name__}: {exc}".splitlines() if x.strip()]
    return " ".join(text[:5])[:400]


def _child(exporter: str, name: str, timeout: int) -> dict:
    code = ("import json, sys; sys.path.insert(0, %r); import realops_detection as r; "
            "print('RESULT ' + json.dumps(r.run_case(%r, %r)))" % (str(HERE), exporter, name))
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"model": name, "exporter": exporter, "opset": _opset(exporter),
                "status": f"timeout after {timeout}s"}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"model": name, "exporter": exporter, "opset": _opset(exporter), "status": "crashed",
            "error": done.stderr.strip().splitlines()[-1][:300] if done.stderr.strip() else ""}


def main(argv: list[str] | None = None) -> None:
    from onnxplug_vision.detection import CASES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exporters", nargs="*", default=list(EXPORTERS), choices=EXPORTERS)
    parser.add_argument("--models", default="*", help="fnmatch pattern of model names")
    parser.add_argument("--timeout", type=int, default=1800)
    args = parser.parse_args(argv)
    for case in CASES:
        if not fnmatch.fnmatch(case.name, args.models):
            continue
        for exporter in args.exporters:
            record = _child(exporter, case.name, args.timeout)
            print(json.dumps(record), flush=True)
            # read again: another run may have written its records meanwhile
            results = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
            results = [r for r in results if (r["model"], r["exporter"]) != (case.name, exporter)]
            results.append(record)
            RESULTS.parent.mkdir(exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    for exporter in args.exporters:
        mine = [r for r in results if r["exporter"] == exporter]
        print(f"{exporter}: {sum(r['status'] == 'pass' for r in mine)} of {len(mine)} pass")


if __name__ == "__main__":
    main()

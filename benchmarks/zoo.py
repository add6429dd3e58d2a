"""Model zoo: every architecture of ``zoo_models.py`` through onnxplug and both torch.onnx
exporters, each export in a fresh process with a timeout and with dynamic axes, checked with
onnx.checker and in onnxruntime against eager PyTorch at the export shape and a second shape.

    .venv/bin/python benchmarks/zoo.py                                  # everything (long)
    .venv/bin/python benchmarks/zoo.py --exporters onnxplug --opsets 17 --models 'decoder*'
    .venv/bin/python benchmarks/zoo.py --render                         # only docs/zoo.md

Results are merged into ``benchmarks/results/zoo.json`` (one record per model, exporter and
opset) and rendered as ``docs/zoo.md``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "zoo.json"
PAGE = HERE.parent / "docs" / "zoo.md"
EXPORTERS = ("onnxplug", "torchscript", "dynamo")
RTOL, ATOL = 1e-3, 1e-3


_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the colours some exporters put in their messages


def _one_line(exc: BaseException) -> str:
    text = [x.strip() for x in _ANSI.sub("", f"{type(exc).__name__}: {exc}").strip().splitlines() if x.strip()]
    line = " ".join(text[:2]) if text and text[0].endswith(":") else (text[0] if text else "")
    return line[:300]


def _flat(value):
    import torch
    from onnxplug.caches import cache_pytrees

    with cache_pytrees():
        return [x for x in torch.utils._pytree.tree_leaves(value) if isinstance(x, torch.Tensor)]


def _export(exporter: str, model, kwargs, axes, names, opset: int, path: str):
    import torch

    if exporter == "onnxplug":
        import onnxplug

        onnxplug.export(model, (), path, kwargs=kwargs, input_names=names, dynamic_axes=axes,
                        opset_version=opset)
        return
    input_names = [n for n in names]
    if exporter == "torchscript":
        torch.onnx.export(model, (kwargs,), path, input_names=input_names, dynamic_axes=axes,
                          opset_version=opset, dynamo=False)
    else:
        torch.onnx.export(model, (), path, kwargs=kwargs, input_names=input_names,
                          dynamic_axes=axes, opset_version=opset, dynamo=True)


_ORT_TYPES = {"tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(float)": "float32",
              "tensor(double)": "float64", "tensor(bool)": "bool"}


def _scalar_defaults(model) -> dict:
    """forward's parameters whose default is a number or a bool (``logits_to_keep=0``): an
    exporter that turns them into graph inputs gets them fed with that default, as its user
    would, instead of failing for an input nobody can name."""
    import inspect

    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in params
            if isinstance(p.default, (bool, int, float)) and p.default is not None}


def _run(path: str, names: list[str], kwargs, model, compare=None) -> float:
    """Run the saved model on ``kwargs`` (fed by input name) and return the max abs difference
    from eager; raises on a shape or value mismatch. ``compare(actual, expected)``, when the
    entry gives one, replaces the element-wise comparison (detections that tie in score may
    come out in another order); the difference is still reported where the shapes agree."""
    import copy

    import numpy as np
    import onnxruntime as ort
    import torch

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    tensors = dict(zip(names, _flat(kwargs)))
    feeds = {}
    defaults = _scalar_defaults(model)
    for i in sess.get_inputs():
        if i.name in tensors:
            feeds[i.name] = tensors[i.name].numpy()
        elif i.name in defaults:  # the TorchScript exporter makes inputs of scalar defaults
            feeds[i.name] = np.array(defaults[i.name], dtype=_ORT_TYPES.get(i.type, np.int64))
        else:
            raise RuntimeError(f"the graph wants an input {i.name!r} that is not one of {names}")
    actual = sess.run(None, feeds)
    with torch.no_grad():
        expected = [t.numpy() for t in _flat(model(**copy.deepcopy(kwargs)))]
    if len(actual) != len(expected):
        raise RuntimeError(f"{len(actual)} outputs, eager has {len(expected)}")
    if compare is not None:
        try:
            compare(actual, expected)
        except AssertionError as exc:
            raise RuntimeError(" ".join(ln.strip() for ln in str(exc).strip().splitlines()[:4])) from None
        return max((_max_diff(a, e) for a, e in zip(actual, expected) if a.shape == e.shape),
                   default=0.0)
    worst = 0.0
    for k, (a, e) in enumerate(zip(actual, expected)):
        if a.shape != e.shape:
            raise RuntimeError(f"output {k}: shape {a.shape}, eager {e.shape}")
        diff = _max_diff(a, e)
        if not np.allclose(a, e, rtol=RTOL, atol=ATOL):
            raise RuntimeError(f"output {k} differs by {diff:.3g}")
        worst = max(worst, diff)
    return worst


def _max_diff(a, e) -> float:
    import numpy as np

    return float(np.max(np.abs(a.astype(np.float64) - e.astype(np.float64)))) if a.size else 0.0


def worker(name: str, exporter: str, opset: int) -> dict:
    """Build, export, check and run one model; the record for the results file."""
    import warnings

    warnings.filterwarnings("ignore")
    record = {"model": name, "exporter": exporter, "opset": opset}
    try:
        import onnx
        import torch
        import zoo_models
        from onnxplug.caches import cache_pytrees, default_input_names

        torch.manual_seed(0)
        model, kwargs, axes, second, *compare = zoo_models.zoo()[name]()
        with cache_pytrees():
            names = default_input_names(model, (), kwargs)
        import copy

        with torch.no_grad():  # a model that does not run eagerly is the zoo's problem
            model(**copy.deepcopy(kwargs))
            model(**copy.deepcopy(second))
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return {**record, "status": "build-failed", "reason": _one_line(exc)}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        start = time.perf_counter()
        try:
            _export(exporter, model, kwargs, axes, names, opset, path)
        except Exception as exc:  # noqa: BLE001
            return {**record, "status": "export-failed", "reason": _one_line(exc)}
        record["export_s"] = round(time.perf_counter() - start, 2)
        try:
            onnx.checker.check_model(path, full_check=True)
            proto = onnx.load(path, load_external_data=False)
            record["nodes"] = len(proto.graph.node)
        except Exception as exc:  # noqa: BLE001
            return {**record, "status": "invalid", "reason": _one_line(exc)}
        for label, inputs in (("", kwargs), ("second-", second)):
            try:
                record[f"{label}max_diff"] = _run(path, names, inputs, model, *compare)
            except Exception as exc:  # noqa: BLE001
                status = "mismatch" if not label else "second-shape-failed"
                return {**record, "status": status, "reason": _one_line(exc)}
    return {**record, "status": "ok"}


def _load() -> list[dict]:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else []


def _save(new: list[dict]) -> None:
    """Merge ``new`` into the results file under a lock: the file is re-read first, so two
    runs at once (the default and the vision environment) do not drop each other's records."""
    import fcntl

    scratch = RESULTS.parent / ".partial"  # git-ignored
    scratch.mkdir(parents=True, exist_ok=True)
    with open(scratch / "zoo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        merged = {(r["model"], r["exporter"], r["opset"]): r for r in _load()}
        merged.update({(r["model"], r["exporter"], r["opset"]): r for r in new})
        records = sorted(merged.values(), key=lambda r: (r["model"], r["exporter"], r["opset"]))
        tmp = scratch / "zoo.json.tmp"
        tmp.write_text(json.dumps(records, indent=1) + "\n")
        tmp.replace(RESULTS)


# Imported once by the fork server, so each export's fresh process does not pay for them again.
# Neither onnxplug nor torch.onnx is among them: each exporter's own import and first-call
# costs stay inside the export time, as in a process started from scratch.
PRELOAD = ["numpy", "torch", "onnx", "onnxruntime", "transformers", "transformers.modeling_utils",
           "torchvision", "timm", "zoo_models"]


def _child(conn, name: str, exporter: str, opset: int, log: str) -> None:
    """One export in a process forked from the preloaded server; stderr goes to ``log``."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 2)
    os.dup2(fd, 1)
    conn.send(worker(name, exporter, opset))
    conn.close()


def _one(name: str, exporter: str, opset: int, timeout: float, ctx) -> dict:
    base = {"model": name, "exporter": exporter, "opset": opset}
    if ctx is None:  # --no-preload: a process started from scratch
        env = {**os.environ, "PYTHONPATH": str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        cmd = [sys.executable, __file__, "--worker", name, exporter, str(opset)]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return {**base, "status": "timeout", "reason": f"more than {timeout:.0f} s"}
        last = out.stdout.strip().splitlines()[-1:] or [""]
        return json.loads(last[0]) if last[0].startswith("{") else {
            **base, "status": "crash",
            "reason": (out.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    with tempfile.NamedTemporaryFile(suffix=".log", delete=False) as f:
        log = f.name
    try:
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(send, name, exporter, opset, log))
        proc.start()
        send.close()
        if recv.poll(timeout):
            try:
                record = recv.recv()
            except EOFError:  # died before sending
                record = None
        else:
            record = {**base, "status": "timeout", "reason": f"more than {timeout:.0f} s"}
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()
        if record is None:
            lines = [x for x in Path(log).read_text(errors="replace").splitlines() if x.strip()]
            record = {**base, "status": "crash",
                      "reason": f"exit code {proc.exitcode}: " + (lines or ["no output"])[-1][:280]}
        return record
    finally:
        os.unlink(log)


def run(models: list[str], exporters: list[str], opsets: list[int], timeout: float,
        preload: bool = True) -> None:
    ctx = None
    if preload:
        import multiprocessing

        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
    for name in models:
        for exporter in exporters:
            for opset in opsets:
                record = _one(name, exporter, opset, timeout, ctx)
                print(f"{name:28s} {exporter:12s} {opset:3d} {record['status']:20s} "
                      f"{record.get('reason', '')[:90]}", flush=True)
                _save([record])


# What a user can do about the failures seen in the zoo, by a piece of their reason.
HINTS = [
    ("got multiple values for argument", "the TorchScript exporter's trace cannot call "
     "transformers 5's forward here (its wrappers get use_cache twice), with keyword or "
     "positional inputs alike: use another exporter"),
    ("Failed to convert 'dynamic_axes' to 'dynamic_shapes'", "dynamo=True could not turn "
     "dynamic_axes into torch.export constraints: write dynamic_shapes with torch.export.Dim"),
    ("Only tuples, lists and Variables are supported as JIT", "the TorchScript exporter takes "
     "no cache objects: wrap the model so it takes and returns the cache as tensors"),
    ("to ONNX opset version", "that exporter has no conversion of the op at this opset: try a "
     "newer opset (scaled_dot_product_attention needs 14)"),
    ("output 0: shape (2, 512), eager (2, 8, 512)", "the TorchScript exporter traced "
     "logits_to_keep=0 as a tensor index, keeping one position: pass logits_to_keep as a "
     "slice, or use another exporter"),
    ("Failed to export the model with torch.export", "dynamo=True's torch.export step failed "
     "(data-dependent control flow, such as the detection models' post-processing): change the "
     "model for torch.export, or use an exporter that traces (onnxplug falls back to it)"),
    ("Failed to decompose the FX graph", "dynamo=True failed in its own decomposition step: "
     "try another exporter or a newer torch"),
    ("[ONNXRuntimeError]", "the exported graph does not run in onnxruntime at these sizes "
     "(a size frozen in a shape op): export it without that dynamic axis, or use another "
     "exporter"),
    ("more than", "the export (or its check) ran out of the zoo's time: rerun it with a larger "
     "--timeout on a free machine"),
]


def _hint(reason: str) -> str:
    return next((h for key, h in HINTS if key in reason), "")


def _bar(models: list[str], by: dict) -> list[str]:
    """The issue's bar per opset: every model an anchor passes, onnxplug passes; and onnxplug
    passes more models than either anchor. An anchor's count says how many models it was not
    run on, if any (a count of no runs proves nothing)."""
    ok = lambda m, e, o: (r := by.get((m, e, o))) is not None and r["status"] == "ok"  # noqa: E731
    out = ["", "## The bar", "",
           "| opset | onnxplug passes | torchscript passes | dynamo passes | anchor passes, onnxplug fails |",
           "|---|---|---|---|---|"]

    def cell(exporter: str, o: int) -> str:
        unrun = sum(by.get((m, exporter, o)) is None for m in models)
        return f"{sum(ok(m, exporter, o) for m in models)}" + (f" ({unrun} not run)" if unrun else "")

    for o in (13, 17, 18):
        mine = sum(ok(m, "onnxplug", o) for m in models)
        lost = [m for m in models if not ok(m, "onnxplug", o)
                and (ok(m, "torchscript", o) or ok(m, "dynamo", o))]
        out.append(f"| {o} | {mine} of {len(models)} | {cell('torchscript', o)} | "
                   f"{cell('dynamo', o)} | {', '.join(lost) or 'none'} |")
    return out


def render() -> None:
    records = _load()
    models = sorted({r["model"] for r in records})
    columns = sorted({(r["exporter"], r["opset"]) for r in records},
                     key=lambda c: (EXPORTERS.index(c[0]), c[1]))
    by = {(r["model"], r["exporter"], r["opset"]): r for r in records}
    head = ["model"] + [f"{e} {o}" for e, o in columns]
    lines = ["# Model zoo", "",
             "Generated by `benchmarks/zoo.py` (do not edit). Each model is built with random "
             "weights from its transformers config (shrunk to two small layers) or its "
             "torchvision/timm constructor (in the vision environment, `.venv-vision`, see "
             "benchmarks/README.md), exported with dynamic axes (batch and sequence, or batch) "
             "in a fresh process, checked with `onnx.checker` and run in onnxruntime against "
             "eager PyTorch at the export shape and "
             f"at a second shape (rtol {RTOL}, atol {ATOL}). `dynamo` is "
             "`torch.onnx.export(dynamo=True)`, `torchscript` is `dynamo=False`. An empty cell "
             "was not run. Export times come from a machine shared with other work: compare "
             "them within a row, not across rows.", ""]
    lines += ["## Summary", "", "| exporter | opset | passed | of |", "|---|---|---|---|"]
    for e, o in columns:
        got = [by.get((m, e, o)) for m in models]
        ok = sum(1 for r in got if r and r["status"] == "ok")
        lines.append(f"| {e} | {o} | {ok} | {sum(1 for r in got if r)} |")
    lines += _bar(models, by)
    lines += ["", "## Per model", "", "| " + " | ".join(head) + " |",
              "|" + "---|" * len(head)]
    for m in models:
        cells = []
        for e, o in columns:
            r = by.get((m, e, o))
            if r is None:
                cells.append("")
            elif r["status"] == "ok":
                cells.append(f"ok {r.get('export_s', '')}s, {r.get('nodes', '')} nodes, "
                             f"{r.get('second-max_diff', r.get('max_diff', 0)):.1e}")
            else:
                cells.append(r["status"])
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "## Failure reasons", ""]
    for r in records:
        if r["status"] != "ok":
            reason = _ANSI.sub("", r.get("reason", "")).replace("|", "\\|")
            hint = _hint(r.get("reason", ""))
            lines.append(f"- `{r['model']}` {r['exporter']} {r['opset']}: {r['status']}: {reason}"
                         + (f" **What to do:** {hint}." if hint else ""))
    PAGE.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=3, metavar=("MODEL", "EXPORTER", "OPSET"))
    parser.add_argument("--models", default="*", help="glob over model names (comma-separated)")
    parser.add_argument("--exporters", default=",".join(EXPORTERS))
    parser.add_argument("--opsets", default="13,17,18")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--render", action="store_true", help="only render docs/zoo.md")
    parser.add_argument("--no-preload", action="store_true",
                        help="start each export's process from scratch instead of forking it "
                             "from a server that has imported torch, transformers and onnx")
    args = parser.parse_args()
    if args.worker:
        sys.path.insert(0, str(HERE))
        name, exporter, opset = args.worker
        print(json.dumps(worker(name, exporter, int(opset))))
        return
    if not args.render:
        sys.path.insert(0, str(HERE))
        import zoo_models

        names = [n for n in zoo_models.zoo()
                 if any(fnmatch.fnmatch(n, g) for g in args.models.split(","))]
        run(names, args.exporters.split(","), [int(o) for o in args.opsets.split(",")],
            args.timeout, preload=not args.no_preload)
    render()


if __name__ == "__main__":
    main()

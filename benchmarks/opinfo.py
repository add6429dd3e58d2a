"""OpInfo conformance sweep: onnxplug against both torch.onnx exporters on the same samples.

    python benchmarks/opinfo.py                                  # all exporters, opsets 9..28
    python benchmarks/opinfo.py --exporters onnxplug --reuse     # redo onnxplug, reuse the rest
    python benchmarks/opinfo.py --exporters torchscript,dynamo --opsets 17 --nice 19
    python benchmarks/opinfo.py --render                         # only rewrite docs/coverage.md

For each OpInfo op, its first ``--samples`` sample inputs (that eager PyTorch runs) are wrapped in
a module (benchmarks/opinfo_cases.py), exported, checked with ``onnx.checker`` (full check),
run in onnxruntime and compared with eager PyTorch (shape, dtype and values; rtol 1e-3, atol
1e-4). A model whose default-domain opset is not the one asked for fails too: a runtime limited to
that opset could not load it. An op passes when every tried sample passes.

Each (exporter, opset, dtype) runs in its own worker process, which appends one JSON line per
sample to ``benchmarks/results/.partial/``. A worker that crashes or hangs past the per-sample
timeout is killed and restarted; the sample it was on is recorded as a crash or timeout and the
run goes on from the next one. Finished runs are written to ``benchmarks/results/<exporter>_opset<N>
[_<dtype>].json`` and ``docs/coverage.md`` is rendered from every result file present.

torch.onnx is used here, and only here, as the competition being measured.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import io
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
PARTIAL = RESULTS / ".partial"
COVERAGE = ROOT / "docs" / "coverage.md"
EXPORTERS = ("onnxplug", "torchscript", "dynamo")
LABELS = {"onnxplug": "onnxplug", "torchscript": "torch.onnx (dynamo=False)",
          "dynamo": "torch.onnx (dynamo=True)"}
SHORT = {"onnxplug": "P", "torchscript": "T", "dynamo": "D"}
RTOL, ATOL = 1e-3, 1e-4

sys.path.insert(0, str(HERE))

from opinfo_cases import RANDOM_SKIPPED, UNDEFINED_VALUES  # noqa: E402


# --------------------------------------------------------------------------- exporting one case

def _export_onnxplug(module, inputs, opset):
    import onnxplug

    return onnxplug.export(module, inputs, None, opset_version=opset).model


def _export_torchscript(module, inputs, opset):
    import onnx
    import torch

    buf = io.BytesIO()
    torch.onnx.export(module, inputs, buf, opset_version=opset, dynamo=False)
    return onnx.load_from_string(buf.getvalue())


def _export_dynamo(module, inputs, opset):
    import torch

    return torch.onnx.export(module, inputs, opset_version=opset, dynamo=True,
                             verbose=False).model_proto


EXPORT = {"onnxplug": _export_onnxplug, "torchscript": _export_torchscript, "dynamo": _export_dynamo}


def _run_ort(model, inputs):
    import numpy as np
    import onnxruntime as ort
    from onnxplug.verify import to_numpy

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    arrays = [to_numpy(x) if hasattr(x, "numpy") else np.asarray(x) for x in inputs]
    graph_inputs = sess.get_inputs()
    if len(graph_inputs) < len(arrays):
        # An exporter may drop inputs the result does not depend on (zeros_like...): feed the
        # sample's tensors that match the remaining inputs' dtype and shape, in order.
        arrays = _match_inputs(graph_inputs, arrays)
    if len(graph_inputs) != len(arrays):
        raise RuntimeError(f"the model has {len(graph_inputs)} input(s), the sample {len(inputs)}")
    return sess.run(None, {i.name: a for i, a in zip(graph_inputs, arrays)})


_ORT_TYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64",
              "tensor(int32)": "int32", "tensor(bool)": "bool", "tensor(float16)": "float16",
              "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int16)": "int16"}


def _match_inputs(graph_inputs, arrays) -> list:
    out, k = [], 0
    for gi in graph_inputs:
        while k < len(arrays):
            a = arrays[k]
            k += 1
            same_rank = len(gi.shape) == a.ndim
            dims_ok = same_rank and all(not isinstance(d, int) or d == n for d, n in zip(gi.shape, a.shape))
            if _ORT_TYPES.get(gi.type) == str(a.dtype) and dims_ok:
                out.append(a)
                break
    return out


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _short(exc: BaseException, stage: str) -> str:
    text = _ANSI.sub("", str(exc)).strip()
    if "## Exception summary" in text:
        # torch.onnx (dynamo=True) puts the real reason under this heading, after its advice.
        text = text.split("## Exception summary", 1)[1]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    text = " | ".join(lines[:2]) if lines else ""
    return f"{stage}: {type(exc).__name__}: {text}"[:240]


def check_case(exporter: str, case, opset: int) -> str | None:
    """None when ``exporter``'s model for ``case`` matches eager PyTorch, else the short reason."""
    import onnx
    import torch
    from onnxplug.verify import compare, flat_tensors

    with torch.no_grad():
        expected = flat_tensors(case.module(*[t.clone() for t in case.inputs]))
    try:
        model = EXPORT[exporter](case.module, tuple(t.clone() for t in case.inputs), opset)
    except Exception as exc:  # noqa: BLE001
        return _short(exc, "export")
    got = {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")}
    if got != {opset}:
        return f"opset: the model imports opset {sorted(got)}, not {opset}"
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # noqa: BLE001
        return _short(exc, "checker")
    try:
        actual = _run_ort(model, list(case.inputs))
    except Exception as exc:  # noqa: BLE001
        return _short(exc, "onnxruntime")
    try:
        compare(expected, actual, rtol=RTOL, atol=ATOL, values=case.op not in UNDEFINED_VALUES)
    except Exception as exc:  # noqa: BLE001
        return _short(exc, "compare")
    return None


# --------------------------------------------------------------------------- the worker process

class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def _read_partial(path: Path) -> tuple[dict, set, tuple | None]:
    """Samples recorded so far, ops finished, and the sample a dead worker was on (if any)."""
    samples: dict = {}
    done: dict = {}  # op -> its "op" record
    started = None
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            key = (rec["op"], rec.get("index"))
            if rec["kind"] == "start":
                started = key
            elif rec["kind"] == "sample":
                samples[key] = rec
                started = None if started == key else started
            elif rec["kind"] == "op":
                done[rec["op"]] = rec
    return samples, done, started


def worker(exporter: str, opset: int, dtype_name: str, n_samples: int, timeout: float,
           ops: list[str] | None, partial: Path, all_samples: bool = False) -> None:
    """Sweep one (exporter, opset, dtype), appending JSON lines; resumes after a crash."""
    warnings.filterwarnings("ignore")
    import logging

    logging.disable(logging.WARNING)
    import torch

    torch.set_num_threads(1)
    from opinfo_cases import op_cases, op_db, op_name

    dtype = getattr(torch, dtype_name)
    samples, done, crashed = _read_partial(partial)
    out = partial.open("a")

    def emit(rec):
        out.write(json.dumps(rec) + "\n")
        out.flush()

    if crashed is not None:
        emit({"kind": "sample", "op": crashed[0], "index": crashed[1], "ok": False, "seconds": None,
              "reason": "crash: the worker died or hung on this sample (killed by the sweep)"})
        samples[crashed] = True
    signal.signal(signal.SIGPROF, _alarm)  # CPU time: fair on a busy machine
    wanted = set(ops) if ops else None
    for info in op_db():
        name = op_name(info)
        if name in done or (wanted is not None and name not in wanted):
            continue
        cases = op_cases(info, n_samples, dtype)
        for case in cases:
            if (name, case.index) in samples:
                if isinstance(samples[(name, case.index)], dict) and not samples[(name, case.index)]["ok"] \
                        and not all_samples:
                    break
                continue
            emit({"kind": "start", "op": name, "index": case.index})
            t0 = time.perf_counter()
            signal.setitimer(signal.ITIMER_PROF, timeout)
            try:
                reason = check_case(exporter, case, opset)
            except _Timeout:
                reason = f"timeout: over {timeout:g}s of CPU time"
            except BaseException as exc:  # noqa: BLE001 - the sweep records everything
                reason = _short(exc, "harness")
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
            emit({"kind": "sample", "op": name, "index": case.index, "ok": reason is None,
                  "reason": reason, "seconds": round(time.perf_counter() - t0, 3)})
            if reason is not None and not all_samples:
                break  # the op has failed; its other samples cannot change that
        emit({"kind": "op", "op": name, "n": len(cases), "random": RANDOM_SKIPPED.get(name, 0)})
    out.close()


# --------------------------------------------------------------------------- the driver

def result_path(exporter: str, opset: int, dtype: str) -> Path:
    suffix = "" if dtype == "float32" else f"_{dtype}"
    return RESULTS / f"{exporter}_opset{opset}{suffix}.json"


def _versions() -> dict:
    import importlib.metadata as md

    out = {}
    for pkg in ("torch", "onnx", "onnxruntime", "onnxscript", "onnx-ir"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def finish(exporter: str, opset: int, dtype: str, n_samples: int, partial: Path,
           wall: float, ops_filter: list[str] | None) -> dict:
    """Fold a worker's JSON lines into the result file."""
    samples, done, _ = _read_partial(partial)
    ops: dict = {}
    for (op, _idx), rec in sorted(samples.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if rec is True:
            continue
        ops.setdefault(op, []).append({k: rec[k] for k in ("index", "ok", "reason", "seconds")})
    table = {op: {"pass": all(s["ok"] for s in ss), "samples": ss} for op, ss in sorted(ops.items())}
    n_pass = sum(1 for v in table.values() if v["pass"])
    result = {
        "exporter": exporter, "opset": opset, "dtype": dtype, "samples_per_op": n_samples,
        "rtol": RTOL, "atol": ATOL, "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpu".strip(),
        "versions": _versions(), "wall_seconds": round(wall, 1),
        "ops_filter": ops_filter, "ops_tried": len(table), "ops_passed": n_pass,
        "ops_without_samples": sorted(op for op in done if op not in table),
        # ops left untried because every sample they offered depends on the random generator
        "ops_random_only": sorted(op for op, rec in done.items() if op not in table and rec.get("random")),
        "ops": table,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    if ops_filter:
        # A partial sweep updates the ops it ran in the existing file rather than replacing it.
        path = result_path(exporter, opset, dtype)
        if path.exists():
            old = json.loads(path.read_text())
            for op in ops_filter:  # an op that now has no comparable sample leaves the table
                old["ops"].pop(op, None)
            old["ops"].update(table)
            for key in ("ops_without_samples", "ops_random_only"):
                old[key] = sorted((set(old.get(key, [])) - set(ops_filter)) | set(result[key]))
            old["ops_passed"] = sum(1 for v in old["ops"].values() if v["pass"])
            old["ops_tried"] = len(old["ops"])
            old["date"] = result["date"]
            result = old
    result_path(exporter, opset, dtype).write_text(json.dumps(result, indent=1, sort_keys=False) + "\n")
    return result


def _line_count(partial: Path) -> int:
    return len(partial.read_text().splitlines()) if partial.exists() else 0


def _last_progress(partial: Path) -> float:
    return partial.stat().st_mtime if partial.exists() else time.time()


def run_job(exporter: str, opset: int, dtype: str, args) -> subprocess.Popen:
    PARTIAL.mkdir(parents=True, exist_ok=True)
    partial = PARTIAL / result_path(exporter, opset, dtype).with_suffix(".jsonl").name
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", exporter, str(opset), dtype,
           "--samples", str(args.samples), "--timeout", str(args.timeout)]
    if args.ops:
        cmd += ["--ops", args.ops]
    if args.all_samples:
        cmd.append("--all-samples")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    if args.nice:
        cmd = ["nice", "-n", str(args.nice), *cmd]
    log = open(PARTIAL / (partial.stem + ".log"), "a")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    proc.partial, proc.job, proc.log, proc.started = partial, (exporter, opset, dtype), log, time.time()
    proc.lines = _line_count(partial)
    return proc


def drive(jobs: list[tuple[str, int, str]], args) -> None:
    """Run the workers, ``--jobs`` at a time, restarting any that crash or hang."""
    pending = list(jobs)
    running: list = []
    restarts: dict = {}
    t_start: dict = {}
    fresh = not args.resume
    if fresh:
        for job in jobs:
            p = PARTIAL / result_path(*job).with_suffix(".jsonl").name
            if p.exists():
                p.unlink()
    while pending or running:
        while pending and len(running) < args.jobs:
            job = pending.pop(0)
            t_start.setdefault(job, time.time())
            running.append(run_job(*job, args))
            print(f"[{_now()}] started {job}", flush=True)
        time.sleep(2)
        for proc in list(running):
            rc = proc.poll()
            hung = rc is None and time.time() - _last_progress(proc.partial) > args.timeout * 4 + 300
            if rc is None and not hung:
                continue
            if hung:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            proc.log.close()
            running.remove(proc)
            job = proc.job
            if rc == 0:
                res = finish(*job, args.samples, proc.partial, time.time() - t_start[job],
                             args.ops.split(",") if args.ops else None)
                print(f"[{_now()}] done {job}: {res['ops_passed']}/{res['ops_tried']} ops pass", flush=True)
                continue
            restarts[job] = restarts.get(job, 0) + 1
            if _line_count(proc.partial) <= proc.lines + 1:
                restarts[job] = max(restarts[job], args.max_restarts - 2)  # no progress: stop soon
            why = "hung" if hung else f"exit code {rc}"
            print(f"[{_now()}] worker {job} {why}; restart {restarts[job]}", flush=True)
            if restarts[job] > args.max_restarts:
                print(f"[{_now()}] giving up on {job}", flush=True)
                continue
            pending.insert(0, job)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%H:%M:%S")


# --------------------------------------------------------------------------- docs/coverage.md

_COMPACT = [
    # onnxplug: "N operator(s) cannot be converted ... | - aten::foo.default at ...: why"
    (re.compile(r"UnsupportedOperatorError: \d+ operator\(s\) cannot be converted[^|]*\| - (\S+)"),
     r"unsupported: \1"),
    # torch.onnx (TorchScript): "Exporting the operator 'aten::foo' to ONNX opset version N ..."
    (re.compile(r"UnsupportedOperatorError: Exporting the operator '([^']+)'.*"), r"unsupported: \1"),
    (re.compile(r"(unsupported: \S+) at \S+"), r"\1"),
    # torch.onnx (dynamo=True)
    (re.compile(r"<class '[\w.]*DispatchError'>: No ONNX function found for <OpOverload\(op='([^']+)'.*"),
     r"unsupported: \1"),
    (re.compile(r"<class '[\w.]*\.(\w+)'>: "), r"\1: "),
    (re.compile(r"ConversionError: Failed to convert the exported program to an ONNX model\..*"),
     "ConversionError (translating the program to ONNX; details not recorded)"),
    (re.compile(r"TorchExportError: Failed to export the model with torch.export\..*"),
     "TorchExportError (torch.export failed)"),
    (re.compile(r"VerificationError: "), ""),
    (re.compile(r"\[ONNXRuntimeError\] : \d+ : \w+ : "), ""),
    (re.compile(r"Non-zero status code returned while running "), ""),
]


def compact(reason: str) -> str:
    """The part of a failure reason that tells the failures apart, for the tables."""
    for pattern, repl in _COMPACT:
        reason = pattern.sub(repl, reason)
    return reason


def _cell_reason(reason: str | None, width: int = 70) -> str:
    if not reason:
        return ""
    r = compact(reason).replace("|", "/").replace("\n", " ").replace("`", "'")
    return r if len(r) <= width else r[: width - 1] + "…"


def load_results(dtype: str = "float32") -> dict:
    out: dict = {}
    for path in sorted(RESULTS.glob("*.json")):
        try:
            res = json.loads(path.read_text())
        except (json.JSONDecodeError, OSError):
            continue
        if not isinstance(res, dict):  # other benchmarks' results share the folder
            continue
        if res.get("dtype") != dtype or res.get("exporter") not in EXPORTERS:
            continue
        out[(res["exporter"], res["opset"])] = res
    return out


def _first_reason(entry: dict) -> str | None:
    for s in entry["samples"]:
        if not s["ok"]:
            return s["reason"]
    return None


def render(path: Path = COVERAGE, dtype: str = "float32") -> str:
    """Write the coverage page from every result file present."""
    results = load_results(dtype)
    opsets = sorted({o for _, o in results})
    title = "# OpInfo coverage" + ("" if dtype == "float32" else f": {dtype}")
    lines = [title, "",
             "Generated by `python benchmarks/opinfo.py` (see benchmarks/README.md); do not edit by hand.", "",
             f"Each OpInfo op's first sample inputs ({dtype}, the ones eager PyTorch runs; ops that do not "
             f"support {dtype} are not tried) are wrapped in a "
             "module, exported, checked with `onnx.checker` (full check), run in onnxruntime and compared "
             f"with eager PyTorch (shape, dtype and values; rtol {RTOL:g}, atol {ATOL:g}; for "
             f"{', '.join(f'`{o}`' for o in sorted(UNDEFINED_VALUES))}, whose values are uninitialised "
             "memory, shape and dtype only). An op passes when "
             "every tried sample passes. A model whose default-domain opset is not the one asked for "
             "fails (the dynamo exporter returns an opset-18 model when it cannot convert down).", "",
             "The TorchScript exporter (dynamo=False) supports opsets up to 20, so it fails every op at "
             "the newest opset; that is recorded, not skipped. The dynamo exporter exports at opset 18 and "
             "converts the model to the asked opset with the ONNX version converter.", ""]
    if not results:
        lines.append("No results yet.")
        text = "\n".join(lines) + "\n"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return text
    any_res = next(iter(results.values()))
    lines += [f"Versions: " + ", ".join(f"{k} {v}" for k, v in any_res["versions"].items() if v) + ".", ""]
    lines += ["## Pass rate", "", "| exporter | " + " | ".join(f"opset {o}" for o in opsets) + " |",
              "|---|" + "---|" * len(opsets)]
    for exp in EXPORTERS:
        cells = []
        for o in opsets:
            r = results.get((exp, o))
            cells.append("—" if r is None else
                         f"**{100 * r['ops_passed'] / max(r['ops_tried'], 1):.1f}%** ({r['ops_passed']}/{r['ops_tried']})"
                         + (" partial†" if r.get("partial") else ""))
        lines.append(f"| {LABELS[exp]} | " + " | ".join(cells) + " |")
    fewer = sorted({r["samples_per_op"] for r in results.values()} - {max(r["samples_per_op"] for r in results.values())})
    for k in fewer:
        # A competitor run with fewer samples per op is an easier test: show onnxplug on the same samples.
        cells = []
        for o in opsets:
            r = results.get(("onnxplug", o))
            if r is None:
                cells.append("—")
                continue
            n = sum(1 for e in r["ops"].values() if all(s["ok"] for s in e["samples"][:k]))
            cells.append(f"{100 * n / max(r['ops_tried'], 1):.1f}% ({n}/{r['ops_tried']})")
        who = ", ".join(sorted({LABELS[e] for (e, _), r in results.items() if r["samples_per_op"] == k}))
        lines.append(f"| onnxplug on the first {k} sample(s) only, as {who} | " + " | ".join(cells) + " |")
    lines.append("")
    if dtype == "float32":  # the bar of issue 3 is set on the float32 sweep
        lines += _other_dtypes()
        lines += _bar(results, opsets)
    lines += _kinds(results, opsets)
    lines += ["An op's samples stop at its first failure (the op has failed; later samples cannot change "
              "that), so a failing op lists one reason. `samples/op` below is the most tried per op.", ""]
    run_info = []
    for (exp, o), r in sorted(results.items()):
        wall = r["wall_seconds"]
        run_info.append(f"{exp}@{o}: {r['samples_per_op']} samples/op, {r['date'][:16]}Z"
                        + (f", {wall / 60:.0f} min" if wall == wall else "")
                        + (", partial†" if r.get("partial") else ""))
    lines += ["Runs: " + "; ".join(run_info) + ".", ""]
    random_only = sorted({op for r in results.values() for op in r.get("ops_random_only", [])})
    if random_only:
        lines += ["Samples whose eager output depends on the random generator (eager runs under four seeds "
                  "disagree: dropout in training mode, bernoulli, ...) cannot be compared by any exporter "
                  "and are skipped, as samples eager PyTorch rejects are; the next sample is taken. These "
                  "ops offered no other sample and are not counted: "
                  + ", ".join(f"`{op}`" for op in random_only) + ".", ""]
    if any(r.get("partial") for r in results.values()):
        lines += ["† partial: the run did not finish in the time given; the rate is over the ops it "
                  "reached (OpInfo order), not over all ops.", ""]
    all_ops = sorted({op for r in results.values() for op in r["ops"]})
    lines += ["## Op by opset", "",
              "Each cell: ✓/✗ for onnxplug, torch.onnx dynamo=False, dynamo=True, in that order (`·`: not "
              "run). The last column gives onnxplug's first failure reason, with the opsets it applies to.", "",
              "| op | " + " | ".join(str(o) for o in opsets) + " | onnxplug's failure |",
              "|---|" + "---|" * (len(opsets) + 1)]
    for op in all_ops:
        cells, reasons = [], {}
        for o in opsets:
            marks = []
            for exp in EXPORTERS:
                r = results.get((exp, o))
                e = r["ops"].get(op) if r else None
                marks.append("·" if e is None else ("✓" if e["pass"] else "✗"))
                if exp == "onnxplug" and e is not None and not e["pass"]:
                    reasons.setdefault(_cell_reason(_first_reason(e), 90), []).append(str(o))
            cells.append("".join(marks))
        why = "; ".join(f"{', '.join(os_)}: {r}" for r, os_ in list(reasons.items())[:2])
        if len(reasons) > 2:
            why += f"; and {len(reasons) - 2} other reason(s)"
        lines.append(f"| `{op}` | " + " | ".join(cells) + f" | {why} |")
    lines.append("")
    for exp in EXPORTERS[1:]:
        have = [o for o in opsets if (exp, o) in results]
        if not have:
            continue
        prefer = [o for o in (18, 17) if o in have] + sorted(have, reverse=True)
        lines += [f"## {LABELS[exp]}: failures", "", "<details><summary>per op: ✓/✗ per opset, and the reason at "
                  "opset 18 (else 17, else the newest it failed at)</summary>", "",
                  "| op | " + " | ".join(str(o) for o in have) + " | reason |", "|---|" + "---|" * (len(have) + 1)]
        for op in all_ops:
            entries = {o: results[(exp, o)]["ops"].get(op) for o in have}
            if all(e is None or e["pass"] for e in entries.values()):
                continue
            cells = ["·" if e is None else ("✓" if e["pass"] else "✗") for e in entries.values()]
            at = next(o for o in prefer if entries[o] is not None and not entries[o]["pass"])
            lines.append(f"| `{op}` | " + " | ".join(cells)
                         + f" | {_cell_reason(_first_reason(entries[at]), 80)} |")
        lines += ["", "</details>", ""]
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def coverage_page(dtype: str) -> Path:
    return COVERAGE if dtype == "float32" else COVERAGE.with_name(f"coverage-{dtype}.md")


def result_dtypes() -> list[str]:
    """Every dtype with a result file, float32 first."""
    found = {m.group(1) for p in RESULTS.glob("*_opset*_*.json")
             if (m := re.match(r"^[a-z]+_opset\d+_([a-z0-9]+)$", p.stem)) and m.group(1) != "failures"}
    return ["float32", *sorted(found - {"float32"})]


def _other_dtypes() -> list[str]:
    """A pass-rate summary of the integer/bool sweeps, linking to their pages."""
    lines = []
    for dtype in result_dtypes()[1:]:
        results = load_results(dtype)
        if not results:
            continue
        opsets = sorted({o for _, o in results})
        if not lines:
            lines += ["### Integer and bool dtypes", "",
                      "The same sweep with integer or bool sample inputs, over the ops that support the "
                      "dtype; each has its own page with the op-by-opset table.", ""]
        lines += [f"[{dtype}](coverage-{dtype}.md):", "",
                  "| exporter | " + " | ".join(f"opset {o}" for o in opsets) + " |", "|---|" + "---|" * len(opsets)]
        for exp in EXPORTERS:
            cells = [("—" if (r := results.get((exp, o))) is None else
                      f"{100 * r['ops_passed'] / max(r['ops_tried'], 1):.1f}% ({r['ops_passed']}/{r['ops_tried']})")
                     for o in opsets]
            if any(c != "—" for c in cells):
                lines.append(f"| {LABELS[exp]} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


# The bar of issue 3: minimum pass rate by opset, and more ops passed than either torch.onnx exporter.
BAR = {9: 60, 11: 75, 13: 75}
BAR_NEWER = 85  # opset 17 and newer


def _bar(results: dict, opsets: list[int]) -> list[str]:
    lines = ["### Against the bar", "",
             f"onnxplug must pass at least {BAR_NEWER}% of the tried ops at opset 17 and newer, 75% at 11 "
             "and 13, 60% at 9, and more ops than either torch.onnx exporter at every opset.", "",
             "| opset | onnxplug | needed | more than both torch.onnx exporters |", "|---|---|---|---|"]
    for o in opsets:
        r = results.get(("onnxplug", o))
        if r is None:
            continue
        rate = 100 * r["ops_passed"] / max(r["ops_tried"], 1)
        need = BAR.get(o, BAR_NEWER if o >= 17 else 60)
        others = [results[(e, o)]["ops_passed"] for e in EXPORTERS[1:] if (e, o) in results]
        beats = ("—" if not others else
                 ("yes" if r["ops_passed"] > max(others) else "no") + f" ({r['ops_passed']} vs {max(others)})")
        lines.append(f"| {o} | {rate:.1f}% | {need}% {'met' if rate >= need else 'not met'} | {beats} |")
    return lines + [""]


def _kind(reason: str) -> str:
    r = compact(reason)
    if r.startswith("export:") and "unsupported: " in r:
        return "no conversion"
    if r.startswith("export:"):
        return "export error"
    return r.split(":", 1)[0]


def _kinds(results: dict, opsets: list[int]) -> list[str]:
    """How each exporter's failures split: no conversion, export error, checker, runtime, values..."""
    rows: dict = {}
    for (exp, o), r in results.items():
        for e in r["ops"].values():
            if not e["pass"]:
                k = _kind(_first_reason(e) or "")
                rows.setdefault((exp, k), {})[o] = rows.get((exp, k), {}).get(o, 0) + 1
    if not rows:
        return []
    lines = ["### Failures by kind (ops)", "",
             "'no conversion': the exporter has no conversion (onnxplug: nor a PyTorch decomposition "
             "that converts); 'export error': it raised otherwise; 'checker' / 'onnxruntime': the model "
             "is invalid or does not run; 'compare': it runs but gives other values, shapes or dtypes; "
             "'opset': it is not at the asked opset; 'crash' / 'timeout': the worker died or hung.", "",
             "| exporter | kind | " + " | ".join(str(o) for o in opsets) + " |", "|---|---|" + "---|" * len(opsets)]
    for (exp, k) in sorted(rows, key=lambda ek: (EXPORTERS.index(ek[0]), ek[1])):
        lines.append(f"| {LABELS[exp]} | {k} | " + " | ".join(str(rows[(exp, k)].get(o, "")) for o in opsets) + " |")
    return lines + [""]


def failures_file(exporter: str, opset: int, dtype: str = "float32") -> Path | None:
    """A plain list of one run's failing ops and reasons, easy to grep while converting ops."""
    path = result_path(exporter, opset, dtype)
    if not path.exists():
        return None
    res = json.loads(path.read_text())
    out = RESULTS / f"{exporter}_opset{opset}{'' if dtype == 'float32' else '_' + dtype}_failures.txt"
    rows = [f"{op}\t{_first_reason(e)}" for op, e in sorted(res["ops"].items()) if not e["pass"]]
    out.write_text(f"# {exporter} opset {opset} {dtype}: {res['ops_passed']}/{res['ops_tried']} ops pass "
                   f"({res['date']})\n" + "\n".join(rows) + "\n")
    return out


# --------------------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exporters", default=",".join(EXPORTERS))
    ap.add_argument("--opsets", default="9,11,13,17,18,28")
    ap.add_argument("--dtypes", default="float32", help="e.g. float32,int64,bool")
    ap.add_argument("--samples", type=int, default=3, help="samples per op (default 3)")
    ap.add_argument("--timeout", type=float, default=60.0, help="CPU seconds per sample (default 60)")
    ap.add_argument("--all-samples", action="store_true",
                    help="try every sample of a failing op (default: stop at its first failure)")
    ap.add_argument("--ops", default="", help="only these OpInfo names (comma separated, exact)")
    ap.add_argument("--jobs", type=int, default=1, help="workers at a time (default 1)")
    ap.add_argument("--nice", type=int, default=0, help="run the workers under nice -n N")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse existing torch.onnx result files instead of running those exporters")
    ap.add_argument("--resume", action="store_true", help="continue interrupted runs from .partial/")
    ap.add_argument("--max-restarts", type=int, default=200)
    ap.add_argument("--fold-partial", action="store_true",
                    help="write result files (marked partial) for unfinished runs in .partial/, then render")
    ap.add_argument("--render", action="store_true", help="only render docs/coverage.md")
    ap.add_argument("--no-render", action="store_true")
    ap.add_argument("--worker", nargs=3, metavar=("EXPORTER", "OPSET", "DTYPE"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    ops = [o for o in a.ops.split(",") if o] or None
    if a.worker:
        exp, opset, dtype = a.worker
        partial = PARTIAL / result_path(exp, int(opset), dtype).with_suffix(".jsonl").name
        worker(exp, int(opset), dtype, a.samples, a.timeout, ops, partial, a.all_samples)
        return
    if a.fold_partial:
        # Fold unfinished runs (e.g. a competitor sweep that did not finish in time) into result
        # files marked partial, so the page can show what was measured.
        for path in sorted(PARTIAL.glob("*.jsonl")):
            stem = path.stem.split("_")
            exp, opset = stem[0], int(stem[1].removeprefix("opset"))
            dtype = stem[2] if len(stem) > 2 else "float32"
            if result_path(exp, opset, dtype).exists():
                continue
            res = finish(exp, opset, dtype, a.samples, path, float("nan"), None)
            res["partial"] = True
            result_path(exp, opset, dtype).write_text(json.dumps(res, indent=1) + "\n")
            print(f"folded partial {path.name}: {res['ops_passed']}/{res['ops_tried']}")
    elif not a.render:
        opsets = [int(o) for o in a.opsets.split(",") if o]
        exporters = [e for e in a.exporters.split(",") if e]
        for e in exporters:
            if e not in EXPORTERS:
                ap.error(f"unknown exporter {e!r}; choose from {', '.join(EXPORTERS)}")
        jobs = []
        for dtype in a.dtypes.split(","):
            for opset in opsets:
                for exp in exporters:
                    if a.reuse and exp != "onnxplug" and result_path(exp, opset, dtype).exists():
                        continue
                    jobs.append((exp, opset, dtype))
        drive(jobs, a)
        for exp, opset, dtype in jobs:
            failures_file(exp, opset, dtype)
    if not a.no_render:
        for dtype in result_dtypes():
            render(coverage_page(dtype), dtype)
            print(f"wrote {coverage_page(dtype).relative_to(ROOT)}")


if __name__ == "__main__":
    main()

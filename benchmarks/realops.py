"""What real models need beyond the OpInfo ops, family by family: onnxplug against both
torch.onnx exporters on the same cases.

    python benchmarks/realops.py                                  # every family, every exporter
    python benchmarks/realops.py --families control_flow --exporters onnxplug
    python benchmarks/realops.py --no-write                      # print the table only

A family is a list of :class:`Case`\\ s (``FAMILIES``); a case builds a small model and a list of
input tuples: the first is the export example, and every one of them is run in onnxruntime and
compared with eager PyTorch (for control flow they take different paths: both branches of a
cond, several trip counts, several lengths of a dynamic axis). A case passes for an exporter
when the export succeeds, the model loads and every input matches eager within the case's
tolerance. Exporters, at these opsets:

* ``onnxplug``: ``onnxplug.export`` at the case's opset (17 unless it says otherwise);
* ``torchscript``: ``torch.onnx.export(dynamo=False)``, the same opset;
* ``dynamo``: ``torch.onnx.export(dynamo=True)``, opset 18 (its lowest with every case's ops).

Each (family, exporter) runs in a worker process, each case under a time limit; a worker that
dies is restarted after the case it died on. Results go to ``benchmarks/results/realops.json``;
``docs/control-flow.md`` shows the control-flow table (``--markdown`` prints every family's).
torch.onnx is used here, and only here, as the competition being measured.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "realops.json"
EXPORTERS = ("onnxplug", "torchscript", "dynamo")
LABELS = {"onnxplug": "onnxplug", "torchscript": "dynamo=False", "dynamo": "dynamo=True"}
CASE_TIMEOUT = 180  # seconds per case and exporter


@dataclass(frozen=True)
class Case:
    """One model of a family. ``build()`` returns ``(model, [inputs, ...])``."""

    name: str
    build: Callable[[], tuple[Any, list[tuple]]]
    what: str = ""
    opset: int = 17
    rtol: float = 1e-4
    atol: float = 1e-5
    input_names: tuple[str, ...] = ()
    dynamic_axes: dict = field(default_factory=dict)


def _tests(name: str):
    """A model module of the opset plugin's tests (the cases are the tested models)."""
    folder = str(ROOT / "plugins" / "opset" / "tests")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import importlib

    return importlib.import_module(name)


# -- control flow ------------------------------------------------------------------------------
def _cf(cls_name: str, inputs: Callable[[], list[tuple]]):
    def build():
        import torch

        torch.manual_seed(0)
        return getattr(_tests("test_control_flow"), cls_name)(), inputs()
    return build


def _signs(*shape):
    import torch

    torch.manual_seed(1)
    x = torch.randn(*shape).abs() + 0.1
    return [(x,), (-x,)]


def _counts(*counts):
    import torch

    torch.manual_seed(1)
    x = torch.randn(2, 3)
    return [(x, torch.tensor(n)) for n in counts]


def _t(*shape, scale=1.0, seed=1):
    import torch

    torch.manual_seed(seed)
    return torch.randn(*shape) * scale


CONTROL_FLOW = [
    Case("cond", _cf("CondBasic", lambda: _signs(3, 4)), "torch.cond, both branches"),
    Case("cond_params", _cf("CondParams", lambda: _signs(2, 4)),
         "branches use a Linear, a parameter and a buffer"),
    Case("cond_two_outputs", _cf("CondMultiOut", lambda: [(_t(3, 4) + 5, _t(3, 4, seed=2)),
                                                          (_t(3, 4), _t(3, 4, seed=2) + 5)]),
         "two operands, outputs of two dtypes"),
    Case("cond_closure", _cf("CondClosure", lambda: [(_t(2, 3).abs() + 0.1,),
                                                     (-_t(2, 3).abs() - 0.1,)]),
         "branches close over an intermediate tensor"),
    Case("cond_nested", _cf("CondNested", lambda: [(_t(2, 2).abs() * 4 + 0.5,), (_t(2, 2).abs() * 0.1,),
                                                   (-_t(2, 2).abs() * 4 - 0.5,), (-_t(2, 2).abs() * 0.1,)]),
         "a cond in each branch of a cond, four paths"),
    Case("cond_on_dynamic_size", _cf("CondOnShape", lambda: [(_t(3, 2),), (_t(6, 2),), (_t(2, 2),)]),
         "the predicate is a dynamic batch size", input_names=("x",), dynamic_axes={"x": {0: "batch"}}),
    Case("cond_dynamic_batch", _cf("CondDynamicData", lambda: [(_t(4, 3).abs(),), (-_t(4, 3).abs(),),
                                                               (_t(7, 3).abs(),), (-_t(2, 3).abs(),)]),
         "data predicate, dynamic batch, a weight", input_names=("x",), dynamic_axes={"x": {0: "batch"}}),
    Case("while_trip_count", _cf("WhileCount", lambda: _counts(3, 0, 7)), "while_loop, count as input"),
    Case("while_data", _cf("WhileData", lambda: [(_t(2, 2).abs() * 0 + 0.5,), (_t(2, 2).abs() * 0 + 30,)]),
         "while_loop until the values cross a bound"),
    Case("while_int_counter", _cf("WhileIntCounter", lambda: [(_t(2, 2) * 0 + 0.1,), (_t(2, 2) * 0 + 20,)]),
         "a Python int carried and returned (iterations taken)"),
    Case("while_with_cond", _cf("WhileWithCond", lambda: _counts(1, 4, 5)),
         "a cond and a Linear inside the loop body"),
    Case("while_dynamic", _cf("WhileCount", lambda: [(_t(3, 4), _counts(2)[0][1]), (_t(5, 4), _counts(4)[0][1])]),
         "while_loop, dynamic rows", input_names=("x", "n"), dynamic_axes={"x": {0: "rows"}}),
    Case("scan", _cf("ScanCumulative", lambda: [(_t(4), _t(5, 4, seed=2)), (_t(4) * 3, -_t(5, 4, seed=2))]),
         "scan: a carry and stacked outputs"),
    Case("scan_dynamic_length", _cf("ScanCumulative", lambda: [(_t(4), _t(5, 4)), (_t(4), _t(9, 4)), (_t(4), _t(2, 4))]),
         "scan over a dynamic length", input_names=("init", "xs"), dynamic_axes={"xs": {0: "steps"}}),
    Case("scan_reverse_dim", _cf("ScanReverseDim", lambda: [(_t(2, 3), _t(2, 6, 3, seed=2)),
                                                            (-_t(2, 3), _t(2, 6, 3, seed=2) * 2)]),
         "scan along dim 1, reverse, two carries, a weight"),
    Case("map", _cf("MapModel", lambda: [(_t(5, 4), _t(4, seed=2)), (_t(5, 4) * 2, -_t(4, seed=2))]),
         "torch._higher_order_ops.map with an extra argument"),
    Case("associative_scan", _cf("AssociativeScanOp", lambda: [(_t(6, 3).abs() + 0.5,), (-_t(6, 3).abs() - 0.5,)]),
         "the associative_scan op (a running product)"),
    Case("invoke_subgraph", _cf("InvokeSubgraph", lambda: [(_t(3, 4),), (-_t(3, 4),)]),
         "one subgraph called twice with a parameter"),
]


# -- fft and stft ---------------------------------------------------------------------------------
def _fn(fn: Callable, *inputs: tuple):
    def build():
        from onnxplug.capture import FunctionModule

        return FunctionModule(fn), [tuple(i() for i in inp) for inp in inputs]
    return build


def _pairs(z):
    import torch

    return torch.view_as_real(z.resolve_conj())


def _fft_cases():
    import torch

    F = torch.fft
    w = lambda *s: (lambda: _t(*s, seed=3))  # noqa: E731
    w2 = lambda *s: (lambda: _t(*s, seed=4))  # noqa: E731

    def mel():
        torch.manual_seed(0)
        return _tests("test_stft").MelSpectrogram().eval(), [(_t(2, 4000, seed=3),), (_t(2, 4000, seed=4),)]

    return [
        Case("rfft_abs", _fn(lambda x: F.rfft(x).abs(), (w(4, 32),), (w2(4, 32),)), "rfft, magnitude"),
        Case("rfft_irfft", _fn(lambda x: F.irfft(F.rfft(x) * 0.5, n=x.shape[-1]), (w(3, 20),), (w2(3, 20),)),
             "irfft(rfft(x)), even length"),
        Case("fft_complex", _fn(lambda x: _pairs(F.fft(x, norm="ortho")), (w(3, 16),), (w2(3, 16),)),
             "fft of a real input, ortho, as pairs"),
        Case("ifft_of_fft", _fn(lambda x: _pairs(F.ifft(F.fft(x) * 2, n=8)), (w(2, 12),), (w2(2, 12),)),
             "ifft with trimming, complex intermediate"),
        Case("fft2", _fn(lambda x: _pairs(F.fft2(x)), (w(2, 6, 8),), (w2(2, 6, 8),)), "2-D fft"),
        Case("rfftn_dims", _fn(lambda x: F.rfftn(x, dim=(0, 2)).abs(), (w(3, 4, 10),), (w2(3, 4, 10),)),
             "rfftn over chosen dims"),
        Case("hfft", _fn(lambda x: F.hfft(F.rfft(x), n=9), (w(2, 16),), (w2(2, 16),)), "hfft"),
        Case("stft_magnitude", _fn(lambda x: torch.stft(x, 64, 16, window=torch.hann_window(64),
                                                        return_complex=True).abs(), (w(2, 512),), (w2(2, 512),)),
             "stft, Hann window, centred"),
        Case("stft_hamming_uncentred", _fn(lambda x: _pairs(torch.stft(
            x, 32, 8, window=torch.hamming_window(32), center=False, return_complex=True)),
            (w(1, 256),), (w2(1, 256),)), "stft, Hamming, center=False", rtol=1e-3, atol=1e-4),
        Case("stft_power_log", _fn(lambda x: torch.log1p(torch.stft(
            x, 48, 12, window=torch.blackman_window(48), return_complex=True).abs() ** 2),
            (w(2, 300),), (w2(2, 300),)), "log power spectrum, Blackman", rtol=1e-3, atol=1e-4),
        Case("mel_spectrogram", mel, "torchaudio-style MelSpectrogram (stft, power, mel matmul, log)",
             rtol=1e-3, atol=1e-3),
    ]


# -- quantized ----------------------------------------------------------------------------------
def _quantized_cases():
    def pt2e(per_channel):
        def build():
            import torch

            model = _tests("test_quantized").pt2e_model(per_channel=per_channel)
            shape = (2, 3, 6, 6) if per_channel else (4, 16)
            return model, [(_t(*shape, seed=5),), (_t(*shape, seed=6, scale=2.0),)]
        return build

    def fake_quant():
        import torch
        from torch import nn

        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(3, 4, 3), torch.ao.quantization.FakeQuantize(), nn.ReLU()).eval()
        model[1].disable_observer()
        model[1].scale.fill_(0.05)
        model[1].zero_point.fill_(10)
        return model, [(_t(1, 3, 8, 8, seed=5),), (_t(1, 3, 8, 8, seed=6),)]

    step = 0.011  # a quantization step of the last layer (0.01): ONNX and PyTorch may round a tie apart
    return [
        Case("pt2e_per_channel_convnet", pt2e(True), "PT2E XNNPACK-style Q/DQ: conv + linears, "
             "per-channel weights", rtol=0, atol=step),
        Case("pt2e_per_tensor_mlp", pt2e(False), "PT2E per-tensor Q/DQ MLP", rtol=0, atol=step),
        Case("fake_quantize_module", fake_quant, "a FakeQuantize module after a conv", rtol=0, atol=0.051),
    ]


FAMILIES: dict[str, Callable[[], list[Case]]] = {
    "control_flow": lambda: CONTROL_FLOW,
    "fft_stft": _fft_cases,
    "quantized": _quantized_cases,
}


# -- one case, one exporter (in the worker) ----------------------------------------------------
class _Timeout(Exception):
    pass


def _flat(out):
    import torch

    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (bool, int, float)):  # a Python number returned (a loop's counter)
        return [torch.tensor(out)]
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _flat(o)]
    return []


def _export(exporter: str, case: Case, model, args, path: str) -> None:
    import torch

    if exporter == "onnxplug":
        import onnxplug

        onnxplug.export(model, args, path, opset_version=case.opset,
                        input_names=list(case.input_names) or None,
                        dynamic_axes=case.dynamic_axes or None)
        return
    kw: dict[str, Any] = {"input_names": list(case.input_names) or None}
    if case.dynamic_axes:
        kw["dynamic_axes"] = case.dynamic_axes
    if exporter == "dynamo":
        torch.onnx.export(model, args, path, dynamo=True, opset_version=max(18, case.opset), **kw)
    else:
        torch.onnx.export(model, args, path, dynamo=False, opset_version=case.opset, **kw)


def run_case(exporter: str, case: Case) -> dict:
    """Export ``case`` with ``exporter`` and compare every input with eager: a result row."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch

    row: dict[str, Any] = {"exporter": exporter, "case": case.name}
    model, inputs = case.build()
    if isinstance(model, torch.nn.Module):
        model.eval()
    with torch.no_grad():
        expected = [[t.detach().numpy() for t in _flat(model(*args))] for args in inputs]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        start = time.perf_counter()
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                _export(exporter, case, model, inputs[0], path)
        except _Timeout:
            raise
        except Exception as exc:  # noqa: BLE001 - the result says why
            row.update(status="export fails", error=_short(exc))
            return row
        row["export_s"] = round(time.perf_counter() - start, 3)
        try:
            proto = onnx.load(path)
            onnx.checker.check_model(proto, full_check=True)
            row["ops"] = sorted({n.op_type for n in proto.graph.node})
            sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001
            row.update(status="invalid model", error=_short(exc))
            return row
        names = [i.name for i in sess.get_inputs()]
        worst = 0.0
        for k, (args, want) in enumerate(zip(inputs, expected)):
            feeds = [a.numpy() for a in _flat(list(args)) if isinstance(a, torch.Tensor)]
            if len(feeds) != len(names):  # an exporter dropped an input it found unused
                feeds = feeds[:len(names)]
            try:
                got = sess.run(None, dict(zip(names, feeds)))
            except Exception as exc:  # noqa: BLE001
                row.update(status="runtime error", error=f"input {k}: {_short(exc)}")
                return row
            if len(got) != len(want) or any(np.shape(g) != np.shape(w) for g, w in zip(got, want)):
                row.update(status="mismatch", error=f"input {k}: shapes {[np.shape(g) for g in got]} "
                           f"!= eager {[np.shape(w) for w in want]}")
                return row
            for g, w in zip(got, want):
                if w.size == 0:
                    continue
                diff = float(np.max(np.abs(g.astype(np.float64) - w.astype(np.float64))))
                bound = case.atol + case.rtol * float(np.max(np.abs(w.astype(np.float64))))
                worst = max(worst, diff)
                if not diff <= bound:
                    row.update(status="mismatch", max_abs_diff=diff,
                               error=f"input {k}: max abs diff {diff:.3g} > {bound:.3g}")
                    return row
        row.update(status="ok", max_abs_diff=worst)
        return row


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _short(exc: BaseException) -> str:
    text = _ANSI.sub("", (str(exc).strip().splitlines() or [""])[0])
    return f"{type(exc).__name__}: {text[:240]}"


def worker(family: str, exporter: str, start: int) -> None:
    """Run the family's cases from index ``start``; one JSON line per case on stdout."""
    def alarm(signum, frame):
        raise _Timeout()
    signal.signal(signal.SIGALRM, alarm)
    cases = FAMILIES[family]()
    for index, case in enumerate(cases[start:], start):
        signal.alarm(CASE_TIMEOUT)
        try:
            row = run_case(exporter, case)
        except _Timeout:
            row = {"exporter": exporter, "case": case.name, "status": "timeout",
                   "error": f"over {CASE_TIMEOUT}s"}
        except Exception as exc:  # noqa: BLE001
            row = {"exporter": exporter, "case": case.name, "status": "error", "error": _short(exc)}
        finally:
            signal.alarm(0)
        row.update(family=family, index=index)
        print("REALOPS " + json.dumps(row), flush=True)


def run_family(family: str, exporter: str) -> list[dict]:
    """Every case of ``family`` with ``exporter``, in worker processes."""
    n = len(FAMILIES[family]())
    rows: dict[int, dict] = {}
    start = 0
    while start < n:
        cmd = [sys.executable, __file__, "--worker", family, exporter, str(start)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=CASE_TIMEOUT * (n - start) + 60, cwd=ROOT)
            out, err = proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            err = "worker timed out"
        for line in out.splitlines():
            if line.startswith("REALOPS "):
                row = json.loads(line[8:])
                rows[row["index"]] = row
        missing = [i for i in range(start, n) if i not in rows]
        if not missing:
            break
        # the worker died on this case: record it and go on after it
        rows[missing[0]] = {"exporter": exporter, "case": FAMILIES[family]()[missing[0]].name,
                            "family": family, "index": missing[0], "status": "crash",
                            "error": (err.strip().splitlines() or ["?"])[-1][:240]}
        start = missing[0] + 1
    for i, case in enumerate(FAMILIES[family]()):
        rows.setdefault(i, {"exporter": exporter, "case": case.name, "family": family, "index": i,
                            "status": "crash", "error": "worker died"})
    return [rows[i] for i in range(n)]


# -- report -----------------------------------------------------------------------------------
def markdown(results: dict, family: str) -> str:
    """The table of one family: a row per case, a column per exporter, and the totals."""
    cases = FAMILIES[family]()
    by = {(r["case"], r["exporter"]): r for r in results.get(family, [])}
    exporters = [e for e in EXPORTERS if any(k[1] == e for k in by)]
    lines = ["| case | what | " + " | ".join(LABELS[e] for e in exporters) + " |",
             "| --- | --- | " + " | ".join("---" for _ in exporters) + " |"]
    for case in cases:
        cells = []
        for e in exporters:
            r = by.get((case.name, e))
            if r is None:
                cells.append("")
            elif r["status"] == "ok":
                cells.append("ok")
            else:
                error = _ANSI.sub("", r.get("error", ""))[:90]
                cells.append(f"{r['status']}: {error}".replace("|", "/"))
        lines.append(f"| {case.name} | {case.what} | " + " | ".join(cells) + " |")
    totals = [sum(by.get((c.name, e), {}).get("status") == "ok" for c in cases) for e in exporters]
    lines.append("| **passes** | | " + " | ".join(f"**{t} / {len(cases)}**" for t in totals) + " |")
    return "\n".join(lines)


def bar(results: dict) -> list[str]:
    """Cases that a torch.onnx exporter passes and onnxplug does not (the issue's bar)."""
    misses = []
    for family, rows in results.items():
        by = {(r["case"], r["exporter"]): r["status"] for r in rows}
        for case in {r["case"] for r in rows}:
            anchors = [e for e in ("torchscript", "dynamo") if by.get((case, e)) == "ok"]
            if anchors and by.get((case, "onnxplug")) != "ok":
                misses.append(f"{family}/{case} (passes with {', '.join(anchors)})")
    return sorted(misses)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--exporters", default=",".join(EXPORTERS))
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--markdown", action="store_true", help="print the tables of the saved results")
    parser.add_argument("--worker", nargs=3, metavar=("FAMILY", "EXPORTER", "START"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        family, exporter, start = args.worker
        worker(family, exporter, int(start))
        return 0
    if args.markdown:
        results = json.loads(RESULTS.read_text())["results"]
        for family in results:
            print(f"\n## {family}\n\n{markdown(results, family)}")
        return 0
    results: dict[str, list[dict]] = {}
    if RESULTS.exists() and not args.no_write:
        results = json.loads(RESULTS.read_text()).get("results", {})
    for family in args.families.split(","):
        rows = [r for r in results.get(family, []) if r["exporter"] not in args.exporters.split(",")]
        for exporter in args.exporters.split(","):
            start = time.perf_counter()
            got = run_family(family, exporter)
            print(f"{family} / {exporter}: {sum(r['status'] == 'ok' for r in got)} of {len(got)} "
                  f"pass ({time.perf_counter() - start:.0f}s)", file=sys.stderr)
            rows += got
        results[family] = sorted(rows, key=lambda r: (r["index"], EXPORTERS.index(r["exporter"])))
        print(f"\n## {family}\n\n{markdown(results, family)}")
    misses = bar(results)
    print("\nonnxplug misses a case a torch.onnx exporter passes: " + (", ".join(misses) or "none"))
    if not args.no_write:
        import onnx
        import onnxruntime
        import torch

        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({
            "versions": {"torch": torch.__version__, "onnx": onnx.__version__,
                         "onnxruntime": onnxruntime.__version__},
            "opsets": {"onnxplug": "17 (the case's)", "torchscript": "17 (the case's)", "dynamo": 18},
            "bar_misses": misses, "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

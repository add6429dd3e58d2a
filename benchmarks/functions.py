"""export_modules_as_functions on three model shapes: functions, calls, size, time, numerics.

For a BERT-base-shaped encoder (transformers ``BertConfig``, random weights), a small
Llama-shaped decoder (``LlamaConfig``) and a ResNet-50-shaped CNN (``ResNetConfig``), each is
exported flat (``False``), with ``True`` and with the set of its layer type, and for each export
the script reports the distinct local functions, the call nodes (graph and function bodies),
the serialized size, the export time and the largest difference from the flat export's
onnxruntime outputs (the bar: within rtol 1e-3, atol 1e-4) and from eager PyTorch. A second
table exports 2 and 6 identical layers of each family (small widths): the function count must
not grow with depth.

    .venv/bin/python benchmarks/functions.py                 # full sizes, writes the tables
    .venv/bin/python benchmarks/functions.py --quick         # small widths, a smoke run
    .venv/bin/python benchmarks/functions.py --json results/functions.json --markdown out.md

Export time is the wall time of ``onnxplug.export`` (capture to checked ModelProto, no file
written), best of ``--repeat`` runs; the machine is shared, so read it as a ratio.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import onnx
import torch

import onnxplug
from onnxplug.verify import run_onnxruntime

RTOL, ATOL = 1e-3, 1e-4


@dataclass
class Row:
    model: str
    option: str
    functions: int
    call_nodes: int
    graph_nodes: int
    size_mb: float
    export_s: float
    ir_passes_s: float
    max_diff_vs_flat: float
    within_bar: bool
    max_diff_vs_eager: float


def _bert(layers: int, quick: bool):
    from transformers import BertConfig, BertModel
    from transformers.models.bert.modeling_bert import BertLayer

    cfg = BertConfig(num_hidden_layers=layers) if not quick else BertConfig(
        num_hidden_layers=layers, hidden_size=64, num_attention_heads=4, intermediate_size=128)
    torch.manual_seed(0)
    model = BertModel(cfg).eval()
    ids = torch.randint(0, cfg.vocab_size, (2, 16))
    return model, (ids,), BertLayer


def _llama(layers: int, quick: bool):
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    width = dict(hidden_size=512, intermediate_size=1376, num_attention_heads=8,
                 num_key_value_heads=4) if not quick else dict(
        hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2)
    cfg = LlamaConfig(num_hidden_layers=layers, vocab_size=8000, **width)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval()
    ids = torch.randint(0, cfg.vocab_size, (2, 16))
    return model, (ids,), LlamaDecoderLayer


def _resnet(layers: int | None, quick: bool):
    from transformers import ResNetConfig, ResNetModel
    from transformers.models.resnet.modeling_resnet import ResNetBottleNeckLayer

    if layers is None:
        cfg = ResNetConfig() if not quick else ResNetConfig(
            depths=[1, 2, 1, 1], hidden_sizes=[16, 32, 32, 64], embedding_size=16)
    else:  # `layers` bottlenecks in every stage, small widths
        cfg = ResNetConfig(depths=[layers] * 4, hidden_sizes=[32, 32, 64, 64], embedding_size=16)
    torch.manual_seed(0)
    model = ResNetModel(cfg).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    size = 224 if not quick else 64
    return model, (torch.randn(1, 3, size, size),), ResNetBottleNeckLayer


FAMILIES: dict[str, tuple[Callable, int | None]] = {
    "BERT encoder": (_bert, 12),
    "Llama decoder": (_llama, 8),
    "ResNet CNN": (_resnet, None),
}


def count_calls(model: onnx.ModelProto) -> int:
    local = {(f.domain, f.name) for f in model.functions}
    nodes = list(model.graph.node) + [n for f in model.functions for n in f.node]
    return sum((n.domain, n.op_type) in local for n in nodes)


def _flat(xs: Any) -> list[np.ndarray]:
    if isinstance(xs, torch.Tensor):
        return [xs.detach().numpy()]
    if isinstance(xs, dict) or hasattr(xs, "to_tuple"):
        xs = xs.to_tuple() if hasattr(xs, "to_tuple") else tuple(xs.values())
    if isinstance(xs, (list, tuple)):
        return [a for x in xs for a in _flat(x)]
    return []


def _export(model, args, option, repeat: int):
    """The checked ModelProto, the best export time and the best IR-pass time."""
    best, passes = float("inf"), float("inf")
    for _ in range(repeat):
        result = None
        gc.collect()
        t = time.perf_counter()
        result = onnxplug.export(model, args, export_modules_as_functions=option)
        proto = result.model
        best = min(best, time.perf_counter() - t)
        passes = min(passes, result.timings.get("ir passes", float("nan")))
    onnx.checker.check_model(proto, full_check=True)
    return proto, best, passes


def measure(name: str, make: Callable, layers: int | None, quick: bool, repeat: int) -> list[Row]:
    model, args, layer_type = make(layers, quick)
    with torch.no_grad():
        eager = _flat(model(*args))
    rows, flat_out = [], None
    for label, option in (("False (flat)", False), ("True", True),
                          (f"{{{layer_type.__name__}}}", {layer_type})):
        proto, seconds, pass_seconds = _export(model, args, option, repeat)
        outs = run_onnxruntime(proto, list(args))
        if flat_out is None:
            flat_out = outs
        vs_flat = max(float(np.abs(a - b).max()) for a, b in zip(outs, flat_out))
        ok = all(np.allclose(a, b, rtol=RTOL, atol=ATOL) for a, b in zip(outs, flat_out))
        vs_eager = max(float(np.abs(a - e).max()) for a, e in zip(outs, eager))
        rows.append(Row(name, label, len(proto.functions), count_calls(proto),
                        len(proto.graph.node), proto.ByteSize() / 2**20, seconds, pass_seconds,
                        vs_flat, ok, vs_eager))
        print(f"  {name:34} {label:26} functions {rows[-1].functions:3} calls "
              f"{rows[-1].call_nodes:4} {rows[-1].size_mb:8.1f} MB {seconds:6.1f} s "
              f"diff {vs_flat:.2e}", file=sys.stderr, flush=True)
        del proto
    return rows


def depth_check(quick_widths: bool = True) -> list[dict]:
    """Functions for 2 and 6 identical layers of each family (True and the layer-type set)."""
    out = []
    for name, (make, _) in FAMILIES.items():
        for option_name in ("True", "layer set"):
            counts = []
            for depth in (2, 6):
                model, args, layer_type = make(depth, quick_widths)
                option = True if option_name == "True" else {layer_type}
                proto = onnxplug.export(model, args, export_modules_as_functions=option).model
                onnx.checker.check_model(proto, full_check=True)
                counts.append((len(proto.functions), count_calls(proto)))
            out.append({"model": name, "option": option_name, "functions_2": counts[0][0],
                        "functions_6": counts[1][0], "calls_2": counts[0][1],
                        "calls_6": counts[1][1], "same": counts[0][0] == counts[1][0]})
            print(f"  depth {name:34} {option_name:10} {counts}", file=sys.stderr, flush=True)
    return out


def markdown(rows: list[Row], depths: list[dict]) -> str:
    flat = {r.model: r for r in rows if r.option.startswith("False")}
    lines = ["| model | option | functions | call nodes | graph nodes | size MB (vs flat) | "
             "export s (vs flat) | IR passes s | max diff vs flat | within bar | "
             "max diff vs eager |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|:-:|---:|"]
    for r in rows:
        f = flat[r.model]
        lines.append(
            f"| {r.model} | `{r.option}` | {r.functions} | {r.call_nodes} | {r.graph_nodes} | "
            f"{r.size_mb:.1f} ({r.size_mb / f.size_mb:.3f}x) | {r.export_s:.1f} "
            f"({r.export_s / f.export_s:.2f}x) | {r.ir_passes_s:.2f} | {r.max_diff_vs_flat:.1e} | "
            f"{'yes' if r.within_bar else 'NO'} | {r.max_diff_vs_eager:.1e} |")
    lines += ["", "| model | option | functions, 2 layers | functions, 6 layers | calls, 2 | "
              "calls, 6 | same count |", "|---|---|---:|---:|---:|---:|:-:|"]
    for d in depths:
        lines.append(f"| {d['model']} | {d['option']} | {d['functions_2']} | {d['functions_6']} "
                     f"| {d['calls_2']} | {d['calls_6']} | {'yes' if d['same'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small widths (a smoke run)")
    ap.add_argument("--repeat", type=int, default=2, help="exports per measurement (best of)")
    ap.add_argument("--json", help="write the rows as JSON here")
    ap.add_argument("--markdown", help="write the tables here (default: stdout)")
    a = ap.parse_args(argv)
    warm, warm_args, _ = _bert(1, True)  # first-export costs (imports, tracing caches)
    onnxplug.export(warm, warm_args)
    rows: list[Row] = []
    for name, (make, layers) in FAMILIES.items():
        rows += measure(name, make, layers, a.quick, a.repeat)
    depths = depth_check()
    table = markdown(rows, depths)
    env = (f"torch {torch.__version__}, onnx {onnx.__version__}, "
           f"python {platform.python_version()}, {platform.machine()}")
    if a.markdown:
        with open(a.markdown, "w") as fh:
            fh.write(table)
    else:
        print(table)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"env": env, "rows": [asdict(r) for r in rows], "depth": depths}, fh,
                      indent=1)
    bad = [r for r in rows if not r.within_bar] + [d for d in depths if not d["same"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

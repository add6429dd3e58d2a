"""A model larger than memory: a Llama-shaped decoder exported from a safetensors checkpoint.

    python benchmarks/big_model.py                  # about 3.2 B parameters, float16 (~6.4 GB)
    python benchmarks/big_model.py --size 1b        # the same at about 1.2 B parameters
    python benchmarks/big_model.py --keep --workdir /big/disk

Each step runs in a child process started for it alone:

1. ``checkpoint``: random float16 weights written as sharded safetensors files, tensor by tensor
   (the header from the shapes of a model built on the meta device, then each tensor's bytes,
   made, written and dropped): the model is never in memory.
2. ``export``: the model built under ``torch.device("meta")`` is exported with
   ``weights=[checkpoint folder, rotary buffers]`` and external data. Measured: wall time, peak
   RSS (the kernel's high-water mark, reset just before the export call) against the bar of
   2 GB, the bare process's RSS, onnxplug's stage timings, the file sizes.
3. ``ort``: onnxruntime creates a session on the exported file (nothing is run: that would
   need the weights in memory several times over); its time and peak RSS.
4. ``sibling``: a small materialised model of the same family, exported twice (materialised,
   and on the meta device from its own checkpoint): the graphs must be equal node by node and
   the weights byte by byte, and onnxruntime must match eager PyTorch.

The checkpoint and the exported files are deleted afterwards unless ``--keep``. Writes
``benchmarks/results/big_model.json``, which ``benchmarks/models.py`` renders into
``docs/performance.md`` ("Models larger than memory").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from pathlib import Path

from proc_memory import reset_peak, status_bytes

HERE = Path(__file__).resolve().parent
OUT_JSON = HERE / "results" / "big_model.json"
BAR_BYTES = 2 * 10**9
SHARD_BYTES = 2 * 10**9
ST_DTYPE = {"torch.float16": "F16", "torch.float32": "F32", "torch.bfloat16": "BF16"}

# hidden, intermediate, layers, heads, kv heads, vocabulary (Llama 3.2 3B and 1B shapes)
SIZES = {
    "3b": (3072, 8192, 28, 24, 8, 128256),
    "1b": (2048, 8192, 16, 32, 8, 128256),
    "sibling": (256, 512, 2, 8, 4, 1024),
}


def config(size: str):
    import torch
    import transformers

    hidden, inter, layers, heads, kv, vocab = SIZES[size]
    return transformers.LlamaConfig(
        hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv, vocab_size=vocab,
        tie_word_embeddings=True, use_cache=False, torch_dtype=torch.float16)


def build(size: str, meta: bool):
    """The decoder (logits out) in float16, on the meta device or materialised (seeded)."""
    import torch
    import transformers

    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids):
            return self.inner(input_ids).logits

    torch.manual_seed(0)
    with torch.device("meta" if meta else "cpu"):
        model = Logits(transformers.LlamaForCausalLM(config(size)))
    return model.to(torch.float16).eval()


def extra_tensors(model) -> dict:
    """What no checkpoint holds, by name: non-persistent buffers and plain tensor attributes
    (the rotary embedding's inv_freq), computed on the CPU for the model's config."""
    import torch
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    persistent = set(model.state_dict())
    rotary = LlamaRotaryEmbedding(config=model.inner.config).to(torch.float16)
    out = {}
    for prefix, module in model.named_modules():
        if type(module).__name__ != "LlamaRotaryEmbedding":
            continue
        for name, t in [*rotary.named_buffers(), *vars(rotary).items()]:
            full = f"{prefix}.{name}"
            if isinstance(t, torch.Tensor) and not name.startswith("_") and full not in persistent:
                out[full] = t
    return out


# --------------------------------------------------------------------------- checkpoint (child)

def _specs(model) -> list[tuple[str, object]]:
    """(name, meta tensor) for each tensor a checkpoint holds: tied ones once."""
    seen, out = set(), []
    for name, t in model.state_dict(keep_vars=True).items():
        if id(t) not in seen:
            seen.add(id(t))
            out.append((name, t))
    return out


def _random(name: str, t):
    import torch

    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    if name.endswith("norm.weight"):
        return torch.ones(t.shape, dtype=t.dtype)
    return torch.empty(t.shape, dtype=t.dtype).normal_(0.0, 0.02, generator=g)


def write_safetensors(path: str, specs: list, make) -> int:
    """A safetensors file of ``specs`` (name, tensor with dtype and shape), each tensor's bytes
    made by ``make(name, t)`` only when its turn comes and dropped after. Returns its size."""
    import torch

    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, t in specs:
        size = t.numel() * t.element_size()
        header[name] = {"dtype": ST_DTYPE[str(t.dtype)], "shape": list(t.shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(blob)) + blob)
        for name, t in specs:
            data = make(name, t).contiguous()
            fh.write(memoryview(data.reshape(-1).view(torch.uint8).numpy()))
            del data
    return os.path.getsize(path)


def child_checkpoint(size: str, folder: str) -> dict:
    model = build(size, meta=True)
    specs, shards, current, used = _specs(model), [], [], 0
    for name, t in specs:
        nbytes = t.numel() * t.element_size()
        if current and used + nbytes > SHARD_BYTES:
            shards.append(current)
            current, used = [], 0
        current.append((name, t))
        used += nbytes
    shards.append(current)
    start, total = time.perf_counter(), 0
    for k, shard in enumerate(shards):
        path = os.path.join(folder, f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors")
        total += write_safetensors(path, shard, _random)
    params = sum(t.numel() for _, t in specs)
    return {"params": params, "checkpoint_bytes": total, "shards": len(shards),
            "write_s": time.perf_counter() - start, "rss_peak": status_bytes("VmHWM")}


# --------------------------------------------------------------------------- export (child)


def child_export(size: str, folder: str, out_dir: str) -> dict:
    import torch

    import onnxplug

    model = build(size, meta=True)
    weights = [folder, extra_tensors(model)]
    ids = torch.randint(0, config(size).vocab_size, (2, 128))
    rec = {"rss_bare": status_bytes("VmRSS")}
    path = os.path.join(out_dir, "model.onnx")
    reset = reset_peak()
    start = time.perf_counter()
    result = onnxplug.export(model, (ids,), path, weights=weights, input_names=["input_ids"],
                             output_names=["logits"], external_data=True,
                             dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}})
    rec["wall"] = time.perf_counter() - start
    rec["rss_peak"] = status_bytes("VmHWM") if reset else None
    rec["timings"] = dict(result.timings)
    rec["file_bytes"] = sum(os.path.getsize(os.path.join(out_dir, n)) for n in os.listdir(out_dir))
    import onnx

    proto = onnx.load(path, load_external_data=False)
    rec["nodes"] = len(proto.graph.node)
    rec["initializers"] = len(proto.graph.initializer)
    return rec


def child_ort(out_dir: str) -> dict:
    import onnxruntime as ort

    rec = {"rss_bare": status_bytes("VmRSS")}
    reset = reset_peak()
    start = time.perf_counter()
    session = ort.InferenceSession(os.path.join(out_dir, "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    rec["session_s"] = time.perf_counter() - start
    rec["rss_peak"] = status_bytes("VmHWM") if reset else None
    rec["inputs"] = [i.name for i in session.get_inputs()]
    return rec


def child_sibling(work: str) -> dict:
    """The small sibling, materialised and from its checkpoint: same graph, matches eager."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch

    import onnxplug

    real = build("sibling", meta=False)
    folder = os.path.join(work, "sibling-ckpt")
    os.makedirs(folder, exist_ok=True)
    state = dict(_specs(real))
    write_safetensors(os.path.join(folder, "model.safetensors"), list(state.items()),
                      lambda name, t: t.detach())
    meta = build("sibling", meta=True)
    ids = torch.randint(0, config("sibling").vocab_size, (2, 16))
    kw = dict(input_names=["input_ids"], output_names=["logits"],
              dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}})
    a_path, b_path = os.path.join(work, "sibling-real.onnx"), os.path.join(work, "sibling-meta.onnx")
    onnxplug.export(real, (ids,), a_path, **kw)
    onnxplug.export(meta, (ids,), b_path, weights=[folder, extra_tensors(meta)], **kw)
    a, b = onnx.load(a_path), onnx.load(b_path)
    same_nodes = len(a.graph.node) == len(b.graph.node) and all(
        x == y for x, y in zip(a.graph.node, b.graph.node))
    wa = {t.name: t.raw_data for t in a.graph.initializer}
    wb = {t.name: t.raw_data for t in b.graph.initializer}
    onnx.checker.check_model(b_path, full_check=True)
    session = ort.InferenceSession(b_path, providers=["CPUExecutionProvider"])
    got = session.run(None, {"input_ids": ids.numpy()})[0]
    with torch.no_grad():
        want = real(ids).float().numpy()
    return {"nodes": len(b.graph.node), "same_nodes": same_nodes, "same_weights": wa == wb,
            "max_abs_diff": float(np.abs(got.astype(np.float32) - want).max()),
            "max_abs_logit": float(np.abs(want).max())}


# --------------------------------------------------------------------------- driver

def _spawn(argv: list[str], timeout: float) -> dict:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True,
                          timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("@@RESULT "):
            rec = json.loads(line[len("@@RESULT "):])
            rec["child_s"] = time.perf_counter() - start
            return rec
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"error": " | ".join(tail)[-600:]}


def drive(a: argparse.Namespace) -> dict:
    work = a.workdir or tempfile.mkdtemp(prefix="onnxplug-big-")
    folder, out_dir = os.path.join(work, "checkpoint"), os.path.join(work, "onnx")
    os.makedirs(folder, exist_ok=True)
    os.makedirs(out_dir, exist_ok=True)
    report = {"size": a.size, "shape": dict(zip(
        ("hidden", "intermediate", "layers", "heads", "kv_heads", "vocab"), SIZES[a.size])),
        "bar_bytes": BAR_BYTES, "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    try:
        for step, argv in (("checkpoint", ["--child-checkpoint", a.size, folder]),
                           ("export", ["--child-export", a.size, folder, out_dir]),
                           ("ort", ["--child-ort", out_dir]),
                           ("sibling", ["--child-sibling", work])):
            if step == "ort" and "error" in report.get("export", {"error": 1}):
                continue
            print(f"{step} ...", flush=True)
            report[step] = _spawn(argv, a.timeout)
            print(f"  {report[step]}", flush=True)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    report["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0].startswith("--child"):
        children = {"--child-checkpoint": child_checkpoint, "--child-export": child_export,
                    "--child-ort": child_ort, "--child-sibling": child_sibling}
        try:
            rec = children[argv[0]](*argv[1:])
        except Exception:  # noqa: BLE001 - the driver records the reason
            traceback.print_exc()
            return 1
        print("@@RESULT " + json.dumps(rec), flush=True)
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="3b", choices=list(SIZES),
                    help="'sibling' runs the whole pipeline on the small model (a quick check)")
    ap.add_argument("--workdir", default=None, help="where the checkpoint and files go (~2x the weights)")
    ap.add_argument("--keep", action="store_true", help="keep the checkpoint and exported files")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per child process")
    ap.add_argument("--no-write", action="store_true", help=f"do not write {OUT_JSON.name}")
    a = ap.parse_args(argv)
    report = drive(a)
    print(json.dumps(report, indent=1))
    if not a.no_write:
        OUT_JSON.parent.mkdir(exist_ok=True)
        OUT_JSON.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {OUT_JSON}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

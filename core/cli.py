"""The ``onnxplug`` command line.

* ``onnxplug export MODULE:FACTORY -o out.onnx [--opset N] [--dynamic NAME:AXIS:DIM ...] [--verify]``
  exports what ``FACTORY()`` returns: ``(module, example_inputs)``. Stages and their timings go
  to stderr as they finish.
* ``onnxplug plugins``: the installed plugins, what each contributes, broken ones, conflicts.
* ``onnxplug ops [--opset N] [--plugin NAME] [--json]``: which plugin serves each op key.
* ``onnxplug check model.onnx``: the ONNX checker and an onnxruntime load.
* ``onnxplug test-plugin NAME [PYTEST ARGS]``: ``pytest --onnxplug-plugin NAME``.

Errors print one ``onnxplug: error: ...`` message (what went wrong and what to do) and exit 1;
usage mistakes exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


# ----------------------------------------------------------------------------- export

def load_factory(spec: str):
    """``pkg.module:build`` or ``path/to/file.py:build`` -> the callable."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise CliError(f"{spec!r} is not MODULE:FACTORY, e.g. onnxplug.example:build or "
                       "model.py:build (a function returning (module, example_inputs)).")
    if module_name.endswith(".py") or os.sep in module_name:
        path = Path(module_name)
        if not path.is_file():
            raise CliError(f"no such file: {path}")
        mod_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(mod_spec)
        sys.path.insert(0, str(path.resolve().parent))
        mod_spec.loader.exec_module(module)
    else:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise CliError(f"cannot import {module_name!r}: {exc}. Run from the folder that "
                           "contains it, or install its package.") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise CliError(f"module {module_name!r} has no {attr!r}.") from None


def parse_dynamic(items: list[str]) -> dict[str, dict[int, str]]:
    """``["x:0:batch", "x:1:seq"]`` -> ``{"x": {0: "batch", 1: "seq"}}``."""
    out: dict[str, dict[int, str]] = {}
    for item in items:
        parts = item.split(":")
        if len(parts) != 3 or not parts[1].lstrip("-").isdigit() or not parts[0] or not parts[2]:
            raise CliError(f"--dynamic {item!r}: use NAME:AXIS:DIM, e.g. --dynamic input:0:batch.")
        out.setdefault(parts[0], {})[int(parts[1])] = parts[2]
    return out


def _default_input_names(model: Any, args: tuple) -> list[str]:
    """The names of ``forward``'s parameters, used when --dynamic needs names and none are given."""
    import inspect

    import torch

    fn = model.forward if isinstance(model, torch.nn.Module) else model
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return []
    if all(isinstance(a, torch.Tensor) for a in args) and len(params) >= len(args):
        return params[:len(args)]
    return []


class _StageLog(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        print(f"onnxplug: {record.getMessage()}", file=sys.stderr, flush=True)


def cmd_export(a: argparse.Namespace) -> int:
    factory = load_factory(a.factory)
    import torch

    import onnxplug

    t0 = time.perf_counter()
    built = factory()
    if not (isinstance(built, tuple) and len(built) == 2):
        raise CliError(f"{a.factory} must return (module, example_inputs), got "
                       f"{type(built).__name__}.")
    model, inputs = built
    if isinstance(inputs, torch.Tensor):
        inputs = (inputs,)
    inputs = tuple(inputs)
    print(f"onnxplug: build model: {time.perf_counter() - t0:.3f}s", file=sys.stderr)
    dynamic = parse_dynamic(a.dynamic or [])
    input_names = a.input_names.split(",") if a.input_names else []
    output_names = a.output_names.split(",") if a.output_names else []
    if dynamic and not input_names:
        input_names = _default_input_names(model, inputs)
    custom = {}
    for item in a.custom_opset or []:
        domain, _, version = item.rpartition(":")
        if not domain or not version.isdigit():
            raise CliError(f"--custom-opset {item!r}: use DOMAIN:VERSION, e.g. com.microsoft:1.")
        custom[domain] = int(version)
    handler = _StageLog()
    logger = logging.getLogger("onnxplug")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        result = onnxplug.export(
            model, inputs, a.output, opset_version=a.opset, dynamic_axes=dynamic or None,
            input_names=input_names or None, output_names=output_names or None,
            custom_opsets=custom or None, verify=a.verify,
            do_constant_folding=not a.no_constant_folding)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    graph = result.ir_model.graph
    size = os.path.getsize(a.output) if os.path.exists(a.output) else 0
    print(f"exported {a.output}: opset {graph.opset_imports.get('')}, {len(graph)} nodes, "
          f"{len(graph.inputs)} input(s), {len(graph.outputs)} output(s), {size / 1024:.1f} KiB, "
          f"{sum(result.timings.values()):.2f}s")
    if result.decomposed:
        print(f"decomposed by PyTorch (no conversion of their own): {', '.join(result.decomposed)}")
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if a.verify:
        print("verified: onnxruntime matches eager PyTorch on the example inputs")
    return 0


# ----------------------------------------------------------------------------- plugins

def _plugin_domains(loaded) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for impl in loaded.pm.hook.onnxplug_custom_opsets.get_hookimpls():
        try:
            out[impl.plugin_name].update(impl.function() or {})
        except Exception as exc:  # report, do not crash the listing
            out[impl.plugin_name]["<error: " + str(exc) + ">"] = 0
    for s in loaded.symbolics:
        if s.domain:
            out[s.plugin].setdefault(s.domain, loaded.opset_versions.get(s.domain, 1))
    return out


def _case_counts(loaded) -> dict[str, Any]:
    counts: dict[str, Any] = {}
    for p in loaded.plugins:
        try:
            counts[p.name] = len(loaded.test_cases(p.name))
        except Exception as exc:
            counts[p.name] = f"error: {type(exc).__name__}: {exc}"
    return counts


def _conflicts(loaded) -> list[str]:
    from .options import max_opset
    from .registry import Registry

    return [str(c) for c in Registry.build(loaded.symbolics, max_opset()).conflicts()]


def plugins_report(loaded) -> dict[str, Any]:
    counts: dict[str, int] = defaultdict(int)
    for s in loaded.symbolics:
        counts[s.plugin] += 1
    domains = _plugin_domains(loaded)
    cases = _case_counts(loaded)
    return {
        "plugins": [{"name": p.name, "distribution": p.distribution, "version": p.version,
                     "priority": p.priority, "hooks": list(p.hooks),
                     "symbolics": counts.get(p.name, 0), "domains": domains.get(p.name, {}),
                     "test_cases": cases.get(p.name, 0),
                     "fx_passes": [e.name for e in loaded.fx_passes if e.plugin == p.name],
                     "ir_passes": [e.name for e in loaded.ir_passes if e.plugin == p.name]}
                    for p in loaded.plugins],
        "broken": [{"name": b.name, "distribution": b.distribution, "error": b.error}
                   for b in loaded.broken],
        "conflicts": _conflicts(loaded),
    }


def cmd_plugins(a: argparse.Namespace) -> int:
    import warnings

    from .plugins import load_plugins

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # broken plugins are listed below
        loaded = load_plugins()
    report = plugins_report(loaded)
    if a.json:
        print(json.dumps(report, indent=2))
        return 0
    for p in report["plugins"]:
        doms = ", ".join(f"{d} v{v}" for d, v in p["domains"].items()) or "-"
        prio = f", priority {p['priority']}" if p["priority"] else ""
        print(f"{p['name']}  ({p['distribution']} {p['version']}{prio})")
        print(f"    hooks: {', '.join(p['hooks']) or '-'}")
        print(f"    symbolic functions: {p['symbolics']}   domains: {doms}   "
              f"declared test cases: {p['test_cases']}")
        if p["fx_passes"] or p["ir_passes"]:
            print(f"    passes: {', '.join(p['fx_passes'] + p['ir_passes'])}")
    print(f"broken: {len(report['broken'])}")
    for b in report["broken"]:
        print(f"    {b['name']} ({b['distribution']}): {b['error']}")
    print(f"conflicts: {len(report['conflicts'])}")
    for c in report["conflicts"]:
        print(f"    {c}")
    return 0


# ----------------------------------------------------------------------------- ops

def _ranges(per_opset: list[tuple[int, Any]]) -> list[dict[str, Any]]:
    """Collapse ``[(7, x), (8, x), (9, y)]`` into ``[{from 7, to 8, x}, {from 9, ...}]``."""
    out: list[dict[str, Any]] = []
    for opset, entry in per_opset:
        if entry is None:
            continue
        if out and out[-1]["to"] == opset - 1 and out[-1]["_id"] == id(entry.fn):
            out[-1]["to"] = opset
            continue
        out.append({"from": opset, "to": opset, "plugin": entry.plugin,
                    "function": entry.qualname, "_id": id(entry.fn)})
    for r in out:
        del r["_id"]
    return out


def decomposition_only(registry) -> list[str]:
    """ATen ops with a PyTorch decomposition and no conversion of their own at this opset."""
    from .decompose import _table
    from .lowering import op_key

    keys = {op_key(op) for op in _table()}
    return sorted(k for k in keys if registry.lookup(k) is None)


def ops_report(loaded, opset: int | None, plugin: str | None) -> dict[str, Any]:
    from .options import MIN_OPSET, max_opset
    from .registry import Registry

    opsets = [opset] if opset else list(range(MIN_OPSET, max_opset() + 1))
    registries = {o: Registry.build(loaded.symbolics, o) for o in opsets}
    keys = sorted({s.key for s in loaded.symbolics})
    ops = []
    for key in keys:
        entries = [s for s in loaded.symbolics if s.key == key]
        if plugin and not any(s.plugin == plugin for s in entries):
            continue
        served = _ranges([(o, _pick(registries[o], key)) for o in opsets])
        custom = [{"domain": s.domain, "plugin": s.plugin, "from": s.opset,
                   "function": s.qualname} for s in entries if s.domain]
        if not served and not custom:
            continue
        ops.append({"key": key, "served": served, "custom_domain": custom})
    top = registries[opsets[-1]]
    return {"opset": opset, "opsets": [opsets[0], opsets[-1]], "plugin": plugin, "ops": ops,
            "decomposition_only": decomposition_only(top) if not plugin else [],
            "conflicts": [str(c) for c in top.conflicts()
                          if not plugin or plugin in (c.winner, *c.losers)]}


def _pick(registry, key: str):
    """The standard-domain winner for exactly ``key`` (no fallback to the bare name)."""
    return registry._pick(key)


def cmd_ops(a: argparse.Namespace) -> int:
    from .options import MIN_OPSET, max_opset
    from .plugins import load_plugins

    if a.opset is not None and not MIN_OPSET <= a.opset <= max_opset():
        raise CliError(f"--opset must be from {MIN_OPSET} to {max_opset()} (the newest opset the "
                       "installed onnx defines).")
    loaded = load_plugins()
    if a.plugin and a.plugin not in {p.name for p in loaded.plugins}:
        raise CliError(f"no loaded plugin is named {a.plugin!r}; see `onnxplug plugins`.")
    report = ops_report(loaded, a.opset, a.plugin)
    if a.json:
        print(json.dumps(report, indent=2))
        return 0
    where = f"at opset {a.opset}" if a.opset else f"at opsets {report['opsets'][0]}-{report['opsets'][1]}"
    print(f"{len(report['ops'])} op keys with a conversion {where}"
          + (f" (plugin {a.plugin})" if a.plugin else ""))
    width = max((len(o["key"]) for o in report["ops"]), default=10)
    for o in report["ops"]:
        parts = [f"{r['from']}{'-' + str(r['to']) if r['to'] != r['from'] else ''}: "
                 f"{r['plugin']} ({r['function']})" for r in o["served"]] if not a.opset else \
                [f"{r['plugin']} ({r['function']}, from opset "
                 f"{_first(o, r)})" for r in o["served"]]
        parts += [f"[{c['domain']}: {c['plugin']}, with custom_opsets]" for c in o["custom_domain"]]
        print(f"  {o['key']:<{width}}  " + "; ".join(parts or ["-"]))
    dec = report["decomposition_only"]
    if not a.plugin:
        at = f"at opset {a.opset}" if a.opset else "at the newest opset"
        hint = "" if a.decomposed else "; --decomposed lists them"
        print(f"decomposition only: {len(dec)} ATen ops have a PyTorch decomposition and no "
              f"conversion of their own {at}{hint}")
        if a.decomposed:
            for k in dec:
                print(f"  {k}")
    print(f"conflicts: {len(report['conflicts'])}")
    for c in report["conflicts"]:
        print(f"  {c}")
    return 0


def _first(op: dict, served: dict) -> int:
    from .plugins import load_plugins

    opsets = [s.opset for s in load_plugins().symbolics
              if s.key == op["key"] and s.qualname == served["function"]]
    return min(opsets) if opsets else served["from"]


# ----------------------------------------------------------------------------- check

def cmd_check(a: argparse.Namespace) -> int:
    import onnx

    path = Path(a.model)
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:
        raise CliError(f"{path}: the ONNX checker rejects the model: {exc}") from exc
    print(f"{path}: onnx.checker ok (full check, shape inference)")
    try:
        import onnxruntime as ort
    except ImportError:
        raise CliError("onnxruntime is not installed: pip install onnxruntime") from None
    try:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise CliError(f"{path}: onnxruntime cannot load the model: {exc}") from exc
    model = onnx.load(str(path), load_external_data=False)
    imports = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import)
    print(f"{path}: onnxruntime {ort.__version__} loads it; opsets: {imports}")
    for kind, values in (("input", sess.get_inputs()), ("output", sess.get_outputs())):
        for v in values:
            print(f"  {kind} {v.name}: {v.type} {v.shape}")
    return 0


# ----------------------------------------------------------------------------- test-plugin

def cmd_test_plugin(a: argparse.Namespace, extra: list[str]) -> int:
    cmd = [sys.executable, "-m", "pytest", "--onnxplug-plugin", a.name, *extra]
    print("onnxplug: " + " ".join(cmd[2:]), file=sys.stderr)
    return subprocess.call(cmd)


# ----------------------------------------------------------------------------- main

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="onnxplug", description="PyTorch to ONNX, through plugins.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    e = sub.add_parser("export", help="export a model built by MODULE:FACTORY")
    e.add_argument("factory", metavar="MODULE:FACTORY",
                   help="a function returning (module, example_inputs), e.g. onnxplug.example:build")
    e.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    e.add_argument("--opset", type=int, default=None, help="target opset (default 17)")
    e.add_argument("--dynamic", action="append", metavar="NAME:AXIS:DIM",
                   help="make AXIS of input/output NAME dynamic, named DIM (repeatable)")
    e.add_argument("--input-names", help="comma-separated input names (default with --dynamic: "
                                         "forward()'s parameter names)")
    e.add_argument("--output-names", help="comma-separated output names")
    e.add_argument("--custom-opset", action="append", metavar="DOMAIN:VERSION",
                   help="import a custom domain (selects a plugin's custom-domain forms)")
    e.add_argument("--no-constant-folding", action="store_true")
    e.add_argument("--verify", action="store_true",
                   help="run the model in onnxruntime and compare with eager PyTorch")

    pl = sub.add_parser("plugins", help="list installed plugins, broken ones and conflicts")
    pl.add_argument("--json", action="store_true")

    o = sub.add_parser("ops", help="which plugin serves each op at each opset")
    o.add_argument("--opset", type=int, default=None)
    o.add_argument("--plugin", default=None, help="only ops this plugin registers")
    o.add_argument("--decomposed", action="store_true",
                   help="list the ops that only have PyTorch's decomposition")
    o.add_argument("--json", action="store_true")

    c = sub.add_parser("check", help="run the ONNX checker and load the model in onnxruntime")
    c.add_argument("model")

    t = sub.add_parser("test-plugin", help="run a plugin's declared test cases (pytest)")
    t.add_argument("name", help="entry-point or distribution name of the plugin")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if argv[:1] == ["test-plugin"] and len(argv) > 2:
        argv, extra = argv[:2], argv[2:]
    args = build_parser().parse_args(argv)
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)  # PyTorch internals, not the user's
    from .errors import OnnxExporterError

    try:
        if args.command == "export":
            return cmd_export(args)
        if args.command == "plugins":
            return cmd_plugins(args)
        if args.command == "ops":
            return cmd_ops(args)
        if args.command == "check":
            return cmd_check(args)
        return cmd_test_plugin(args, extra)
    except (CliError, OnnxExporterError) as exc:
        print(f"onnxplug: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

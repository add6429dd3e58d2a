"""The ``onnxplug`` command line.

* ``onnxplug export MODULE:FACTORY -o out.onnx [--opset N] [--dynamic NAME:AXIS:DIM ...] [--verify]``
  exports what ``FACTORY()`` returns: ``(module, example_inputs)``; the export's other
  parameters are flags (``--operator-export-type``, ``--training``, ``--no-autograd-inlining``,
  ``--no-export-params``, ...). Stages and their timings go to stderr as they finish.
* ``onnxplug plugins``: the installed plugins, what each contributes, broken ones, conflicts.
* ``onnxplug ops [--opset N] [--plugin NAME] [--json]``: which plugin serves each op key.
* ``onnxplug ops --where KEY``: for each opset, the conversion serving KEY and its file:line.
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

from .enums import OperatorExportTypes, TrainingMode

EXPORT_TYPES = tuple(t.name for t in OperatorExportTypes)
TRAINING_MODES = tuple(m.name for m in TrainingMode)


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


def _build_model(a: argparse.Namespace) -> tuple[Any, tuple]:
    """Call the factory; return ``(model, example_inputs as a tuple)``."""
    factory = load_factory(a.factory)
    import torch

    t0 = time.perf_counter()
    built = factory()
    if not (isinstance(built, tuple) and len(built) == 2):
        raise CliError(f"{a.factory} must return (module, example_inputs), got "
                       f"{type(built).__name__}.")
    model, inputs = built
    if isinstance(inputs, torch.Tensor):
        inputs = (inputs,)
    print(f"onnxplug: build model: {time.perf_counter() - t0:.3f}s", file=sys.stderr)
    return model, tuple(inputs)


def _parse_custom_opsets(items: list[str]) -> dict[str, int]:
    """``["com.microsoft:1"]`` -> ``{"com.microsoft": 1}``."""
    custom = {}
    for item in items:
        domain, _, version = item.rpartition(":")
        if not domain or not version.isdigit():
            raise CliError(f"--custom-opset {item!r}: use DOMAIN:VERSION, e.g. com.microsoft:1.")
        custom[domain] = int(version)
    return custom


def _export_kwargs(a: argparse.Namespace, model: Any, inputs: tuple) -> dict[str, Any]:
    """The keyword arguments of ``onnxplug.export`` that the command line asks for."""
    dynamic = parse_dynamic(a.dynamic or [])
    input_names = a.input_names.split(",") if a.input_names else []
    output_names = a.output_names.split(",") if a.output_names else []
    if dynamic and not input_names:
        input_names = _default_input_names(model, inputs)
    return dict(opset_version=a.opset, dynamic_axes=dynamic or None,
                input_names=input_names or None, output_names=output_names or None,
                custom_opsets=_parse_custom_opsets(a.custom_opset or []) or None,
                verify=a.verify, do_constant_folding=not a.no_constant_folding,
                operator_export_type=getattr(OperatorExportTypes, a.operator_export_type),
                training=getattr(TrainingMode, a.training),
                autograd_inlining=not a.no_autograd_inlining, export_params=not a.no_export_params,
                keep_initializers_as_inputs=(None if a.keep_initializers_as_inputs is None
                                             else a.keep_initializers_as_inputs == "yes"),
                export_modules_as_functions=a.export_modules_as_functions, verbose=a.verbose)


def _export_logging_stages(call):
    """Run ``call()`` with the exporter's stage timings printed to stderr as they finish."""
    handler = _StageLog()
    logger = logging.getLogger("onnxplug")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        return call()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _print_export_summary(a: argparse.Namespace, result) -> None:
    graph = result.ir_model.graph
    size = os.path.getsize(a.output) if os.path.exists(a.output) else 0
    print(f"exported {a.output}: opset {graph.opset_imports.get('')}, {len(graph)} nodes, "
          f"{len(graph.inputs)} input(s), {len(graph.outputs)} output(s), {size / 1024:.1f} KiB, "
          f"{sum(result.timings.values()):.2f}s")
    if result.state_outputs:
        print("state outputs (updated buffers, after the model's own): "
              + ", ".join(result.state_outputs))
    if result.decomposed:
        print(f"decomposed by PyTorch (no conversion of their own): {', '.join(result.decomposed)}")
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if a.verify:
        print("verified: onnxruntime matches eager PyTorch on the example inputs")


def cmd_export(a: argparse.Namespace) -> int:
    model, inputs = _build_model(a)
    kwargs = _export_kwargs(a, model, inputs)
    import onnxplug

    result = _export_logging_stages(lambda: onnxplug.export(model, inputs, a.output, **kwargs))
    _print_export_summary(a, result)
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
    from .opsets import NEWEST_OPSET
    from .registry import Registry

    return [str(c) for c in Registry.build(loaded.symbolics, NEWEST_OPSET).conflicts()]


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
    _print_plugins(report)
    return 0


def _print_plugins(report: dict[str, Any]) -> None:
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
    from .decompose import export_decompositions
    from .lowering import op_key

    keys = {op_key(op) for op in export_decompositions()}
    return sorted(k for k in keys if registry.lookup(k) is None)


def _registries(loaded, opsets: list[int]) -> dict[int, Any]:
    from .registry import Registry

    return {o: Registry.build(loaded.symbolics, o) for o in opsets}


def _all_opsets(opset: int | None) -> list[int]:
    from .opsets import supported_opsets

    return [opset] if opset else list(supported_opsets())


def ops_report(loaded, opset: int | None, plugin: str | None) -> dict[str, Any]:
    """For every op key: the standard-domain winner per opset range, and custom-domain forms."""
    opsets = _all_opsets(opset)
    registries = _registries(loaded, opsets)
    by_key: dict[str, list] = defaultdict(list)
    for s in loaded.symbolics:
        by_key[s.key].append(s)
    ops = []
    for key, entries in sorted(by_key.items()):
        if plugin and not any(s.plugin == plugin for s in entries):
            continue
        served = _ranges([(o, registries[o].winner(key)) for o in opsets])
        custom = [{"domain": s.domain, "plugin": s.plugin, "from": s.opset,
                   "function": s.qualname} for s in entries if s.domain]
        if served or custom:
            ops.append({"key": key, "served": served, "custom_domain": custom})
    top = registries[opsets[-1]]
    return {"opset": opset, "opsets": [opsets[0], opsets[-1]], "plugin": plugin, "ops": ops,
            "decomposition_only": decomposition_only(top) if not plugin else [],
            "conflicts": [str(c) for c in top.conflicts()
                          if not plugin or plugin in (c.winner, *c.losers)]}


def _shown_path(location: str) -> str:
    """``file:line`` relative to the current folder when the file is under it."""
    path, _, line = location.rpartition(":")
    if not path:
        return location
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return location
    return f"{rel}:{line}" if not rel.startswith("..") else location


def where_report(loaded, key: str) -> dict[str, Any]:
    """For each opset from the lowest to the newest: the conversion that serves ``key`` there.

    Each row gives the plugin, the function's qualname, the key and opset it was registered
    for, and ``location``: the file:line of its ``def``, or for a factory-made conversion the
    line that registered it.
    """
    from .registry import validate_key

    validate_key(key)
    registries = _registries(loaded, _all_opsets(None))
    rows = []
    for opset, registry in registries.items():
        entry = registry.lookup(key)
        rows.append({"opset": opset} if entry is None else {
            "opset": opset, "plugin": entry.plugin, "function": entry.qualname,
            "registered": f"{entry.key} from opset {entry.opset}",
            "location": _shown_path(entry.location)})
    bare = _bare_key(key)
    custom = [{"domain": s.domain, "plugin": s.plugin, "from": s.opset, "function": s.qualname,
               "location": _shown_path(s.location)}
              for s in loaded.symbolics if s.key in (key, bare) and s.domain]
    return {"key": key, "opsets": rows, "custom_domain": custom}


def _bare_key(key: str) -> str:
    """``aten::add.Tensor`` -> ``aten::add`` (the name export falls back to)."""
    namespace, _, name = key.partition("::")
    return f"{namespace}::{name.split('.', 1)[0]}"


def _print_where(report: dict[str, Any]) -> None:
    rows = report["opsets"]
    print(f"{report['key']}: the conversion that serves it at each opset")
    for r in rows:
        if "plugin" not in r:
            print(f"  {r['opset']:>2}  -  (no conversion: PyTorch's decomposition, if it has one)")
            continue
        print(f"  {r['opset']:>2}  {r['plugin']}: {r['function']}  ({r['registered']})  "
              f"{r['location']}")
    for c in report["custom_domain"]:
        print(f"  [{c['domain']}, with custom_opsets, from opset {c['from']}]  {c['plugin']}: "
              f"{c['function']}  {c['location']}")


def _check_ops_args(a: argparse.Namespace, loaded) -> None:
    from .opsets import MIN_OPSET, NEWEST_OPSET

    if a.opset is not None and not MIN_OPSET <= a.opset <= NEWEST_OPSET:
        raise CliError(f"--opset must be from {MIN_OPSET} to {NEWEST_OPSET} (the newest opset the "
                       "installed onnx defines).")
    if a.plugin and a.plugin not in {p.name for p in loaded.plugins}:
        raise CliError(f"no loaded plugin is named {a.plugin!r}; see `onnxplug plugins`.")
    if a.where is not None:
        if a.opset is not None or a.plugin:
            raise CliError("--where KEY lists every opset for one key: drop --opset and --plugin.")
        if "::" not in a.where:
            raise CliError(f"--where {a.where!r}: give an op key with its namespace, e.g. "
                           f"aten::{a.where} (`onnxplug ops` lists them).")
        bare = _bare_key(a.where)
        if not any(s.key in (a.where, bare) for s in loaded.symbolics):
            raise CliError(f"no plugin registers {a.where!r}"
                           + (f" or {bare!r}" if bare != a.where else "")
                           + "; `onnxplug ops` lists the keys with a conversion.")


def cmd_ops(a: argparse.Namespace) -> int:
    from .plugins import load_plugins

    loaded = load_plugins()
    _check_ops_args(a, loaded)
    if a.where is not None:
        report = where_report(loaded, a.where)
        print(json.dumps(report, indent=2)) if a.json else _print_where(report)
        return 0
    report = ops_report(loaded, a.opset, a.plugin)
    if a.json:
        print(json.dumps(report, indent=2))
        return 0
    _print_ops(a, report, loaded)
    return 0


def _print_ops(a: argparse.Namespace, report: dict[str, Any], loaded) -> None:
    where = f"at opset {a.opset}" if a.opset else f"at opsets {report['opsets'][0]}-{report['opsets'][1]}"
    print(f"{len(report['ops'])} op keys with a conversion {where}"
          + (f" (plugin {a.plugin})" if a.plugin else ""))
    width = max((len(o["key"]) for o in report["ops"]), default=10)
    for o in report["ops"]:
        parts = [_served_text(a, loaded, o, r) for r in o["served"]]
        parts += [f"[{c['domain']}: {c['plugin']}, with custom_opsets]" for c in o["custom_domain"]]
        print(f"  {o['key']:<{width}}  " + "; ".join(parts or ["-"]))
    if not a.plugin:
        dec = report["decomposition_only"]
        at = f"at opset {a.opset}" if a.opset else "at the newest opset"
        hint = "" if a.decomposed else "; --decomposed lists them"
        print(f"decomposition only: {len(dec)} ATen ops have a PyTorch decomposition and no "
              f"conversion of their own {at}{hint}")
        for k in dec if a.decomposed else ():
            print(f"  {k}")
    print(f"conflicts: {len(report['conflicts'])}")
    for c in report["conflicts"]:
        print(f"  {c}")


def _served_text(a: argparse.Namespace, loaded, op: dict, r: dict) -> str:
    """``7-19: opset (fn)`` over every opset; ``opset (fn, from opset 7)`` at one opset."""
    if a.opset:
        return f"{r['plugin']} ({r['function']}, from opset {_first(loaded, op, r)})"
    span = f"{r['from']}-{r['to']}" if r["to"] != r["from"] else f"{r['from']}"
    return f"{span}: {r['plugin']} ({r['function']})"


def _first(loaded, op: dict, served: dict) -> int:
    opsets = [s.opset for s in loaded.symbolics
              if s.key == op["key"] and s.qualname == served["function"]]
    return min(opsets) if opsets else served["from"]


# ----------------------------------------------------------------------------- check

def cmd_check(a: argparse.Namespace) -> int:
    import onnx

    path = Path(a.model)
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    refuse_unsafe_model(path)
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


def refuse_unsafe_model(path: Path) -> None:
    """Parse ``path`` without reading external data; refuse a file that is not an ONNX model and
    external data that would be read from outside the model's folder (absolute paths, ``..``,
    links), before the checker or onnxruntime open anything."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # DecodeError, RecursionError...: a hostile or broken file
        raise CliError(f"{path} is not an ONNX model: it does not parse as a ModelProto "
                       f"({type(exc).__name__}: {exc}). Check that the file is complete (not "
                       "truncated) and really an .onnx file.") from None
    if not model.ir_version or not model.HasField("graph"):
        raise CliError(f"{path} is not an ONNX model: it has no ir_version or no graph. Check "
                       "that it is the right file and that it is complete.")
    folder = path.resolve().parent
    for tensor in _external_tensors(model):
        location = {e.key: e.value for e in tensor.external_data}.get("location", "")
        target = (path.parent / location).resolve()
        if os.path.isabs(location) or (target != folder and folder not in target.parents):
            raise CliError(
                f"{path}: tensor {tensor.name!r} keeps its data in {location!r}, outside the "
                f"model's folder {folder}; refusing to read it. External data files must sit "
                "in the model's folder (a relative location, no '..', no link leading out).")


def _external_tensors(model: Any):
    import onnx

    graphs = [model.graph] + [f for f in model.functions]
    while graphs:
        graph = graphs.pop()
        tensors = list(getattr(graph, "initializer", ()))
        for sparse in getattr(graph, "sparse_initializer", ()):
            tensors += [sparse.values, sparse.indices]
        for node in graph.node:
            for attr in node.attribute:
                tensors += ([attr.t] if attr.HasField("t") else []) + list(attr.tensors)
                graphs += ([attr.g] if attr.HasField("g") else []) + list(attr.graphs)
        yield from (t for t in tensors if t.data_location == onnx.TensorProto.EXTERNAL)


# ----------------------------------------------------------------------------- test-plugin

def cmd_test_plugin(a: argparse.Namespace, extra: list[str]) -> int:
    cmd = [sys.executable, "-m", "pytest", "--onnxplug-plugin", a.name, *extra]
    print("onnxplug: " + " ".join(cmd[2:]), file=sys.stderr)
    return subprocess.call(cmd)


# ----------------------------------------------------------------------------- main

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="onnxplug", description="PyTorch to ONNX, through plugins.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_export_parser(sub)

    pl = sub.add_parser("plugins", help="list installed plugins, broken ones and conflicts")
    pl.add_argument("--json", action="store_true")

    o = sub.add_parser("ops", help="which plugin serves each op at each opset")
    o.add_argument("--opset", type=int, default=None)
    o.add_argument("--plugin", default=None, help="only ops this plugin registers")
    o.add_argument("--decomposed", action="store_true",
                   help="list the ops that only have PyTorch's decomposition")
    o.add_argument("--where", metavar="KEY", default=None,
                   help="for each opset, the conversion serving op KEY and its file:line")
    o.add_argument("--json", action="store_true")

    c = sub.add_parser("check", help="run the ONNX checker and load the model in onnxruntime")
    c.add_argument("model")

    t = sub.add_parser("test-plugin", help="run a plugin's declared test cases (pytest)")
    t.add_argument("name", help="entry-point or distribution name of the plugin")
    return p


def _add_export_parser(sub) -> None:
    from .opsets import DEFAULT_OPSET

    e = sub.add_parser("export", help="export a model built by MODULE:FACTORY")
    e.add_argument("factory", metavar="MODULE:FACTORY",
                   help="a function returning (module, example_inputs), e.g. onnxplug.example:build")
    e.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    e.add_argument("--opset", type=int, default=None, help=f"target opset (default {DEFAULT_OPSET})")
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
    e.add_argument("--operator-export-type", choices=EXPORT_TYPES, default="ONNX",
                   help="ONNX (default): standard ONNX or an error; ONNX_ATEN: every ATen op as "
                        "an ATen node; ONNX_ATEN_FALLBACK: an ATen node where no conversion "
                        "exists; ONNX_FALLTHROUGH: unconvertible ops kept in a custom domain")
    e.add_argument("--training", choices=TRAINING_MODES, default="EVAL",
                   help="EVAL (default), PRESERVE (follow the model's train/eval mode) or "
                        "TRAINING (Dropout kept, BatchNorm with its running-statistics outputs)")
    e.add_argument("--no-autograd-inlining", action="store_true",
                   help="keep each torch.autograd.Function call as one op (its symbolic, a "
                        "registered conversion, or with ONNX_FALLTHROUGH a custom-domain node)")
    e.add_argument("--no-export-params", action="store_true",
                   help="parameters and buffers become graph inputs after the model's inputs")
    e.add_argument("--keep-initializers-as-inputs", choices=("yes", "no"), default=None,
                   help="whether initializers are also graph inputs (default: no for ONNX, "
                        "yes for the other export types)")
    e.add_argument("--export-modules-as-functions", action="store_true",
                   help="every nn.Module call becomes an ONNX local function (opset 15+)")
    e.add_argument("--verbose", action="store_true",
                   help="print the exported graph node by node and the exporter's log")


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

"""Quick developer loop: export OpInfo samples with onnxplug at one opset and report failures.

    python benchmarks/run_onnxplug_ops.py --opset 17 --ops add,sub,mul   (prefix match)
    python benchmarks/run_onnxplug_ops.py --opset 9 --all --samples 3
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(__file__))
warnings.filterwarnings("ignore")

import torch  # noqa: E402

import onnxplug  # noqa: E402
from onnxplug.verify import compare, flat_tensors, run_onnxruntime  # noqa: E402
from opinfo_cases import cases  # noqa: E402


def check_case(case, opset: int) -> str | None:
    """None when onnxplug's export of ``case`` matches eager PyTorch, else the reason."""
    try:
        with torch.no_grad():
            expected = flat_tensors(case.module(*case.inputs))
    except Exception as exc:  # noqa: BLE001
        return None if False else f"eager failed: {exc}"[:200]
    try:
        r = onnxplug.export(case.module, case.inputs, None, opset_version=opset)
        actual = run_onnxruntime(r.model, list(case.inputs))
        compare(expected, actual, rtol=1e-3, atol=1e-4)
    except Exception as exc:  # noqa: BLE001
        first = str(exc).strip().splitlines()
        return f"{type(exc).__name__}: {' | '.join(first[:3])}"[:300]
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--ops", default="")
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--all", action="store_true")
    a = ap.parse_args()
    prefixes = [p for p in a.ops.split(",") if p]
    flt = None if a.all or not prefixes else (lambda n: any(n == p or n.startswith(p + ".") for p in prefixes))
    by_op: dict[str, list] = collections.defaultdict(list)
    for case in cases(flt, a.samples):
        by_op[case.op].append(check_case(case, a.opset))
    ok = [op for op, rs in by_op.items() if all(r is None for r in rs)]
    for op, rs in sorted(by_op.items()):
        bad = [r for r in rs if r]
        print(("PASS " if not bad else "FAIL ") + op + ("" if not bad else "  " + bad[0]))
    print(f"{len(ok)}/{len(by_op)} ops pass at opset {a.opset}")


if __name__ == "__main__":
    main()

"""Plugin object of onnxplug-contrib (entry point ``contrib``).

Symbolic functions (``symbolics.py``) convert single ops to ``com.microsoft`` ops; IR passes
(``fusions.py``) fuse patterns that span several ops. Both take effect only when the user names
``com.microsoft`` in ``custom_opsets``.
"""

from __future__ import annotations

import onnx_ir as ir
import onnx_ir.passes.common as common

import onnxplug

from . import fusions, symbolics

MS = symbolics.MS
VERSION = 1
MAX_ROUNDS = 4


def fuse(model: ir.Model, context) -> dict[str, int] | None:
    """Run every fusion of ``fusions.FUSIONS`` until none applies; record the domain version.

    A no-op unless ``com.microsoft`` is in the export's ``custom_opsets``. Returns the counts
    of what each fusion rewrote (the core ignores the value; tests and benchmarks may read it).
    """
    if MS not in context.options.custom_opsets:
        return None
    graph = model.graph
    done: dict[str, int] = {}
    for _ in range(MAX_ROUNDS):
        changed = 0
        for name, fn in fusions.FUSIONS:
            n = fn(graph)
            if n:
                done[name] = done.get(name, 0) + n
                changed += n
        if not changed:
            break
        common.RemoveUnusedNodesPass()(model)
    if any(n.domain == MS for n in graph):
        graph.opset_imports[MS] = context.options.custom_opsets[MS]
    return done


@onnxplug.hookimpl
def onnxplug_register_symbolics(register):
    for fn in symbolics.ALL:
        register(fn)


@onnxplug.hookimpl
def onnxplug_register_ir_passes(register):
    register(fuse, order=500, name="contrib_fusions")


@onnxplug.hookimpl
def onnxplug_custom_opsets():
    return {MS: VERSION}


@onnxplug.hookimpl
def onnxplug_register_test_cases(register):
    from .cases import CASES

    for case in CASES:
        register(case)

"""Shared helpers for the functions plugin's tests (a uniquely named module: several test
folders have a conftest.py).

``both(model, args, functions=True, **export_kwargs)`` exports ``model`` flat and with
``export_modules_as_functions=functions``; each model is checked by onnx.checker (full check),
run in onnxruntime and compared with eager PyTorch, and the two exports' outputs are compared
with each other (rtol 1e-3, atol 1e-4). It returns ``(with_functions, flat)`` ExportResults.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import torch

from onnxplug.testing import assert_matches, export_and_run


@dataclass
class Exported:
    result: Any
    outputs: list

    @property
    def model(self) -> onnx.ModelProto:
        return self.result.model


def export_both(model: Any, args: Any, functions: Any = True, *, opset: int = 17,
                run_inputs: Any = None, rtol: float = 1e-3, atol: float = 1e-5,
                **export_kwargs: Any) -> tuple[Exported, Exported]:
    out = []
    for option in (functions, False):
        reference = copy.deepcopy(model) if isinstance(model, torch.nn.Module) else model
        result, outputs = export_and_run(model, args, opset=opset, run_inputs=run_inputs,
                                         export_modules_as_functions=option, **export_kwargs)
        if isinstance(reference, torch.nn.Module):
            reference.eval()
        assert_matches(reference, run_inputs if run_inputs is not None else args, outputs,
                       rtol=rtol, atol=atol)
        out.append(Exported(result, outputs))
    fn, flat = out
    assert len(fn.outputs) == len(flat.outputs)
    for a, b in zip(fn.outputs, flat.outputs):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-3, atol=1e-4)
    return fn, flat


def functions_by_name(model: onnx.ModelProto) -> dict[str, onnx.FunctionProto]:
    return {f.name: f for f in model.functions}


def calls(model: onnx.ModelProto, name: str, nodes=None) -> list[onnx.NodeProto]:
    """Call nodes of function ``name`` in the graph and in every function body."""
    found = []
    for n in model.graph.node if nodes is None else nodes:
        if n.op_type == name:
            found.append(n)
    if nodes is None:
        for f in model.functions:
            found += [n for n in f.node if n.op_type == name]
    return found

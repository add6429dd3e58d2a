"""``export(verify=True)``: run the exported model in onnxruntime and compare with PyTorch."""

from __future__ import annotations

from typing import Any

import torch

from .errors import VerificationError
from .verify import compare, flat_tensors, run_onnxruntime


def eager_outputs(model: Any, args: tuple, kwargs: dict) -> list:
    if isinstance(model, torch.export.ExportedProgram):
        model = model.module()
    with torch.no_grad():
        return flat_tensors(model(*args, **kwargs))


def verify_export(model: Any, args: tuple, kwargs: dict, proto: Any, ir_model: Any,
                  options: Any, ep: Any) -> None:
    expected = eager_outputs(model, args, kwargs)
    inputs: list[Any] = [x for x in flat_tensors((args, kwargs)) if isinstance(x, torch.Tensor)]
    if not options.export_params and isinstance(model, torch.nn.Module):
        inputs += list(model.state_dict().values())
    try:
        actual = run_onnxruntime(proto if proto is not None else ir_model, inputs)
    except Exception as exc:
        raise VerificationError(f"onnxruntime could not run the exported model: {exc}") from exc
    names = [v.name for v in ir_model.graph.outputs]
    compare(expected, actual, names=names)

"""Export a model, check it, run it in onnxruntime and compare with eager PyTorch."""

from __future__ import annotations

import copy
from typing import Any

import onnx
import torch

from ..capture import split_args
from ..opsets import DEFAULT_OPSET, NEWEST_OPSET
from ..verify import compare, flat_tensors, own_outputs, run_onnxruntime

__all__ = ["DEFAULT_OPSET", "NEWEST_OPSET", "assert_matches", "export_and_compare",
           "export_and_run", "input_tensors", "load_checked"]


def load_checked(path: Any) -> onnx.ModelProto:
    """Load a saved model (external data included) and run the full checker on it."""
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    return model


def input_tensors(args: Any, kwargs: dict | None) -> list[torch.Tensor]:
    """The tensors of ``args``/``kwargs`` in the order the exported model takes them as inputs."""
    a, kw = split_args(args, kwargs)
    return [x for x in flat_tensors((a, kw)) if isinstance(x, torch.Tensor)]


def export_and_run(model: Any, args: Any, *, opset: int = DEFAULT_OPSET, kwargs: dict | None = None,
                   run_inputs: Any = None, **export_kwargs: Any):
    """Export ``model`` (checked by onnx.checker) and run it in onnxruntime.

    Returns ``(result, outputs)``: every graph output, the state outputs
    (``result.state_outputs``, e.g. a training-mode BatchNorm's updated running statistics)
    included, last. ``run_inputs`` (a tuple like ``args``) runs the model on other
    inputs than the example ones, e.g. to test dynamic axes at another size.
    """
    from ..export import export

    result = export(model, args, None, opset_version=opset, kwargs=kwargs, **export_kwargs)
    onnx.checker.check_model(result.model, full_check=True)
    feeds = input_tensors(run_inputs if run_inputs is not None else args, kwargs)
    if not export_kwargs.get("export_params", True) and isinstance(model, torch.nn.Module):
        feeds += list(model.state_dict().values())
    return result, run_onnxruntime(result.model, feeds)


def assert_matches(model: Any, args: Any, outputs: Any, *, kwargs: dict | None = None,
                   rtol: float = 1e-3, atol: float = 1e-5) -> None:
    """Compare onnxruntime ``outputs`` with eager ``model(*args)``; raise with the difference."""
    a, kw = split_args(args, kwargs)
    with torch.no_grad():
        expected = flat_tensors(model(*a, **kw))
    compare(expected, outputs, rtol=rtol, atol=atol)


def export_and_compare(model: Any, args: Any, *, opset: int = DEFAULT_OPSET, kwargs: dict | None = None,
                       run_inputs: Any = None, rtol: float = 1e-3, atol: float = 1e-5,
                       **export_kwargs: Any):
    """Export, check, run in onnxruntime and compare with eager PyTorch; return the result.

    The eager reference runs on a deep copy of the model in the mode the export used, so the
    comparison is fair for training-mode exports and the caller's model is left untouched.
    Only the model's own outputs are compared: ``result.state_outputs`` are not eager outputs.
    """
    reference = copy.deepcopy(model) if isinstance(model, torch.nn.Module) else model
    result, outputs = export_and_run(model, args, opset=opset, kwargs=kwargs, run_inputs=run_inputs,
                                     **export_kwargs)
    if isinstance(reference, torch.nn.Module):
        from ..enums import TrainingMode

        mode = export_kwargs.get("training", TrainingMode.EVAL)
        if mode == TrainingMode.EVAL:
            reference.eval()
        elif mode == TrainingMode.TRAINING:
            reference.train()
    assert_matches(reference, run_inputs if run_inputs is not None else args,
                   own_outputs(outputs, len(result.state_outputs)),
                   kwargs=kwargs, rtol=rtol, atol=atol)
    return result

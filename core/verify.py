"""Running an exported model in onnxruntime and comparing with eager PyTorch.

Used by ``export(verify=True)``, the CLI's ``--verify``, the plugin test kit and the tests, so
there is one way to feed inputs and one comparison.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils import _pytree as pytree

from .errors import VerificationError


def to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        import ml_dtypes

        return t.view(torch.uint16).numpy().view(ml_dtypes.bfloat16)
    return t.resolve_conj().resolve_neg().numpy()


def flat_tensors(value: Any) -> list[Any]:
    """Tensors (and numbers) of a nested output structure, in order; None dropped."""
    leaves = pytree.tree_leaves(value)
    return [x for x in leaves if isinstance(x, (torch.Tensor, int, float, bool))]


def state_output_names(model: Any) -> list[str]:
    """The names of ``model``'s state outputs (``onnx_ir.Model`` or ``ModelProto``): graph
    outputs after the model's own that carry the new state of buffers (a training-mode
    BatchNorm's updated running statistics), as recorded under ``onnxplug.state_outputs``."""
    import json

    from .lowering import STATE_OUTPUTS_KEY

    props = getattr(model, "metadata_props", None)
    if props is None:
        return []
    if isinstance(props, Mapping):
        raw = props.get(STATE_OUTPUTS_KEY)
    else:  # a ModelProto's repeated StringStringEntryProto
        raw = next((p.value for p in props if p.key == STATE_OUTPUTS_KEY), None)
    return list(json.loads(raw)) if raw else []


def own_outputs(actual: Sequence[Any], n_state: int) -> list[Any]:
    """``actual`` without its last ``n_state`` (state) outputs: what eager PyTorch returns."""
    return list(actual[:len(actual) - n_state] if n_state else actual)


def run_onnxruntime(model: Any, inputs: Sequence[Any]) -> list[np.ndarray]:
    """Run ``model`` (ModelProto, bytes or path) on ``inputs`` given in graph-input order."""
    return run_session(ort_session(model), inputs)


def ort_session(model: Any) -> Any:
    """An onnxruntime CPU session for ``model`` (ModelProto, bytes or path)."""
    import onnxruntime as ort

    if hasattr(model, "SerializeToString"):
        model = model.SerializeToString()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def run_session(sess: Any, inputs: Sequence[Any]) -> list[np.ndarray]:
    names = [i.name for i in sess.get_inputs()]
    feeds = {}
    for name, x in zip(names, inputs):
        feeds[name] = to_numpy(x) if isinstance(x, torch.Tensor) else np.asarray(x)
    return sess.run(None, feeds)


def compare(expected: Sequence[Any], actual: Sequence[np.ndarray], rtol: float = 1e-3,
            atol: float = 1e-5, names: Sequence[str] | None = None, values: bool = True) -> None:
    """Raise :class:`VerificationError` naming the first output that differs, and by how much.

    A complex PyTorch output is compared as ``torch.view_as_real`` of it: the form the export
    returns complex outputs in.

    ``values=False`` compares shapes and dtypes only: for ops whose values are undefined
    (``empty_like`` returns uninitialised memory).
    """
    if len(expected) != len(actual):
        raise VerificationError(
            f"the ONNX model has {len(actual)} output(s), PyTorch returned {len(expected)}.")
    for i, (e, a) in enumerate(zip(expected, actual)):
        label = names[i] if names and i < len(names) else f"output {i}"
        if isinstance(e, torch.Tensor) and e.is_complex():  # exported as view_as_real pairs
            e = torch.view_as_real(e.resolve_conj())
        e_np = to_numpy(e) if isinstance(e, torch.Tensor) else np.asarray(e)
        a = np.asarray(a)
        if e_np.shape != a.shape:
            raise VerificationError(f"{label}: shape {a.shape} from onnxruntime, {e_np.shape} from PyTorch.")
        if e_np.dtype != a.dtype:
            raise VerificationError(f"{label}: dtype {a.dtype} from onnxruntime, {e_np.dtype} from PyTorch.")
        if not values:
            continue
        if e_np.dtype.kind in "biuSO" or e_np.dtype == np.bool_:
            if not np.array_equal(e_np, a):
                bad = int(np.sum(e_np != a))
                raise VerificationError(f"{label}: {bad} of {e_np.size} element(s) differ.")
            continue
        e64, a64 = e_np.astype(np.float64), a.astype(np.float64)
        if not np.allclose(a64, e64, rtol=rtol, atol=atol, equal_nan=True):
            diff = np.abs(a64 - e64)
            diff = np.where(np.isnan(diff), np.inf, diff)
            idx = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
            raise VerificationError(
                f"{label} differs: max abs difference {float(np.max(diff)):.3g} at index "
                f"{tuple(int(i) for i in idx)} (onnxruntime {a64[idx]!r}, PyTorch {e64[idx]!r}); "
                f"rtol={rtol}, atol={atol}.")


def eager_outputs(model: Any, args: tuple, kwargs: dict) -> list:
    """The model's outputs, flattened. It runs on a copy of the inputs (a decoder updates its
    cache in place, and the caller's inputs must stay those the graph is fed), and the model's
    buffers are restored afterwards (a train-mode BatchNorm updates its running statistics)."""
    if isinstance(model, torch.export.ExportedProgram):
        model = model.module()
    args, kwargs = copy.deepcopy((args, kwargs))
    with torch.no_grad(), _buffers_restored(model):
        return flat_tensors(model(*args, **kwargs))


@contextlib.contextmanager
def _buffers_restored(model: Any):
    """Put the module's buffers back afterwards: a train-mode run updates BatchNorm's running
    statistics in place, and verifying must not change the user's model."""
    if not isinstance(model, torch.nn.Module):
        yield
        return
    saved = [(b, b.clone()) for b in model.buffers()]
    try:
        yield
    finally:
        for b, old in saved:
            b.copy_(old)


def verify_export(model: Any, args: tuple, kwargs: dict, proto: Any, ir_model: Any,
                  options: Any, ep: Any) -> None:
    """Run the exported model in onnxruntime at the example inputs and, when it has dynamic
    axes, at a second size of every one of them (within the range torch.export inferred), and
    compare each run with eager PyTorch. A size frozen inside the graph fails the second run."""
    from .dynamic import dynamic_leaf_axes, resized_inputs, second_sizes

    try:
        sess = ort_session(proto if proto is not None else ir_model)
    except Exception as exc:
        raise VerificationError(f"onnxruntime could not load the exported model: {exc}") from exc
    n_state = len(state_output_names(ir_model))
    names = own_outputs([v.name for v in ir_model.graph.outputs], n_state)
    _verify_at(sess, model, args, kwargs, options, names, "", n_state)
    axes = dynamic_leaf_axes(model, args, kwargs, options)
    if ep is None or not any(axes):
        return
    sizes = second_sizes(ep, args, kwargs, axes)
    args2, kwargs2 = resized_inputs(args, kwargs, sizes)
    where = ", ".join(dict.fromkeys(label for _, label in sizes.values()))
    _verify_at(sess, model, args2, kwargs2, options, names, f" at the second size ({where})",
               n_state)


def _verify_at(sess: Any, model: Any, args: tuple, kwargs: dict, options: Any,
               names: list[str], where: str, n_state: int = 0) -> None:
    expected = eager_outputs(model, args, kwargs)
    inputs: list[Any] = [x for x in flat_tensors((args, kwargs)) if isinstance(x, torch.Tensor)]
    if not options.export_params and isinstance(model, torch.nn.Module):
        inputs += list(model.state_dict().values())
    try:
        actual = run_session(sess, inputs)
    except Exception as exc:
        raise VerificationError(f"onnxruntime could not run the exported model{where}: {exc}\n"
                                "A size fixed inside the graph is the usual cause.") from exc
    try:
        compare(expected, own_outputs(actual, n_state), names=names)
    except VerificationError as exc:
        raise VerificationError(f"{exc}{where}") from None

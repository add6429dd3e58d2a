"""Training-mode ``aten::batch_norm`` as the reference exporter writes it at opsets 9 to 13.

Before opset 14 ONNX has no ``training_mode`` attribute: a ``BatchNormalization`` with all five
outputs (Y, running mean, running var, saved mean, saved var) normalises with the batch's own
statistics. :func:`batch_norm` emits that node for a call with running statistics in a
training-mode export; everything else (inference, no running statistics, an ``EVAL`` export of
a call that asks for batch statistics) is opset 7's conversion.

The updated running mean and variance are graph outputs after the model's own (named
``<buffer>.updated``, see ``onnxplug.lowering.STATE_OUTPUT``): onnxruntime normalises with the
batch statistics only when they are used, and they are the state a training step produces. As
ONNX defines it, the running variance is updated with the batch's biased variance (PyTorch uses
the unbiased one); Y and the running mean match PyTorch.

This is the default conversion of ``aten::batch_norm`` from opset 9 to 13 (opset 14's module
takes over from 14). Users are told about the extra outputs in docs/usage.md, "Training mode".
"""

from __future__ import annotations

import torch

from onnxplug import TrainingMode
from onnxplug.lowering import STATE_OUTPUT

from ..forms import unsqueeze
from ..helpers import reshape
from ..opset7 import norm as norm7
from ..registration import op

TRAINING_DTYPES = (torch.float32, torch.float64)  # onnxruntime's training-mode kernels
OUTPUTS_BEFORE_14 = 5  # Y, running mean, running var, saved mean, saved var


def reference_form_applies(g, x, running_mean, training) -> bool:
    """Whether a call gets the training-mode node: batch statistics asked for, running
    statistics to update, a training-mode export, and a dtype onnxruntime trains in."""
    return (bool(training) and running_mean is not None and g.options.training != TrainingMode.EVAL
            and g.dtype(x) in TRAINING_DTYPES and isinstance(g.shape(x)[1], int))


def node_inputs(g, x, weight, bias, running_mean, running_var):
    """``(x, scale, bias, mean, var)``: absent affine parameters become ones and zeros, and a
    ``(N, C)`` input gets a trailing axis of 1 (undone by :func:`node_output`)."""
    c, dt = g.shape(x)[1], g.dtype(x)
    scale = g.constant(torch.ones(c, dtype=dt)) if weight is None else weight
    shift = g.constant(torch.zeros(c, dtype=dt)) if bias is None else bias
    return (unsqueeze(g, x, [2]) if g.rank(x) == 2 else x), scale, shift, running_mean, running_var


def node_output(g, x, y):
    return reshape(g, y, [0, -1]) if g.rank(x) == 2 else y


def onnx_momentum(momentum):
    """ONNX's momentum weighs the running statistic, PyTorch's the batch's."""
    return None if momentum is None else 1.0 - float(momentum)


def state_outputs(g, x, running_mean, running_var, new_mean, new_var):
    """Declare the updated statistics (dtype, shape ``(C,)``) and mark them graph outputs."""
    for old, new in ((running_mean, new_mean), (running_var, new_var)):
        g.set_type(new, dtype=g.dtype(old), shape=[g.shape(x)[1]])
        new.meta[STATE_OUTPUT] = f"{old.name or 'running_stat'}.updated"


@op("aten::batch_norm")
def batch_norm(g, x, weight, bias, running_mean, running_var, training, momentum, eps,
               cudnn_enabled=True):
    """The five-output ``BatchNormalization`` (training mode at opsets 9-13)."""
    if not reference_form_applies(g, x, running_mean, training):
        return norm7.batch_norm(g, x, weight, bias, running_mean, running_var, training,
                                momentum, eps, cudnn_enabled)
    outs = g.op("BatchNormalization", *node_inputs(g, x, weight, bias, running_mean, running_var),
                epsilon_f=eps, momentum_f=onnx_momentum(momentum), outputs=OUTPUTS_BEFORE_14)
    state_outputs(g, x, running_mean, running_var, outs[1], outs[2])
    for saved in outs[3:]:
        g.set_type(saved, dtype=g.dtype(x), shape=[g.shape(x)[1]])
    return node_output(g, x, outs[0])

"""Training-mode ``aten::batch_norm`` as ``BatchNormalization(training_mode=1)``, from opset 14.

Opset 14 made training an attribute: the node has three outputs, Y and the updated running mean
and variance, the reference exporter's form from this opset on. Which calls get it, and how the
updated statistics become graph outputs, is as at opsets 9-13 (``opset9.norm_training``).

The default conversion of ``aten::batch_norm`` from opset 14. :func:`training_forms` is kept
as an alias for exports written when this form was opt-in.
"""

from __future__ import annotations

from collections.abc import Callable

from ..opset7 import norm as norm7
from ..opset9 import norm_training as before14
from ..registration import op

OUTPUTS = 3  # Y, running mean, running var


@op("aten::batch_norm")
def batch_norm(g, x, weight, bias, running_mean, running_var, training, momentum, eps,
               cudnn_enabled=True):
    """``BatchNormalization(training_mode=1)`` with its running-statistics outputs."""
    if not before14.reference_form_applies(g, x, running_mean, training):
        return norm7.batch_norm(g, x, weight, bias, running_mean, running_var, training,
                                momentum, eps, cudnn_enabled)
    outs = g.op("BatchNormalization", *before14.node_inputs(g, x, weight, bias, running_mean, running_var),
                epsilon_f=eps, momentum_f=before14.onnx_momentum(momentum), training_mode_i=1,
                outputs=OUTPUTS)
    before14.state_outputs(g, x, running_mean, running_var, outs[1], outs[2])
    return before14.node_output(g, x, outs[0])


def training_forms(opset: int) -> dict[str, Callable]:
    """``custom_symbolics`` naming the reference's training-mode BatchNorm form at ``opset``
    (9 or later; before 9 the composition stays).

    Kept as an alias: these forms are now the default, so passing this changes nothing::

        onnxplug.export(model, args, training=TrainingMode.TRAINING, opset_version=17,
                        custom_symbolics=training_forms(17))
    """
    if opset < 9:
        return {}
    return {"aten::batch_norm": batch_norm if opset >= 14 else before14.batch_norm}

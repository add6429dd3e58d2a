"""Graph-quality IR passes: fewer nodes and faster graphs, same numbers.

Each pass is an ``onnx_ir`` in-place pass (``pass_(model)`` returns a ``PassResult``) built
from the export's options, so it can also be run on any ``onnx_ir.Model``::

    FoldConvBatchNormPass(options)(model)

:data:`OPTIMIZE_PASSES` lists them as ``(fn, order, name)`` for the core's plugin, where
``fn(model, context)`` builds the pass from ``context.options``. Orders (the core's cleanup
passes run at 100 and 900-990):

=====  ===============================  ==================================================================
order  name                             does
=====  ===============================  ==================================================================
200    fold_static_shapes               Shape/Size/Gather(Shape) of known dims -> constant
210    fold_constants                   nodes of constant inputs -> constant (onnxruntime or onnx.reference)
300    eliminate_noops                  Identity, same-type Cast, no-op Reshape/Transpose/Expand/Slice, x * 1
310    collapse_layout_chains           Transpose(Transpose), Reshape(Reshape) -> one node
320    collapse_round_trips             Unsqueeze(Squeeze(x)) -> x; Cast(Where(Cast(x))) -> Where(x)
400    fold_conv_batchnorm              eval BatchNormalization into the Conv before it
450    fuse_matmul_add                  2-D MatMul + Add -> Gemm
460    canonical_gelu                   Erf(Mul(x, 1/sqrt 2)) -> Erf(Div(x, sqrt 2)) (onnxruntime fuses it)
470    share_tied_transposes            a transposed copy of a used weight (tied embeddings) -> Transpose(W)
860    residual_sums                    Add before a layer norm -> Sum (keeps onnxruntime's fast kernels;
                                        after the plugins' fusions, com.microsoft's at 500)
880    eliminate_common_subexpressions  repeated deterministic nodes -> one
885    lift_constants                   Constant nodes of the main graph -> initializers (pending)
890    remove_unused_after_optimize     what the rewrites left unused
=====  ===============================  ==================================================================

:data:`PENDING_PASSES` holds passes written but not registered by default yet
(``lift_constants``, order 885, in the table above); :func:`enable_pending` turns them on for
one block.

The folding passes (shapes, constants, Conv+BatchNormalization) run only with
``do_constant_folding=True`` outside training mode, and treat initializers as constants only
when they will not be graph inputs. All passes work on the main graph; local functions
(``model.functions``) and their call nodes are left alone, and with
``export_modules_as_functions`` two nodes are merged only when they come from the same module
call.
"""

from __future__ import annotations

import contextlib
import dataclasses

import onnx_ir as ir
import onnx_ir.passes.common as common

from .chains import CollapseLayoutChainsPass
from .constant_folding import FoldConstantsPass
from .conv_batchnorm import FoldConvBatchNormPass
from .cse import EliminateCommonSubexpressionsPass
from .gelu import CanonicalGeluPass
from .gemm import FuseMatMulAddPass
from .lift_constants import LiftConstantsPass
from .noops import EliminateNoOpsPass
from .residual_sums import ResidualSumsPass
from .roundtrips import CollapseRoundTripsPass
from .shape_folding import FoldStaticShapesPass
from .tied_weights import ShareTiedTransposesPass

__all__ = [
    "OPTIMIZE_PASSES", "PENDING_PASSES", "enable_pending", "CanonicalGeluPass", "CollapseLayoutChainsPass",
    "CollapseRoundTripsPass", "LiftConstantsPass", "ResidualSumsPass", "ShareTiedTransposesPass",
    "EliminateCommonSubexpressionsPass", "EliminateNoOpsPass",
    "FoldConstantsPass", "FoldConvBatchNormPass", "FoldStaticShapesPass", "FuseMatMulAddPass",
]


def _with_options(pass_type: type[ir.passes.InPlacePass]):
    """``fn(model, context)`` running ``pass_type(context.options, context.fx_nodes)``."""

    def run(model: ir.Model, context) -> ir.passes.PassResult:
        return pass_type(context.options, context.fx_nodes)(model)

    run.__name__ = pass_type.__name__
    run.__doc__ = pass_type.__doc__
    return run


def _remove_unused(model: ir.Model, context) -> ir.passes.PassResult:
    return common.RemoveUnusedNodesPass()(model)


OPTIMIZE_PASSES = [
    (_with_options(FoldStaticShapesPass), 200, "fold_static_shapes"),
    (_with_options(FoldConstantsPass), 210, "fold_constants"),
    (_with_options(EliminateNoOpsPass), 300, "eliminate_noops"),
    (_with_options(CollapseLayoutChainsPass), 310, "collapse_layout_chains"),
    (_with_options(CollapseRoundTripsPass), 320, "collapse_round_trips"),
    (_with_options(FoldConvBatchNormPass), 400, "fold_conv_batchnorm"),
    (_with_options(FuseMatMulAddPass), 450, "fuse_matmul_add"),
    (_with_options(CanonicalGeluPass), 460, "canonical_gelu"),
    (_with_options(ShareTiedTransposesPass), 470, "share_tied_transposes"),
    (_with_options(ResidualSumsPass), 860, "residual_sums"),
    (_with_options(EliminateCommonSubexpressionsPass), 880, "eliminate_common_subexpressions"),
    (_remove_unused, 890, "remove_unused_after_optimize"),
]

PENDING_PASSES: list = [
    # Tests of other parts of the project count Constant nodes; registered once they count
    # "Constant node or initializer" instead.
    (_with_options(LiftConstantsPass), 885, "lift_constants"),
]


@contextlib.contextmanager
def enable_pending(loaded):
    """Run exports in this block with :data:`PENDING_PASSES` as well (a no-op once registered).

    ``loaded`` is ``onnxplug.plugins.load_plugins()``; its IR pass list is extended for the
    block and restored afterwards.
    """
    saved = list(loaded.ir_passes)
    template = next(p for p in saved if p.name == "remove_unused_after_optimize")
    present = {p.name for p in saved}
    loaded.ir_passes.extend(dataclasses.replace(template, fn=fn, order=order, name=name)
                            for fn, order, name in PENDING_PASSES if name not in present)
    loaded.ir_passes.sort(key=lambda e: (e.order, e.name))
    try:
        yield
    finally:
        loaded.ir_passes[:] = saved

"""The ONNX forms that change across opsets: the only package of this plugin that reads ``g.opset``.

A conversion registered in ``opsetN/`` says what an ATen op becomes; when what it becomes
changes at a later opset, that later form is a registration in ``opsetM/``. What is left are
ONNX forms whose *signature* or *availability* changes while the conversion's logic does not:
Unsqueeze's axes moving from an attribute to an input, Clip's bounds becoming inputs, Equal
accepting floats, Where missing before opset 9. Those live here, as small named functions, so
that "what does the plugin emit at opset N" has one place to read. Every function takes the
GraphContext ``g`` first, and its docstring says at which opset its form changes.

* :mod:`.availability`: the predicates (``has_where``, ``*_takes_*``...; ``PREDICATES`` names
  them) and :func:`require`, the guard before an op a conversion cannot do without. It is the
  one module that reads ``g.opset``; only the modules below call the predicates
  (``tests/test_no_opset_branches.py``), the rest of the plugin calls the emitters:
* :mod:`.axes` (Unsqueeze, Squeeze, Reduce, Split, Shape), :mod:`.bounds` (Slice, Clip, Pad,
  Reshape, Expand, TopK, DFT), :mod:`.selection` (Where, the comparisons, the NaN and inf
  tests), :mod:`.arithmetic` (Erf, Mod, Round, integer MatMul, the dtype arithmetic runs in),
  :mod:`.creation` (ConstantOfShape, Range), :mod:`.indexing` (Gather's negative indices,
  ScatterND) and :mod:`.nn` (pooling attributes, Gemm, LogSoftmax, masks, the NLL loss,
  resampling, the Random ops).

A form whose stand-in below its opset is maths of a helper module (``shape_helpers``...)
imports it when called: those helpers build on the forms, not the other way round.
"""

from __future__ import annotations

from .availability import (  # noqa: F401
    FEATURES, PREDICATES, arith_takes_int8, axes_as_input, clip_takes_inputs,
    dft_axis_input, equal_takes_bools, equal_takes_floats, gather_takes_negative,
    gemm_c_optional, has_constant_of_shape, has_erf, has_expand, has_gather_elements,
    has_isinf, has_isnan, has_mod, has_nll_loss, has_ordered_compare, has_random_kernels,
    has_range, has_round, has_scatter_nd, has_where, less_takes_ints, log_softmax_any_axis,
    matmul_takes_ints, max_pool_takes_dilations, minmax_take_ints, pad_takes_bool,
    pad_takes_ints, pool_takes_ceil_mode, quantize_takes_int16, require,
    reshape_takes_allowzero, resize_shrinks, shape_takes_range, slice_takes_steps,
    split_takes_num_outputs, split_takes_sizes_input, target_opset, topk_takes_k_input,
    topk_takes_largest, upsample_takes_scales_input,
)
from .axes import (  # noqa: F401
    reduce, shape_dim, split, split_dynamic, split_equal, squeeze, unsqueeze,
)
from .bounds import (  # noqa: F401
    broadcast_constant, clip, dft, expand, flip, pad, pad_dtype, reshape_node, slice_,
    strided_slice, topk,
)
from .selection import (  # noqa: F401
    blend_safe, blend_safe_constant, compare, float_equal, isinf, isnan, less_greater,
    minmax_int, select,
)
from .arithmetic import (  # noqa: F401
    arith_dtype, erf, fmod, int_row_sum, matmul_int_dtype, quantize_types, remainder,
    round_half_even,
)
from .creation import (  # noqa: F401
    constant_fill, range_,
)
from .indexing import (  # noqa: F401
    gather_indices, is_negative, scatter_nd,
)
from .nn import (  # noqa: F401
    additive_mask, gemm_transposed, log_softmax_axis1, nearest_min_scale, nearest_rescale,
    nll_loss, pool_attrs, propagate_nan, random_op,
)

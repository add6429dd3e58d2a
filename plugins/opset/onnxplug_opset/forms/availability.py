"""What exists at the target opset: the predicates (``has_*``, ``*_takes_*``...) and
:func:`require`, the guard a conversion calls before an op it cannot do without.

This is the one module of the plugin that reads ``g.opset``; the other forms modules ask these
predicates, and nothing outside ``forms`` calls them (``tests/test_no_opset_branches.py``).
"""

from __future__ import annotations

import inspect


def target_opset(g) -> int:
    """The opset being exported to, for error messages only: branch on a named form instead."""
    return g.opset


def has_expand(g) -> bool:
    """``Expand`` exists from opset 8 (below it a broadcasting ``Add`` stands in)."""
    return g.opset >= 8


def has_where(g) -> bool:
    """``Where`` exists from opset 9 (below it values are blended or gathered)."""
    return g.opset >= 9


def has_isnan(g) -> bool:
    """``IsNaN`` exists from opset 9."""
    return g.opset >= 9


def has_erf(g) -> bool:
    """``Erf`` exists from opset 9."""
    return g.opset >= 9


def has_constant_of_shape(g) -> bool:
    """``ConstantOfShape`` (a fill of a dynamic shape) exists from opset 9."""
    return g.opset >= 9


def has_isinf(g) -> bool:
    """``IsInf`` exists from opset 10."""
    return g.opset >= 10


def has_mod(g) -> bool:
    """``Mod`` (with its ``fmod`` attribute) exists from opset 10."""
    return g.opset >= 10


def has_range(g) -> bool:
    """``Range`` exists from opset 11."""
    return g.opset >= 11


def has_round(g) -> bool:
    """``Round`` (half to even) exists from opset 11."""
    return g.opset >= 11


def has_gather_elements(g) -> bool:
    """``GatherElements`` and ``ScatterElements`` exist from opset 11."""
    return g.opset >= 11


def has_scatter_nd(g, reduction: bool = False) -> bool:
    """``ScatterND`` exists from opset 11; its ``reduction`` attribute (``add``...) from 16."""
    return g.opset >= (16 if reduction else 11)


def has_ordered_compare(g) -> bool:
    """``LessOrEqual`` and ``GreaterOrEqual`` exist from opset 12."""
    return g.opset >= 12


def has_nll_loss(g) -> bool:
    """``NegativeLogLikelihoodLoss`` exists from opset 12."""
    return g.opset >= 12


def has_random_kernels(g, last: int) -> bool:
    """Whether onnxruntime implements the ``Random*`` ops at the target opset: up to ``last``
    (21 for the onnxruntime this plugin is tested with)."""
    return g.opset <= last


def less_takes_ints(g) -> bool:
    """``Less``/``Greater`` take integers from opset 9 (floats only before)."""
    return g.opset >= 9


def matmul_takes_ints(g) -> bool:
    """``MatMul`` takes int32/int64 from opset 9 (floats only before)."""
    return g.opset >= 9


def equal_takes_floats(g) -> bool:
    """``Equal`` takes floats from opset 11 (bool and integers only before)."""
    return g.opset >= 11


def equal_takes_bools(g) -> bool:
    """``Equal`` on bools has onnxruntime kernels from opset 11."""
    return g.opset >= 11


def gather_takes_negative(g) -> bool:
    """``Gather``'s indices may be negative (counted from the end) from opset 11."""
    return g.opset >= 11


def gemm_c_optional(g) -> bool:
    """``Gemm``'s C input is optional from opset 11."""
    return g.opset >= 11


def minmax_take_ints(g) -> bool:
    """``Max``/``Min`` (and ``Clip``) take integers from opset 12."""
    return g.opset >= 12


def clip_takes_inputs(g) -> bool:
    """``Clip``'s bounds are inputs (of ``x``'s type) from opset 11 (float attributes before)."""
    return g.opset >= 11


def pad_takes_ints(g) -> bool:
    """``Pad`` takes non-float types (and its pads as an input) from opset 11."""
    return g.opset >= 11


def pad_takes_bool(g) -> bool:
    """``Pad`` takes bool from opset 13."""
    return g.opset >= 13


def arith_takes_int8(g) -> bool:
    """``Add``/``Sub``/``Mul``/``Div`` take int8/uint8 from opset 14."""
    return g.opset >= 14


def quantize_takes_int16(g) -> bool:
    """``QuantizeLinear``/``DequantizeLinear`` take 16-bit integers from opset 21."""
    return g.opset >= 21


def slice_takes_steps(g) -> bool:
    """``Slice`` takes steps (and input bounds) from opset 10."""
    return g.opset >= 10


def pool_takes_ceil_mode(g) -> bool:
    """``MaxPool``/``AveragePool`` take ``ceil_mode`` from opset 10."""
    return g.opset >= 10


def max_pool_takes_dilations(g) -> bool:
    """``MaxPool`` takes ``dilations`` from opset 10."""
    return g.opset >= 10


def log_softmax_any_axis(g) -> bool:
    """``Softmax``/``LogSoftmax`` work along one axis from opset 13 (they flatten to 2-D before)."""
    return g.opset >= 13


def topk_takes_k_input(g) -> bool:
    """``TopK``'s ``k`` is an input from opset 10 (an attribute before)."""
    return g.opset >= 10


def topk_takes_largest(g) -> bool:
    """``TopK`` takes ``largest``/``sorted`` and integer inputs from opset 11."""
    return g.opset >= 11


def split_takes_num_outputs(g) -> bool:
    """``Split`` names its output count (``num_outputs``) from opset 18."""
    return g.opset >= 18


def split_takes_sizes_input(g) -> bool:
    """``Split``'s sizes are an input from opset 13 (an attribute ``split`` before)."""
    return g.opset >= 13


def shape_takes_range(g) -> bool:
    """``Shape`` takes ``start``/``end`` from opset 15."""
    return g.opset >= 15


def reshape_takes_allowzero(g) -> bool:
    """``Reshape``'s ``allowzero`` (a 0 is an empty dim) exists from opset 14."""
    return g.opset >= 14


def dft_axis_input(g) -> bool:
    """``DFT``'s axis is an input from opset 20 (an attribute at 17)."""
    return g.opset >= 20


def axes_as_input(g, op_type: str) -> bool:
    """Whether ``op_type``'s axes are an int64 input (else an ``axes`` attribute): from opset 13
    for ``Unsqueeze``, ``Squeeze`` and ``ReduceSum``, from 18 for the other ``Reduce*`` ops."""
    return g.opset >= (13 if op_type in ("Unsqueeze", "Squeeze", "ReduceSum") else 18)


def upsample_takes_scales_input(g) -> bool:
    """``Upsample``'s scales are an input from opset 9 (an attribute at 7-8)."""
    return g.opset >= 9


def resize_shrinks(g) -> bool:
    """``Resize`` (opset 10) takes scales below 1 too; ``Upsample`` (7-9) only enlarges."""
    return g.opset >= 10


# What a conversion may need that does not exist at every opset, and the first opset with it.
FEATURES = {
    "Expand": 8, "Where": 9, "ConstantOfShape": 9, "NonZero": 9, "EyeLike": 9,
    "Slice with input bounds": 10, "ScatterElements": 11, "GatherElements": 11,
    "Unsqueeze with negative axes": 11, "a float64 Clip kernel": 12, "Pad's wrap mode": 19,
}


def require(g, feature: str, doing: str, hint: str = "") -> None:
    """Raise NotImplementedError (the op is declined, its decomposition tried) when ``feature``
    (a key of :data:`FEATURES`: Expand from opset 8, Where from 9...) is missing at the target
    opset; ``doing`` says what needed it, ``hint`` what else the user may do."""
    first = FEATURES[feature]
    if g.opset < first:
        raise NotImplementedError(f"{doing} needs opset {first} ({feature}); export with "
                                  f"opset_version>={first}" + (f", {hint}" if hint else ""))


def _is_predicate(fn) -> bool:
    return (inspect.isfunction(fn) and fn.__module__ == __name__ and not fn.__name__.startswith("_")
            and inspect.signature(fn).return_annotation in (bool, "bool"))


# The forms that answer whether something exists at the target opset (every public function of
# this module returning bool). Only forms calls them (tests/test_no_opset_branches.py): the
# rest of the plugin calls the emitters of the other forms modules.
PREDICATES = frozenset(name for name, fn in list(globals().items()) if _is_predicate(fn))

"""IR-level fusions into onnxruntime's ``com.microsoft`` ops.

Each ``fuse_*`` function rewrites one pattern everywhere in a graph and returns how many it
rewrote. The plugin runs them as IR passes (``plugin.py``) only when the user names
``com.microsoft`` in ``custom_opsets``, in the order of :data:`FUSIONS`, then deletes the nodes
left without users and records the domain's version in ``opset_import``.

Every rewrite is exact (the fused kernel computes the same formula), and every one checks what
it relies on: constants where the fused op takes parameters, a single use of each value it folds
away (or, for the residual sum of a skip norm, the extra output that gives it back), and known
shapes where the fused op has shape requirements.
"""

from __future__ import annotations

from .activations import fuse_bias_gelu, fuse_quick_gelu
from .attention import fuse_group_query_attention, fuse_group_query_attention_rotary
from .layout import cancel_transposes, merge_reshapes
from .matmul import fuse_matmul_transpose
from .norms import fuse_rms_norm, fuse_skip_layer_norm
from .rotary import fuse_rotary_embedding

FUSIONS = [
    ("cancel_transposes", cancel_transposes),
    ("merge_reshapes", merge_reshapes),
    ("fuse_skip_layer_norm", fuse_skip_layer_norm),
    ("fuse_rms_norm", fuse_rms_norm),
    ("fuse_bias_gelu", fuse_bias_gelu),
    ("fuse_quick_gelu", fuse_quick_gelu),
    ("fuse_matmul_transpose", fuse_matmul_transpose),
    ("fuse_rotary_embedding", fuse_rotary_embedding),
    ("fuse_group_query_attention", fuse_group_query_attention),
    ("fuse_group_query_attention_rotary", fuse_group_query_attention_rotary),
]

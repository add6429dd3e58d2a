"""The declared test cases: what ``pytest --onnxplug-plugin example`` checks.

Each case is exported at every opset of its range, checked, run in onnxruntime and compared
with eager PyTorch; ``expect`` checks that the intended form was emitted at each opset.
"""

from __future__ import annotations

import torch

from onnxplug.testing import Nodes, OpCase

from .ops import RMSNorm, rms_norm
from .symbolics import DOMAIN, DOMAIN_VERSION


def _samples():
    yield (torch.randn(2, 3, 8),)
    yield (torch.randn(4, 16) * 10,)


def _seq_samples():
    yield (torch.randn(2, 5, 8),)
    yield (torch.randn(3, 7, 8),)  # another batch and sequence length, same exported model


FORMS = [
    Nodes("ReduceMean", count=1, opsets=(7, 22)),
    Nodes("RMSNormalization", count=0, opsets=(7, 22)),
    Nodes("RMSNormalization", count=1, opsets=(23, None)),
    Nodes("ReduceMean", count=0, opsets=(23, None)),
]

CASES = [
    OpCase("rms_norm", lambda x: rms_norm(x, 1e-5), _samples, opsets=(7, None),
           op="example::rms_norm", expect=FORMS),
    OpCase("rms_norm_float16", lambda x: rms_norm(x, 1e-3), [(torch.randn(2, 8),)],
           opsets=(13, None), dtypes=(torch.float16,), rtol=1e-2, atol=1e-2,
           op="example::rms_norm"),
    OpCase("rms_norm_module_dynamic", RMSNorm(8), _seq_samples, opsets=(13, None),
           input_names=("x",), dynamic_axes={"x": {0: "batch", 1: "seq"}},
           op="example::rms_norm", expect=FORMS),
    # The custom-domain form: onnxruntime does not implement com.example::RmsNorm, so the
    # model is checked and its structure verified, not run.
    OpCase("rms_norm_custom_domain", lambda x: rms_norm(x), [(torch.randn(2, 8),)],
           opsets=(13, 18), custom_opsets={DOMAIN: DOMAIN_VERSION}, run=False,
           op="example::rms_norm",
           expect=[Nodes("RmsNorm", domain=DOMAIN), Nodes("ReduceMean", count=0)]),
]

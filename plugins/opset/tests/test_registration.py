"""The plugin's registrations are consistent: one function per key and opset, keys valid."""

from __future__ import annotations

import collections

from onnxplug_opset.plugin import conversions
from onnxplug_opset.registration import opset_of_module


def test_no_key_registered_twice_at_one_opset():
    """One conversion per key and opset, for real inputs and for complex ones (``complex=True``
    registrations serve the nodes with complex inputs, the others the rest)."""
    seen = collections.defaultdict(list)
    for fn in conversions():
        for spec in fn.__onnxplug_symbolic__:
            seen[(spec.key, spec.opset, spec.complex)].append(f"{fn.__module__}.{fn.__qualname__}")
    dups = {k: v for k, v in seen.items() if len(v) > 1}
    assert not dups, dups


def test_opset_matches_the_package():
    for fn in conversions():
        for spec in fn.__onnxplug_symbolic__:
            assert spec.opset == opset_of_module(fn.__module__), fn

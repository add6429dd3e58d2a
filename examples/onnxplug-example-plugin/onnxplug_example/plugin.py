"""The plugin object onnxplug loads through the entry point ``example`` (group ``onnxplug``).

Each function below implements one hook of ``onnxplug.hookspecs``.
"""

from __future__ import annotations

import onnxplug

from . import symbolics


@onnxplug.hookimpl
def onnxplug_register_symbolics(register):
    for fn in symbolics.ALL:
        register(fn)


@onnxplug.hookimpl
def onnxplug_custom_opsets():
    return {symbolics.DOMAIN: symbolics.DOMAIN_VERSION}


@onnxplug.hookimpl
def onnxplug_register_test_cases(register):
    from .cases import CASES  # imported lazily: only the test kit needs the cases

    for case in CASES:
        register(case)

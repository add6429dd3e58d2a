"""The plugin object: registers every conversion found in the ``opsetN`` packages."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator

import onnxplug

import onnxplug_opset


def conversions() -> Iterator[Callable]:
    """Every function carrying ``@op`` in ``onnxplug_opset.opsetN.*``, in a stable order."""
    for info in sorted(pkgutil.walk_packages(onnxplug_opset.__path__, "onnxplug_opset."),
                       key=lambda i: i.name):
        if ".opset" not in info.name or info.ispkg:
            continue
        module = importlib.import_module(info.name)
        for name in sorted(vars(module)):
            fn = getattr(module, name)
            if callable(fn) and getattr(fn, "__module__", None) == module.__name__ \
                    and hasattr(fn, "__onnxplug_symbolic__"):
                yield fn


@onnxplug.hookimpl
def onnxplug_register_symbolics(register):
    for fn in conversions():
        register(fn)


@onnxplug.hookimpl
def onnxplug_register_test_cases(register):
    from onnxplug_opset.cases import CASES  # only the test kit needs them

    for case in CASES:
        register(case)

"""``op``: the decorator conversions in this plugin use.

``@op("aten::relu")`` in a module of package ``opsetN`` registers the function from opset N
on, so the opset is never written twice and cannot disagree with the module's place.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from onnxplug import symbolic


def opset_of_module(module: str) -> int:
    for part in module.split("."):
        if part.startswith("opset") and part[5:].isdigit():
            return int(part[5:])
    raise ValueError(f"{module} is not inside an opsetN package")


def op(*keys: str, domain: str | None = None, module: str | None = None,
       complex: bool = False) -> Callable[[Callable], Callable]:
    """Register the decorated function for every key in ``keys`` from this package's opset.

    ``module`` names the ``opsetN`` module for a conversion made by a shared factory.
    ``complex=True``: the function accepts complex inputs as (real, imag) pairs; only such a
    function converts a node with a complex input (see ``onnxplug.symbolic``).
    """
    module = module or sys._getframe(1).f_globals["__name__"]
    return symbolic(list(keys), opset=opset_of_module(module), domain=domain, complex=complex)

"""Plugin object of onnxplug-transformers (entry point ``transformers``).

It converts the custom ops transformers itself defines (``transformers::*``, see ``moe.py``),
so that models using them export with plain ``onnxplug.export`` as well as through the
``export_format="onnxplug"`` backend (``onnxplug_transformers.backend``).
"""

from __future__ import annotations

import onnxplug

from . import moe


@onnxplug.hookimpl
def onnxplug_register_symbolics(register):
    for fn in moe.ALL:
        register(fn)

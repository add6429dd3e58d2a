"""onnxplug-functions: turns ``nn.Module`` calls into ONNX local functions.

``onnxplug.export(..., export_modules_as_functions=True)`` (or a set of module types) runs the
IR pass :func:`onnxplug_functions.extract.export_modules_as_functions`, registered by
:mod:`onnxplug_functions.plugin`; :func:`inline_functions` turns such a model back into a flat
one, for runtimes without local-function support.
"""

from __future__ import annotations

from .inline import inline_functions

__all__ = ["inline_functions"]

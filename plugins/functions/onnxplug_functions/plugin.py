"""Plugin object of onnxplug-functions (entry point ``functions``).

Registers the IR pass that provides ``export_modules_as_functions`` and declares the plugin's
conformance cases for the test kit (``pytest --onnxplug-plugin functions``).
"""

from __future__ import annotations

import onnxplug

FEATURE = "export_modules_as_functions"
#: After the cleanup (100) and deduplication (900) passes, before the topological sort (950):
#: passes that rewrite nodes (fusions) see flat nodes, and no built-in pass after this one
#: inlines functions.
ORDER = 940


@onnxplug.hookimpl
def onnxplug_register_ir_passes(register):
    from .extract import export_modules_as_functions

    register(export_modules_as_functions, order=ORDER, name="export_modules_as_functions",
             provides=(FEATURE,))


@onnxplug.hookimpl
def onnxplug_register_test_cases(register):
    from .cases import declared_cases

    for case in declared_cases():
        register(case)

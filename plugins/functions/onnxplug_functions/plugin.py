"""Plugin object of onnxplug-functions (entry point ``functions``).

No pass is registered yet, so ``export(..., export_modules_as_functions=True)`` fails with a
clear "not available yet" error instead of silently exporting flat nodes.
"""

from __future__ import annotations

FEATURE = "export_modules_as_functions"

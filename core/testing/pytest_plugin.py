"""pytest plugin of the onnxplug test kit (entry point ``pytest11``). Kept cheap to import."""

from __future__ import annotations

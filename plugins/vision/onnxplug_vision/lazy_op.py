"""Custom ops the plugin defines on first use, once, from any thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def defined_once(make: Callable[[], Any]) -> Callable[[], Any]:
    """A ``define()`` that calls ``make`` (which defines a ``torch.library.custom_op`` and returns
    it) on its first call, under a lock, and returns the same op on every later call. The ops
    are defined only when a capture runs beside an imported torchvision, never at plugin load."""
    lock, made = threading.Lock(), []

    def define() -> Any:
        with lock:
            if not made:
                made.append(make())
            return made[0]

    define.__doc__ = make.__doc__
    return define

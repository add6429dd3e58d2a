"""Installed distributions' versions, for messages and the model's ``producer_version``.

A leaf module: the lowering (producer version) and the plugin loader (who contributed what)
both read versions, and neither may import the other.
"""

from __future__ import annotations

import importlib_metadata


def distribution_version(dist: str) -> str:
    """The installed version of distribution ``dist``, or ``"?"`` when it is not installed."""
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return "?"

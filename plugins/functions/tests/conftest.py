"""Fixtures of the functions plugin's tests (helpers live in functions_testing.py)."""

from __future__ import annotations

import pytest
from functions_testing import export_both


@pytest.fixture
def both():
    """``both(model, args, functions=True, **export_kwargs)``: see functions_testing.export_both."""
    return export_both

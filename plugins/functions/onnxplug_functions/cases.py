"""Declared cases of the functions plugin for the plugin test kit."""

from __future__ import annotations


def declared_cases() -> list:
    return []

"""Finding the line of a key, field or value in rule text (so results land on the right line)."""

from __future__ import annotations

import re


def top_level_key_line(text: str, key: str) -> int | None:
    """1-based line of a top-level mapping key (``key:`` at column 0)."""
    pat = re.compile(rf"^['\"]?{re.escape(key)}['\"]?\s*:")
    for i, line in enumerate(text.splitlines(), start=1):
        if pat.match(line):
            return i
    return None


def field_line(text: str, field: str, start: int = 1) -> int | None:
    """Line where a detection item names ``field`` (``field:``, ``field|mod:``, ``- field:``)."""
    pat = re.compile(rf"^\s*(?:-\s+)?['\"]?{re.escape(field)}(?:\|[^:'\"]*)?['\"]?\s*:")
    for i, line in enumerate(text.splitlines(), start=1):
        if i >= start and pat.match(line):
            return i
    return None


def value_line(text: str, value: str, start: int = 1) -> int | None:
    """First line (from ``start``) containing ``value`` as text."""
    if not value:
        return None
    for i, line in enumerate(text.splitlines(), start=1):
        if i >= start and value in line:
            return i
    return None

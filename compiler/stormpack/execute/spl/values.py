"""Field values as Splunk holds them, and the comparisons the search and eval languages make.

A field of an event is absent (``None``), one value, or a multivalue field (a list of two or
more values, in order). Extracted values are text; ``eval`` and ``stats`` may produce numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

Value = Any  # None | str | int | float | bool | list[str | int | float]


def values_of(v: Value) -> list[Any]:
    """The values of a field: [] when absent, the list of a multivalue field, else [v]."""
    if v is None:
        return []
    if isinstance(v, list):
        return list(v)
    return [v]


def mv(values: list[Any]) -> Value:
    """A field from a list of values: absent when empty, one value when one, else multivalue."""
    vals = [x for x in values if x is not None]
    if not vals:
        return None
    return vals[0] if len(vals) == 1 else vals


def text(v: Any) -> str:
    """A single value as text (numbers as Splunk prints them: ``3``, ``2.5``)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    return str(v)


def number(v: Any) -> float | None:
    """A value as a number, or None when it does not read as one."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip()) if v.strip() else None
        except ValueError:
            return None
    return None


def unquote(token: str) -> str:
    """The text of a double-quoted SPL string: ``\\"`` is a quote, ``\\\\`` a backslash; any other
    backslash stays as written (regex escapes such as ``\\1`` or ``\\d`` pass through).
    https://docs.splunk.com/Documentation/Splunk/latest/Search/Quotes-and-escaping-characters"""
    body = token[1:-1] if len(token) >= 2 and token[0] == token[-1] == '"' else token
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body) and body[i + 1] in '"\\':
            out.append(body[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


@lru_cache(maxsize=4096)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A search-language value with ``*`` wildcards as a whole-value, case-insensitive regex."""
    return re.compile("".join(".*" if ch == "*" else re.escape(ch) for ch in pattern), re.I | re.S)


def search_equals(value: Any, pattern: str) -> bool:
    """``field=pattern`` in the search command for ONE value: field values compare case-
    insensitively, ``*`` matches any run of characters; without a wildcard two numbers compare
    as numbers (``RecordType=1``).
    https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Search"""
    if "*" not in pattern:
        a, b = number(value), number(pattern)
        if a is not None and b is not None and _plain_number(pattern):
            return a == b
    return glob_regex(pattern).fullmatch(text(value)) is not None


def _plain_number(s: str) -> bool:
    return re.fullmatch(r"[+-]?\d+(\.\d+)?", s.strip()) is not None


def ordered(op: str) -> Callable[[Any, Any], bool]:
    """``<``/``<=``/``>``/``>=``: numerically when both sides are numbers, else as text."""
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "<": lambda a, b: bool(a < b), "<=": lambda a, b: bool(a <= b),
        ">": lambda a, b: bool(a > b), ">=": lambda a, b: bool(a >= b),
    }
    f = ops[op]

    def cmp(a: Any, b: Any) -> bool:
        na, nb = number(a), number(b)
        if na is not None and nb is not None:
            return f(na, nb)
        return f(text(a), text(b))

    return cmp

"""A nesting bound on records, so nothing downstream (matcher, JSON output) can overflow."""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 100


def too_deep(value: Any, brackets: int) -> bool:
    """True when ``value`` nests deeper than :data:`MAX_DEPTH`.

    ``brackets`` is the number of ``{`` and ``[`` in the record's text: when it is at most
    MAX_DEPTH (every real record) the walk is skipped, so the check costs nothing.
    """
    if brackets <= MAX_DEPTH:
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False


DEPTH_MESSAGE = f"record nests deeper than {MAX_DEPTH} levels: not read"

"""Reading and writing source-record values by dotted taxonomy field names (no array fan-out)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .kqlexpr import NULL


def utc_datetime(text: str) -> datetime | None:
    """An ISO-8601 text (``Z`` for UTC allowed) as a naive UTC datetime, or None."""
    try:
        d = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if d.tzinfo is not None:
        d = d.astimezone(UTC).replace(tzinfo=None)
    return d


def get_path(record: Mapping[str, Any], dotted: str) -> Any:
    """``record`` at the dotted path (objects only), or NULL. A key spelled with the literal dots
    wins, as in the matcher."""
    if dotted in record:
        return record[dotted]
    obj: Any = record
    for key in dotted.split("."):
        if not isinstance(obj, Mapping) or key not in obj:
            return NULL
        obj = obj[key]
    return obj


def set_path(record: dict[str, Any], dotted: str, value: Any, *, overwrite: bool = True) -> None:
    """Set ``record`` at the dotted path, creating objects on the way (``overwrite=False``: a
    value already there is kept)."""
    parts = dotted.split(".")
    obj = record
    for key in parts[:-1]:
        nxt = obj.get(key)
        if not isinstance(nxt, dict):
            nxt = obj[key] = {}
        obj = nxt
    if overwrite:
        obj[parts[-1]] = value
    else:
        obj.setdefault(parts[-1], value)


def container_of(field: str, suffix: str) -> str | None:
    """``properties.deviceDetail.browser`` minus ``browser`` -> ``properties.deviceDetail``."""
    if not suffix:
        return field
    if field.endswith("." + suffix):
        return field[: -len(suffix) - 1]
    return None

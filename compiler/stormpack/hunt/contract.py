"""The JSON Lines output contract: one object per single-event or correlation hit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from ..readers import Record
from ..triage import utc_text
from .protocols import CorrelationHitLike, HitLike, RuleLike


def level_of(rule: RuleLike) -> str | None:
    level = getattr(rule.rule, "level", None)
    return None if level is None else str(level)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def dumps(obj: Any) -> bytes:
    """One JSON line (orjson; records are depth-bounded by the readers)."""
    return orjson.dumps(obj, default=_json_default, option=orjson.OPT_APPEND_NEWLINE)


_RULE_META: dict[int, tuple[Any, str, str, str | None]] = {}


def rule_meta(rule: RuleLike) -> tuple[str, str, str | None]:
    """(id, title, level) of a rule, computed once per rule object (hits are many, rules few)."""
    meta = _RULE_META.get(id(rule))
    if meta is None or meta[0] is not rule:
        meta = _RULE_META[id(rule)] = (rule, rule.id, rule.title, level_of(rule))
    return meta[1], meta[2], meta[3]


_LAST_TIME: list[Any] = [None, None]  # (text, its utc_text): the hits of one record share it


def hit_time(value: Any) -> str | None:
    """:func:`~stormpack.triage.utc_text` of a hit's time, remembered for the last text (a
    record's hits, and a correlation's first and last time, repeat it; utc_text is a pure
    function of the text)."""
    if value.__class__ is str:
        last = _LAST_TIME
        if last[0] == value:
            return last[1]  # type: ignore[no-any-return]
        text = utc_text(value)
        last[0], last[1] = value, text
        return text
    return utc_text(value)


def single_hit_object(hit: HitLike, record: Record, event: Any = None) -> dict[str, Any]:
    """The JSONL contract for a single-event hit. ``event``: the record's data already
    serialised (an ``orjson.Fragment``, see :class:`SingleHitLines`), else ``record.data``."""
    rule_id, title, level = rule_meta(hit.rule)
    return {
        "rule_id": rule_id,
        "rule_title": title,
        "level": level,
        "source": record.source,
        "event_index": record.index,
        "timestamp": hit_time(hit.timestamp),
        "event": record.data if event is None else event,
    }


class SingleHitLines:
    """The JSONL objects of single-event hits, each record's event serialised once however many
    rules it matched: orjson writes a ``Fragment``'s bytes as they are, and the fragment holds
    exactly what orjson writes for ``record.data`` in place, so the lines are byte-identical."""

    __slots__ = ("_record", "_event")

    def __init__(self) -> None:
        self._record: Record | None = None  # kept alive, so `is` cannot meet a reused id
        self._event: Any = None

    def object(self, hit: HitLike, record: Record) -> dict[str, Any]:
        if record is not self._record:
            self._event = orjson.Fragment(orjson.dumps(record.data, default=_json_default))
            self._record = record
        return single_hit_object(hit, record, self._event)


def correlation_hit_object(hit: CorrelationHitLike) -> dict[str, Any]:
    """The JSONL contract for a correlation hit."""
    return {
        "rule_id": hit.rule.id,
        "rule_title": hit.rule.title,
        "level": level_of(hit.rule),
        "group": dict(hit.group),
        "event_indices": [r.index for r in hit.refs],
        "events": [{"source": r.source, "event_index": r.index} for r in hit.refs],
        "first_seen": hit_time(hit.first_seen),
        "last_seen": hit_time(hit.last_seen),
    }

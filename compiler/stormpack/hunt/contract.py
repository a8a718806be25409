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


def single_hit_object(hit: HitLike, record: Record) -> dict[str, Any]:
    """The JSONL contract for a single-event hit."""
    rule_id, title, level = rule_meta(hit.rule)
    return {
        "rule_id": rule_id,
        "rule_title": title,
        "level": level,
        "source": record.source,
        "event_index": record.index,
        "timestamp": utc_text(hit.timestamp),
        "event": record.data,
    }


def correlation_hit_object(hit: CorrelationHitLike) -> dict[str, Any]:
    """The JSONL contract for a correlation hit."""
    return {
        "rule_id": hit.rule.id,
        "rule_title": hit.rule.title,
        "level": level_of(hit.rule),
        "group": dict(hit.group),
        "event_indices": [r.index for r in hit.refs],
        "events": [{"source": r.source, "event_index": r.index} for r in hit.refs],
        "first_seen": utc_text(hit.first_seen),
        "last_seen": utc_text(hit.last_seen),
    }

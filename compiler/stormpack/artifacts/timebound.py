"""Rules whose condition bounds the EVENT TIME to fixed dates ("... During Campaign").

Such a rule matches only records of a past period (the IOC rules match 2023 timestamps), while a
scheduled rule reads back at most 14 days (Sentinel), 30 days (Defender XDR) or its dispatch
window (Splunk): scheduled, it can never fire. The pack ships it as a hunting query instead
(docs/deploy.md, "Time-bounded rules are hunting queries").

A condition bounds the event time when every way it can be true tests the log source's
timestamp field (taxonomy ``timestamp``) against date prefixes (``time|startswith: '2023-07'``):
an OR is bounded when all its branches are, an AND when one of its parts is; NOT and any other
test bound nothing. The bound is the union of the prefixes' periods.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionOR,
)
from sigma.rule import SigmaRule
from sigma.types import SigmaString, SpecialChars

_PREFIX = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


@dataclass(frozen=True)
class TimeBound:
    """The event-time range ``[start, end)`` a rule can match."""

    start: datetime
    end: datetime

    def label(self) -> str:
        last = datetime.fromtimestamp(self.end.timestamp() - 1, UTC)
        return f"{self.start:%Y-%m-%d} to {last:%Y-%m-%d}"


def _period(prefix: str) -> tuple[datetime, datetime] | None:
    m = _PREFIX.match(prefix)
    if m is None:
        return None
    y, mo, d = int(m.group(1)), m.group(2), m.group(3)
    if mo is None:
        return datetime(y, 1, 1, tzinfo=UTC), datetime(y + 1, 1, 1, tzinfo=UTC)
    month = int(mo)
    if not 1 <= month <= 12:
        return None
    start = datetime(y, month, int(d) if d else 1, tzinfo=UTC)
    if d is None:
        end = datetime(y + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    else:
        end = datetime.fromtimestamp(start.timestamp() + 86400, UTC)
    return start, end


def _prefix_of(value: Any) -> str | None:
    """``'2023-07'`` for the SigmaString ``2023-07*`` (startswith), else None."""
    if not isinstance(value, SigmaString):
        return None
    parts = value.s
    if len(parts) != 2 or not isinstance(parts[0], str) or parts[1] is not SpecialChars.WILDCARD_MULTI:
        return None
    return parts[0]


def _bound(node: Any, field: str) -> tuple[datetime, datetime] | None:
    if isinstance(node, ConditionFieldEqualsValueExpression):
        if node.field != field:
            return None
        prefix = _prefix_of(node.value)
        return _period(prefix) if prefix is not None else None
    if isinstance(node, ConditionOR):
        parts = [_bound(a, field) for a in node.args]
        if not parts or any(p is None for p in parts):
            return None
        known = [p for p in parts if p is not None]
        return min(p[0] for p in known), max(p[1] for p in known)
    if isinstance(node, ConditionAND):
        known = [p for p in (_bound(a, field) for a in node.args) if p is not None]
        if not known:
            return None
        start, end = max(p[0] for p in known), min(p[1] for p in known)
        return start, max(start, end)  # disjoint parts: an empty range, still bounded
    return None


def event_time_bound(rule: SigmaRule, timestamp_field: str) -> TimeBound | None:
    """The fixed event-time range every match of ``rule`` lies in, or None (not bounded)."""
    conditions = rule.detection.parsed_condition
    bounds = [_bound(c.parsed, timestamp_field) for c in conditions]
    if not bounds or any(b is None for b in bounds):
        return None
    known = [b for b in bounds if b is not None]
    return TimeBound(min(b[0] for b in known), max(b[1] for b in known))

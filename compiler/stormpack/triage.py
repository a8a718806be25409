"""Triage of hunt hits: one timestamp format, filters (--since/--until, --min-level, --rule) and
the grouped table (--group-by user|ip|rule), as investigators know them from Chainsaw/Hayabusa.

Every time the hunt writes is ISO-8601 UTC with ``Z`` at millisecond precision
(``2023-05-29T12:30:51.000Z``, :func:`utc_text`); a record time without a zone is UTC (the
unified audit log writes ``CreationTime`` so); the record itself keeps its own spelling.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from .errors import StormpackError

LEVELS = ("informational", "low", "medium", "high", "critical")


def parse_utc(value: Any) -> datetime | None:
    """ISO-8601 text (``Z``, an offset, or none = UTC) -> aware UTC datetime, else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python before 3.11 reads at most 6 fraction digits; Graph and Sentinel write 7
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        if digits > 6:
            rest = rest[:6] + rest[digits:]
        text = f"{head}.{rest}"
    try:
        d = datetime.fromisoformat(text)
    except ValueError:
        return None
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


def format_utc(d: datetime) -> str:
    u = d.astimezone(UTC)
    if u.year < 1000:  # strftime's %Y is not zero-padded below year 1000 on every C library
        return u.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"
    # the same text as strftime above, without its cost (tests/test_triage.py compares them)
    return (f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}."
            f"{d.microsecond // 1000:03d}Z")


def utc_text(value: Any) -> str | None:
    """The hunt's one timestamp format, or None when ``value`` is no timestamp."""
    d = value if isinstance(value, datetime) else parse_utc(value)
    return None if d is None else format_utc(d)


def parse_bound(text: str, option: str) -> datetime:
    """``--since`` / ``--until``: an ISO-8601 date or time (no zone = UTC)."""
    d = parse_utc(text)
    if d is None:
        raise StormpackError(f"{option}: '{text}' is not an ISO-8601 date or time such as 2023-06-01 "
                             "or 2023-06-01T12:00:00Z")
    return d


def level_rank(level: str | None) -> int:
    return LEVELS.index(level) if level in LEVELS else -1


@dataclass(frozen=True)
class HitFilter:
    """Which hits to show; a correlation hit is shown when its time span meets the range."""

    since: datetime | None = None
    until: datetime | None = None
    min_level: str | None = None
    rules: tuple[str, ...] = ()  # glob patterns on rule title, id or file name, case-insensitive

    @property
    def active(self) -> bool:
        return bool(self.since or self.until or self.min_level or self.rules)

    def rule_ok(self, rule: Any) -> bool:
        if not self.rules:
            return True
        loaded = getattr(rule, "path", None)
        names = [str(getattr(rule, "title", "")), str(getattr(rule, "id", ""))]
        if loaded is not None:
            names.append(getattr(loaded, "stem", str(loaded)))
        return any(fnmatch.fnmatchcase(n.lower(), p.lower()) for p in self.rules for n in names)

    def level_ok(self, level: str | None) -> bool:
        return self.min_level is None or level_rank(level) >= level_rank(self.min_level)

    def time_ok(self, first: Any, last: Any) -> bool:
        if self.since is None and self.until is None:
            return True
        a, b = parse_utc(first), parse_utc(last)
        if a is None or b is None:
            return False  # a hit without a usable time cannot be placed in the range
        return (self.since is None or b >= self.since) and (self.until is None or a <= self.until)


class FilteredSink:
    """Passes on the hits the filter keeps; counts what it left out."""

    def __init__(self, inner: Any, keep: HitFilter) -> None:
        self.inner = inner
        self.keep = keep
        self.shown = 0
        self.left_out = 0

    def _ok(self, rule: Any, first: Any, last: Any) -> bool:
        from .hunt import level_of

        ok = self.keep.rule_ok(rule) and self.keep.level_ok(level_of(rule)) and self.keep.time_ok(first, last)
        if ok:
            self.shown += 1
        else:
            self.left_out += 1
        return ok

    def single(self, hit: Any, record: Any) -> None:
        if self._ok(hit.rule, hit.timestamp, hit.timestamp):
            self.inner.single(hit, record)

    def correlation(self, hit: Any) -> None:
        if self._ok(hit.rule, hit.first_seen, hit.last_seen):
            self.inner.correlation(hit)

    def close(self) -> None:
        self.inner.close()


GROUP_HEADER = {"user": "user", "ip": "ip", "rule": "rule"}


@dataclass
class _Group:
    hits: int = 0
    correlations: int = 0
    levels: dict[str, int] = field(default_factory=dict)
    others: set[str] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None

    def add(self, level: str | None, other: str, first: Any, last: Any, correlation: bool) -> None:
        if correlation:
            self.correlations += 1
        else:
            self.hits += 1
        name = level or "none"
        self.levels[name] = self.levels.get(name, 0) + 1
        if other:
            self.others.add(other)
        for t in (parse_utc(first), parse_utc(last)):
            if t is not None:
                self.first = t if self.first is None or t < self.first else self.first
                self.last = t if self.last is None or t > self.last else self.last


def _group_value(group: Mapping[str, object], by: str) -> str:
    for k, v in group.items():
        low = k.lower()
        if (by == "user" and ("user" in low or low == "identity")) or (by == "ip" and "ip" in low):
            return str(v)
    return ""


class GroupedTableSink:
    """``--group-by``: one row per user, address or rule, with counts and first/last time."""

    def __init__(self, out: IO[bytes], by: str) -> None:
        self._out = out
        self._by = by
        self._groups: dict[str, _Group] = {}

    def _add(self, key: str, level: str | None, other: str, first: Any, last: Any, corr: bool) -> None:
        self._groups.setdefault(key, _Group()).add(level, other, first, last, corr)

    def single(self, hit: Any, record: Any) -> None:
        from .hunt import _first, level_of, role_columns

        users, ips = role_columns()

        data = record.data
        user = _first(data, users)[1]
        ip = _first(data, ips)[1]
        title = str(hit.rule.title)
        key, other = {"user": (user, title), "ip": (ip, title), "rule": (title, user)}[self._by]
        self._add(key, level_of(hit.rule), other, hit.timestamp, hit.timestamp, False)

    def correlation(self, hit: Any) -> None:
        from .hunt import level_of

        title = str(hit.rule.title)
        if self._by == "rule":
            key, other = title, _group_value(hit.group, "user")
        else:
            key, other = _group_value(hit.group, self._by), title
        self._add(key, level_of(hit.rule), other, hit.first_seen, hit.last_seen, True)

    def rows(self) -> list[tuple[str, ...]]:
        other = "rules" if self._by != "rule" else "users"
        header = (GROUP_HEADER[self._by], "hits", "correlations", "levels", other, "first", "last")
        body = []
        ordered = sorted(self._groups.items(), key=lambda kv: (-(kv[1].hits + kv[1].correlations), kv[0]))
        for key, g in ordered:
            by_rank = sorted(g.levels.items(), key=lambda x: -level_rank(x[0]))
            levels = " ".join(f"{lv}={n}" for lv, n in by_rank)
            body.append((key or "(none)", str(g.hits), str(g.correlations), levels, str(len(g.others)),
                         utc_text(g.first) or "", utc_text(g.last) or ""))
        return [header, *body]

    def close(self) -> None:
        from .hunt import _printable

        rows = [tuple(map(_printable, r)) for r in self.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        text = "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
        self._out.write((text + "\n").encode("utf-8", "surrogateescape"))
        self._groups.clear()


def rule_patterns(values: Sequence[str]) -> tuple[str, ...]:
    """``--rule`` values: comma-separated glob patterns, also repeatable."""
    return tuple(p.strip() for v in values for p in v.split(",") if p.strip())

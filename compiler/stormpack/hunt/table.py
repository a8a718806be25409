"""``--format table``: one short row per hit, sorted by time, safe to print on a terminal."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import IO, Any

import orjson

from ..readers import Record
from ..triage import parse_utc, utc_text
from .contract import level_of
from .protocols import CorrelationHitLike, HitLike, RuleLike


def role_columns() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The fields of the user and ip columns: the taxonomy's ``user`` and ``ip`` roles."""
    from ..taxonomy import load_taxonomy

    tax = load_taxonomy()
    return tax.role_fields("user"), tax.role_fields("ip")


_WHAT_FIELDS = ("Operation", "operationName", "OperationName")
_MAX_KEY_FIELDS = 4
_MAX_CELL = 60


def field_value(record: Mapping[str, Any], name: str) -> Any:
    """A dotted field of a record; name/value arrays (``Parameters.ForwardTo``) by name."""
    if name in record:
        return record[name]
    from ..taxonomy import load_taxonomy

    nv = load_taxonomy().name_value_root(name)
    if nv is not None:
        root, element = nv
        arr = record.get(root.array)
        if isinstance(arr, list):
            for el in arr:
                if isinstance(el, dict) and el.get(root.name) == element:
                    return el.get(root.value)
    node: Any = record
    for part in name.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list):
            node = [x.get(part) for x in node if isinstance(x, dict) and part in x]
            if not node:
                return None
        else:
            return None
    return node


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    text = " ".join(text.split())
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def _first(record: Mapping[str, Any], names: Sequence[str]) -> tuple[str, str]:
    for n in names:
        v = field_value(record, n)
        if v not in (None, "", []):
            return n, _cell(v)
    return "", ""


def rule_fields(rule: RuleLike) -> list[str]:
    """The fields a single-event rule's detection tests, in order, without duplicates."""
    from sigma.rule import SigmaRule

    from ..ruleset import iter_detection_fields

    if not isinstance(rule.rule, SigmaRule):
        return []
    out: list[str] = []
    for name, _ in iter_detection_fields(rule.rule):
        if name not in out:
            out.append(name)
    return out


TABLE_HEADER = ("time", "rule", "level", "user", "ip", "key fields")


class TableSink:
    """Collects one short row per hit (never the records) and prints them sorted by time."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._rows: list[tuple[tuple[int, str], tuple[str, ...]]] = []
        self._fields: dict[int, list[str]] = {}
        self._user_fields, self._ip_fields = role_columns()

    def single(self, hit: HitLike, record: Record) -> None:
        data = record.data
        key = id(hit.rule)
        names = self._fields.get(key)
        if names is None:
            names = self._fields[key] = rule_fields(hit.rule)
        user_field, user = _first(data, self._user_fields)
        ip_field, ip = _first(data, self._ip_fields)
        what_field, what = _first(data, _WHAT_FIELDS)
        shown = {user_field, ip_field, what_field}
        details = [what] if what else []
        for n in names:
            if n in shown or len(details) > _MAX_KEY_FIELDS:
                continue
            v = field_value(data, n)
            if v not in (None, "", []):
                details.append(f"{n}={_cell(v)}")
        details.append(f"[{record.source}:{record.line}]")
        ts = hit.timestamp
        self._rows.append((utc_sort_key(ts), (
            utc_text(ts) or ("" if ts is None else str(ts)), hit.rule.title, level_of(hit.rule) or "",
            user, ip, " ".join(details),
        )))

    def correlation(self, hit: CorrelationHitLike) -> None:
        group = " ".join(f"{k}={_cell(v)}" for k, v in hit.group.items())
        self._rows.append((utc_sort_key(hit.first_seen), (
            utc_text(hit.first_seen) or str(hit.first_seen), hit.rule.title, level_of(hit.rule) or "",
            group, "",
            f"correlation: {len(hit.refs)} events until {utc_text(hit.last_seen) or hit.last_seen}",
        )))

    def close(self) -> None:
        self._rows.sort(key=lambda r: r[0])
        rows = [TABLE_HEADER] + [tuple(map(_printable, r)) for _, r in self._rows]
        widths = [max(len(r[i]) for r in rows) for i in range(len(TABLE_HEADER) - 1)]
        lines = []
        for r in rows:
            cells = [c.ljust(w) for c, w in zip(r, widths, strict=False)] + [r[-1]]
            lines.append("  ".join(cells).rstrip())
        self._out.write(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
        self._rows.clear()


# control characters (C0, DEL, C1) and bidirectional overrides: log values are untrusted, and
# printed raw they could drive the terminal (escape sequences) or reorder what a reader sees
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _printable(text: str) -> str:
    """``text`` with every control character / bidi override shown as an escape (``\\x1b``)."""
    return _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], text)


def utc_sort_key(value: Any) -> tuple[int, str]:
    """Sort key putting hits in time order; records without a parseable time go last."""
    if isinstance(value, str):
        d = parse_utc(value)
        if d is None:
            return (1, value)
        return (0, d.isoformat())
    return (1, "")

"""``stormpack hunt --report report.html``: one self-contained HTML file for an investigation.

No network and no script: the page is plain HTML with inline CSS and inline SVG written here
(no vendored code). It holds

* the summary: records read / evaluated / unrecognised / rejected, hits and correlation hits,
  and a table of hits by rule and level whose rows and columns add up to the totals;
* a timeline per user and one per client address (SVG, one time axis): a dot per hit, a bar per
  correlation hit from its first to its last event, coloured by level;
* every hit: time, rule, level, user, address, key fields, and the full record on demand
  (``<details>``);
* every correlation hit with its member events (each member record on demand, read back from
  its file after the hunt).

Log values are untrusted: every value is HTML-escaped, and nothing in the page is executable.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from .triage import LEVELS, parse_utc, utc_text

LEVEL_COLOURS = {
    "critical": "#7b1fa2",
    "high": "#d32f2f",
    "medium": "#f57c00",
    "low": "#1976d2",
    "informational": "#607d8b",
    "": "#9e9e9e",
}
MAX_TIMELINE_ROWS = 40  # per timeline; the rest is counted under the chart


@dataclass
class ReportHit:
    anchor: str
    time: str | None
    rule_id: str
    title: str
    level: str
    user: str
    ip: str
    details: str
    source: str
    index: int
    line: int
    record: Any


@dataclass
class ReportCorrelation:
    anchor: str
    rule_id: str
    title: str
    level: str
    group: dict[str, Any]
    first: str | None
    last: str | None
    members: list[tuple[str, int]]
    users: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)


def _e(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return html.escape(text, quote=True)


class HtmlReportSink:
    """Collects every hit (and its record) for the report; :meth:`write` renders it."""

    def __init__(self) -> None:
        self.hits: list[ReportHit] = []
        self.correlations: list[ReportCorrelation] = []

    def single(self, hit: Any, record: Any) -> None:
        from .hunt import _first, level_of, role_columns

        users, ips = role_columns()

        data = record.data
        self.hits.append(
            ReportHit(
                anchor=f"h{len(self.hits)}",
                time=utc_text(hit.timestamp),
                rule_id=str(hit.rule.id),
                title=str(hit.rule.title),
                level=level_of(hit.rule) or "",
                user=_first(data, users)[1],
                ip=_first(data, ips)[1],
                details=_key_fields(hit, data),
                source=record.source,
                index=record.index,
                line=record.line,
                record=data,
            )
        )

    def correlation(self, hit: Any) -> None:
        from .hunt import level_of

        group = dict(hit.group)
        users = [str(v) for k, v in group.items() if "user" in k.lower() or k.lower() == "identity"]
        ips = [str(v) for k, v in group.items() if "ip" in k.lower()]
        self.correlations.append(
            ReportCorrelation(
                anchor=f"c{len(self.correlations)}",
                rule_id=str(hit.rule.id),
                title=str(hit.rule.title),
                level=level_of(hit.rule) or "",
                group=group,
                first=utc_text(hit.first_seen),
                last=utc_text(hit.last_seen),
                members=[(r.source, r.index) for r in hit.refs],
                users=users,
                ips=ips,
            )
        )

    def close(self) -> None:
        return None

    # ------------------------------------------------------------------ rendering

    def write(self, out: IO[bytes], stats: Any, members: Mapping[tuple[str, int], Any]) -> None:
        out.write(render(self, stats, members).encode("utf-8", "surrogateescape"))


def _key_fields(hit: Any, data: Mapping[str, Any]) -> str:
    from .hunt import _cell, _first, field_value, rule_fields

    parts = []
    what = _first(data, ("Operation", "operationName", "OperationName"))[1]
    if what:
        parts.append(what)
    for name in rule_fields(hit.rule)[:4]:
        v = field_value(data, name)
        if v not in (None, "", []):
            parts.append(f"{name}={_cell(v)}")
    return " ".join(parts)


def member_records(sink: HtmlReportSink, convert: Any = None) -> dict[tuple[str, int], Any]:
    """The records correlation members point at, read back from their files."""
    from .errors import EventReadError
    from .readers import EventFile, Record

    wanted: dict[str, set[int]] = {}
    for c in sink.correlations:
        for source, index in c.members:
            wanted.setdefault(source, set()).add(index)
    found: dict[tuple[str, int], Any] = {}
    for source, indices in wanted.items():
        try:
            f = EventFile(source)
        except EventReadError:
            continue
        start = getattr(convert, "start_file", None)
        if start is not None:
            start(source)
        with f:
            for item in f:
                if isinstance(item, Record) and item.index in indices:
                    data = convert(item.data)[0] if convert is not None else item.data
                    found[(source, item.index)] = data
                    if len(found) == sum(len(v) for v in wanted.values()):
                        break
    return found


CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#212121}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 7px;text-align:left;
vertical-align:top}th{background:#f5f5f5}td.n{text-align:right}
.level{display:inline-block;padding:0 6px;border-radius:3px;color:#fff;font-size:.85em}
.counts span{display:inline-block;margin-right:1.5em}.counts b{font-size:1.3em}
details pre{white-space:pre-wrap;word-break:break-all;background:#fafafa;border:1px solid #eee;padding:6px;
max-width:110em}
svg text{font:11px system-ui,sans-serif}
"""


def _level(level: str) -> str:
    colour = LEVEL_COLOURS.get(level, "#9e9e9e")
    return f'<span class="level" style="background:{colour}">{_e(level or "none")}</span>'


def _pre(value: Any) -> str:
    return f"<pre>{_e(orjson.dumps(value, default=str, option=orjson.OPT_INDENT_2).decode())}</pre>"


@dataclass
class _Mark:
    start: datetime
    end: datetime
    level: str
    label: str
    anchor: str
    bar: bool


def _timeline(title: str, svg_id: str, rows: Mapping[str, list[_Mark]]) -> str:
    marks = [m for ms in rows.values() for m in ms]
    if not marks:
        return f'<h3>{_e(title)}</h3><p id="{svg_id}-empty">No hit with a time.</p>'
    lo = min(m.start for m in marks).timestamp()
    hi = max(m.end for m in marks).timestamp()
    span = max(hi - lo, 1.0)
    ordered = sorted(rows.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    shown, rest = ordered[:MAX_TIMELINE_ROWS], ordered[MAX_TIMELINE_ROWS:]
    left, width, row_h = 260, 900, 22
    height = 30 + row_h * len(shown) + 24
    parts = [
        f"<h3>{_e(title)}</h3>",
        f'<svg id="{svg_id}" class="timeline" xmlns="http://www.w3.org/2000/svg" width="{left + width + 20}" '
        f'height="{height}" role="img" aria-label="{_e(title)}">',
    ]

    def x(t: datetime) -> float:
        return left + (t.timestamp() - lo) / span * width

    for i, (name, ms) in enumerate(shown):
        y = 30 + i * row_h
        fill = "#fafafa" if i % 2 else "#ffffff"
        parts.append(f'<rect x="0" y="{y}" width="{left + width + 20}" height="{row_h}" fill="{fill}"/>')
        label = name if len(name) <= 38 else name[:37] + "…"
        parts.append(f'<text x="4" y="{y + 15}">{_e(label or "(none)")} ({len(ms)})</text>')
        for m in ms:
            colour = LEVEL_COLOURS.get(m.level, "#9e9e9e")
            tip = f"<title>{_e(m.label)}</title>"
            if m.bar:
                x0, x1 = x(m.start), x(m.end)
                parts.append(
                    f'<a href="#{m.anchor}"><rect class="correlation" x="{x0:.1f}" y="{y + 4}" '
                    f'width="{max(x1 - x0, 3):.1f}" height="{row_h - 8}" fill="{colour}" '
                    f'fill-opacity="0.35" stroke="{colour}">{tip}</rect></a>'
                )
            else:
                parts.append(
                    f'<a href="#{m.anchor}"><circle class="hit" cx="{x(m.start):.1f}" cy="{y + row_h / 2}" '
                    f'r="5" fill="{colour}">{tip}</circle></a>'
                )
    axis_y = 30 + row_h * len(shown) + 4
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{left + width}" y2="{axis_y}" stroke="#616161"/>')
    for k in range(5):
        t = lo + span * k / 4
        tx = left + width * k / 4
        stamp = (utc_text(datetime.fromtimestamp(t, tz=UTC)) or "")[:16].replace("T", " ")
        anchor = "start" if k == 0 else "end" if k == 4 else "middle"
        parts.append(f'<text x="{tx:.1f}" y="{axis_y + 16}" text-anchor="{anchor}">{_e(stamp)}</text>')
    parts.append(f'<text x="4" y="18">{_e(title)}: {len(marks)} marks on one time axis (UTC); '
                 'dot = hit, bar = correlation from its first to its last event</text>')
    parts.append("</svg>")
    if rest:
        parts.append(f"<p>and {len(rest)} more rows ({sum(len(v) for _, v in rest)} marks) not drawn.</p>")
    return "".join(parts)


def _rows_by(sink: HtmlReportSink, key: str) -> dict[str, list[_Mark]]:
    rows: dict[str, list[_Mark]] = {}
    for h in sink.hits:
        t = parse_utc(h.time)
        if t is None:
            continue
        name = h.user if key == "user" else h.ip
        rows.setdefault(name, []).append(_Mark(t, t, h.level, f"{h.time} {h.title}", h.anchor, False))
    for c in sink.correlations:
        a, b = parse_utc(c.first), parse_utc(c.last)
        if a is None or b is None:
            continue
        for name in (c.users if key == "user" else c.ips) or [""]:
            rows.setdefault(name, []).append(
                _Mark(a, b, c.level, f"{c.first} .. {c.last} {c.title} (correlation)", c.anchor, True)
            )
    return rows


def _summary_table(sink: HtmlReportSink) -> str:
    by_rule: dict[tuple[str, str], dict[str, int]] = {}
    for title, level in [(h.title, h.level) for h in sink.hits] + [
        (c.title, c.level) for c in sink.correlations
    ]:
        row = by_rule.setdefault((title, level), {})
        row[level] = row.get(level, 0) + 1
    levels = [lv for lv in reversed(LEVELS) if any(lv == k[1] for k in by_rule)]
    if any(k[1] not in LEVELS for k in by_rule):
        levels.append("")
    head = "".join(f"<th>{_level(lv)}</th>" for lv in levels)
    rows = []
    for (title, _), counts in sorted(by_rule.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])):
        cells = "".join(f'<td class="n">{counts.get(lv, 0) or ""}</td>' for lv in levels)
        rows.append(
            f'<tr class="rule-row"><td>{_e(title)}</td>{cells}'
            f'<td class="n total">{sum(counts.values())}</td></tr>'
        )
    totals = "".join(
        f'<td class="n" data-level="{_e(lv)}">{sum(c.get(lv, 0) for c in by_rule.values())}</td>'
        for lv in levels
    )
    grand = sum(sum(c.values()) for c in by_rule.values())
    return (
        f'<table id="by-rule"><tr><th>rule</th>{head}<th>total</th></tr>{"".join(rows)}'
        f'<tr><th>total</th>{totals}<td class="n" id="grand-total">{grand}</td></tr></table>'
    )


def render(sink: HtmlReportSink, stats: Any, members: Mapping[tuple[str, int], Any]) -> str:
    hits = sorted(sink.hits, key=lambda h: (h.time is None, h.time or "", h.anchor))
    corrs = sorted(sink.correlations, key=lambda c: (c.first is None, c.first or "", c.anchor))
    by_anchor = {(h.source, h.index): h.anchor for h in sink.hits}
    counts = [
        ("records read", stats.read, "count-read"),
        ("evaluated", stats.evaluated, "count-evaluated"),
        ("unrecognised", stats.unrecognised, "count-unrecognised"),
        ("rejected", stats.rejected, "count-rejected"),
        ("hits", len(sink.hits), "count-hits"),
        ("correlation hits", len(sink.correlations), "count-correlations"),
    ]
    out = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" "
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>stormpack hunt report</title><style>{CSS}</style></head><body>",
        "<h1>stormpack hunt report</h1>",
        f"<p>{stats.files} file(s); records read = evaluated + unrecognised + rejected "
        f"({stats.read} = {stats.evaluated} + {stats.unrecognised} + {stats.rejected}).</p>",
        '<p class="counts">'
        + "".join(f'<span>{_e(label)}: <b id="{i}">{n}</b></span>' for label, n, i in counts)
        + "</p>",
        "<h2>Hits by rule and level</h2>",
        _summary_table(sink),
        "<h2>Timeline</h2>",
        _timeline("Per user", "timeline-user", _rows_by(sink, "user")),
        _timeline("Per client address", "timeline-ip", _rows_by(sink, "ip")),
        f"<h2>Hits ({len(hits)})</h2>",
        '<table id="hits"><tr><th>time (UTC)</th><th>rule</th><th>level</th><th>user</th><th>address</th>'
        "<th>key fields and record</th></tr>",
    ]
    for h in hits:
        out.append(
            f'<tr id="{h.anchor}" class="hit-row"><td>{_e(h.time or "")}</td><td>{_e(h.title)}</td>'
            f"<td>{_level(h.level)}</td><td>{_e(h.user)}</td><td>{_e(h.ip)}</td>"
            f"<td>{_e(h.details)} <small>[{_e(h.source)}:{h.line}]</small>"
            f"<details><summary>record</summary>{_pre(h.record)}</details></td></tr>"
        )
    out.append("</table>")
    out.append(
        f'<h2>Correlation hits ({len(corrs)})</h2><table id="correlations"><tr><th>first .. last (UTC)'
        "</th><th>rule</th><th>level</th><th>group</th><th>member events</th></tr>"
    )
    for c in corrs:
        items = []
        for source, index in c.members:
            link = by_anchor.get((source, index))
            name = f"{_e(source)} #{index}"
            if link:
                name = f'<a href="#{link}">{name}</a>'
            rec = members.get((source, index))
            body = _pre(rec) if rec is not None else "<p>(record not read back)</p>"
            items.append(f'<li class="member"><details><summary>{name}</summary>{body}</details></li>')
        group = ", ".join(f"{_e(k)}={_e(v)}" for k, v in c.group.items())
        out.append(
            f'<tr id="{c.anchor}" class="correlation-row"><td>{_e(c.first or "")} .. {_e(c.last or "")}</td>'
            f"<td>{_e(c.title)}</td><td>{_level(c.level)}</td><td>{group}</td>"
            f"<td>{len(c.members)} events<ul>{''.join(items)}</ul></td></tr>"
        )
    out.append("</table></body></html>\n")
    return "".join(out)


def write_report(path: Path, sink: HtmlReportSink, stats: Any, convert: Any = None) -> None:
    from .hunt import atomic_output

    members = member_records(sink, convert)
    with atomic_output(path) as out:
        sink.write(out, stats, members)


class TeeSink:
    """Sends every hit to several sinks."""

    def __init__(self, sinks: Sequence[Any]) -> None:
        self.sinks = list(sinks)

    def single(self, hit: Any, record: Any) -> None:
        for s in self.sinks:
            s.single(hit, record)

    def correlation(self, hit: Any) -> None:
        for s in self.sinks:
            s.correlation(hit)

    def close(self) -> None:
        for s in self.sinks:
            s.close()

"""Writing a baseline: the values directory (the ``values/`` format) and the report (Markdown for
people, JSON for machines)."""

from __future__ import annotations

import json
import os
import textwrap
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import BaselineError, Location
from ..hunt import HuntStats
from ..readers import Rejected
from ..ruleset import load_values
from .learn import ListStats, Window
from .review import Decision, Thresholds

#: values file of each list, by name prefix (as the shipped values/ splits them)
FILES = (("mail_", "mail_access.yml"), ("org_", "organisation.yml"))
OTHER_FILE = "other.yml"
MAX_REJECTIONS = 1000


@dataclass
class ListResult:
    stats: ListStats
    decisions: list[Decision]
    written: list[str]
    from_seed: bool  # nothing was learned as allowed: the seed (shipped) values are written


@dataclass
class BaselineResult:
    lists: dict[str, ListResult]
    hunt: HuntStats
    thresholds: Thresholds
    events: list[str]
    rejections: list[Rejected] = field(default_factory=list)
    passes: int = 1  # reads of the exports (paired lists learn from each other)
    window: Window | None = None
    outside: int = 0  # teaching records outside the window
    undated: int = 0  # teaching records without a usable time, with a window set

    @property
    def review(self) -> list[tuple[str, Decision]]:
        return [(n, d) for n, lr in self.lists.items() for d in lr.decisions if not d.allowed]


def _time(d: datetime | None) -> str | None:
    return None if d is None else d.strftime("%Y-%m-%dT%H:%M:%SZ")


def _counts(d: Decision) -> str:
    s = d.stats
    fp = f"; Microsoft first-party: {d.first_party}" if d.first_party else ""
    return (f"{s.records} records, {len(s.users)} users, {len(s.days)} days, "
            f"{_time(s.first) or '?'} .. {_time(s.last) or '?'}{fp}")


def _file_of(name: str) -> str:
    for prefix, fname in FILES:
        if name.startswith(prefix):
            return fname
    return OTHER_FILE


def _quote(value: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax is a subset of it)."""
    return json.dumps(value, ensure_ascii=True)


def write_values(result: BaselineResult, out: Path) -> list[Path]:
    """One file per list group; every value with its counts as a comment. Re-read with the
    loader `hunt --values` and `build --values` use, so a file they reject is never left."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BaselineError(f"cannot create the values directory: {exc.strerror}", Location(out)) from None
    ours = {fname for _, fname in FILES} | {OTHER_FILE}
    foreign = sorted(p.name for p in out.iterdir() if p.suffix in (".yml", ".yaml") and p.name not in ours)
    if foreign:
        raise BaselineError(f"holds other values files ({', '.join(foreign)}) that would be read together "
                            "with the learned lists: choose an empty or new directory", Location(out))
    groups: dict[str, list[str]] = {}
    for name, lr in sorted(result.lists.items()):
        lines = groups.setdefault(_file_of(name), [])
        learner = lr.stats.learner
        lines.append("")
        lines.extend(textwrap.wrap(learner.why, 98, initial_indent="# ", subsequent_indent="# "))
        if lr.from_seed:
            lines.append("# nothing learned that passes review: the seed (shipped) values are kept")
        lines.append(f"{name}:")
        by_value = {d.value: d for d in lr.decisions}
        for v in lr.written:
            d = by_value.get(v)
            note = f"  # {_counts(d)}" if d is not None and not lr.from_seed else ""
            lines.append(f"  - {_quote(v)}{note}")
    written = []
    for fname, lines in sorted(groups.items()):
        path = out / fname
        head = ["# Tenant lists learned by `stormpack baseline` (review the report before deploying)."]
        tmp = path.with_name(f".{fname}.tmp")
        try:
            tmp.write_text("\n".join(head + lines) + "\n", encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            raise BaselineError(f"cannot write the values file: {exc.strerror}", Location(path)) from None
        written.append(path)
    for stale in ours - set(groups):
        (out / stale).unlink(missing_ok=True)  # from an earlier run: not read with this one
    load_values(out)  # the loader of hunt/build: raises ValuesError naming file and line
    return written


def report_object(result: BaselineResult) -> dict[str, Any]:
    h = result.hunt
    return {
        "events": result.events,
        "read": {"files": h.files, "records": h.read, "evaluated": h.evaluated,
                 "unrecognised": h.unrecognised,
                 "rejected": h.rejected, "unrecognised_by_file": h.unrecognised_by_source,
                 "unrecognised_why": h.unrecognised_why, "converted": h.converted,
                 "rejections": [{"file": r.source, "line": r.line, "record": r.index, "message": r.message}
                                for r in result.rejections],
                 "unusable": [str(e) for e in h.unusable]},
        "thresholds": {"min_users": result.thresholds.min_users, "min_days": result.thresholds.min_days},
        "passes": result.passes,
        "window": None if result.window is None else {
            "since": _time(result.window.since), "until": _time(result.window.until),
            "records_outside": result.outside, "records_without_time": result.undated},
        "lists": {
            name: {
                "kind": lr.stats.learner.kind, "policy": lr.stats.learner.policy, "why": lr.stats.learner.why,
                "records": lr.stats.records, "records_without_value": lr.stats.without_value,
                "written": lr.written, "from_seed": lr.from_seed,
                "values": [{
                    "value": d.value, "allowed": d.allowed, "blocked": d.blocked, "review": d.review,
                    "notes": d.notes,
                    "records": d.stats.records, "users": len(d.stats.users), "days": len(d.stats.days),
                    "first_seen": _time(d.stats.first), "last_seen": _time(d.stats.last),
                    "undated_records": d.stats.undated, "first_party": d.first_party,
                    "taught_by_sources": sorted(i + 1 for i in d.stats.sources),
                    "example": d.stats.example} for d in lr.decisions],
            } for name, lr in sorted(result.lists.items())},
    }


def _cell(text: str) -> str:
    """A value as a Markdown code span in a table cell (values come from untrusted logs: no line
    break, pipe or backtick may end the cell; the JSON report has the exact text)."""
    flat = " ".join(text.replace("`", "'").replace("|", "\\|").split())
    return "`" + flat + "`"


def report_markdown(result: BaselineResult) -> str:
    h = result.hunt
    t = result.thresholds
    out = ["# stormpack baseline report", "",
           f"Read {h.files} file(s): {h.read:,} records = {h.evaluated:,} evaluated + {h.unrecognised:,} "
           f"unrecognised + {h.rejected:,} rejected. Thresholds: --min-users {t.min_users}, "
           f"--min-days {t.min_days}. Passes over the exports: {result.passes} (paired lists learn "
           "from each other).", ""]
    if result.window is not None:
        w = result.window
        out += [f"Window: {_time(w.since) or 'any'} .. {_time(w.until) or 'any'}: {result.outside:,} "
                f"teaching records outside it and {result.undated:,} without a usable time were not "
                "learned from.", ""]
    if h.unrecognised:
        out.append("Unrecognised records (no log source of the pack; they teach nothing):")
        out.extend(f"* {src}: {n:,} - {h.unrecognised_why.get(src, '')}" for src, n in
                   sorted(h.unrecognised_by_source.items()))
        out.append("")
    if result.rejections or h.unusable:
        out.append("Rejected records and unusable files (not read):")
        out.extend(f"* {r}" for r in result.rejections)
        if h.rejected > len(result.rejections):
            out.append(f"* ... and {h.rejected - len(result.rejections):,} more")
        out.extend(f"* unusable: {e}" for e in h.unusable)
        out.append("")
    review = result.review
    out += ["## Review before allowing", ""]
    if not review:
        out += ["Nothing: every learned value passed the thresholds and checks.", ""]
    else:
        out += ["Not written to the values directory. **Blocked** values are never auto-allowed "
                "(campaign IOCs, the campaign's client string, never-allow clients); the others fell "
                "short of a threshold or of the list's policy.", "",
                "| list | value | counts | why |", "|---|---|---|---|"]
        for name, d in review:
            why = "; ".join([f"**blocked**: {b}" for b in d.blocked] + d.review)
            out.append(f"| {name} | {_cell(d.value)} | {_counts(d)} | {why} |")
        out.append("")
    noted = [(n, d) for n, lr in result.lists.items() for d in lr.decisions if d.notes]
    if noted:
        out += ["## Notes", "", "Campaign signals on the records of values they do not block (see "
                "docs/baseline.md): investigate the accounts, the value itself is the tenant's.", "",
                "| list | value | note |", "|---|---|---|"]
        out.extend(f"| {n} | {_cell(d.value)} | {'; '.join(d.notes)} |" for n, d in noted)
        out.append("")
    out += ["## Lists", ""]
    for name, lr in sorted(result.lists.items()):
        ln = lr.stats.learner
        out += [f"### {name}", "", f"{ln.why} (kind {ln.kind}, policy {ln.policy}; "
                f"{lr.stats.records:,} teaching records, {lr.stats.without_value:,} without a value).", ""]
        if lr.decisions:
            out += ["| value | written | records | users | days | first seen | last seen | first-party |",
                    "|---|---|---:|---:|---:|---|---|---|"]
            for d in lr.decisions:
                s = d.stats
                state = "yes" if d.allowed else ("**blocked**" if d.blocked else "review")
                out.append(f"| {_cell(d.value)} | {state} | {s.records} | {len(s.users)} | {len(s.days)} | "
                           f"{_time(s.first) or '?'} | {_time(s.last) or '?'} | {d.first_party or ''} |")
            out.append("")
        if lr.from_seed:
            out += ["Nothing learned passes review: written with the seed values "
                    + ", ".join(_cell(v) for v in lr.written) + ".", ""]
    return "\n".join(out)


def write_report(result: BaselineResult, path: Path) -> tuple[Path, Path]:
    """``path`` (Markdown) and the same name with ``.json`` (the machine-readable report)."""
    jpath = path.with_suffix(".json")
    if jpath == path:
        raise BaselineError("the report must not be a .json file (its JSON twin is written beside it)",
                            Location(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(report_markdown(result), encoding="utf-8")
        text = json.dumps(report_object(result), indent=2, ensure_ascii=False)
        jpath.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise BaselineError(f"cannot write the report: {exc.strerror}", Location(path)) from None
    return path, jpath

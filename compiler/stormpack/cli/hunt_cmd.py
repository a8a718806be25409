"""``stormpack hunt``: replay exported logs through the pack (or chosen rules)."""

from __future__ import annotations

import os
import re
import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

import click
import orjson

from ..errors import EventReadError, StormpackError
from ..hunt import HitSink, HuntStats, JsonlSink, Progress, TableSink, atomic_output, run_hunt, stdout_binary
from ..hunt_parallel import default_jobs
from ..readers import Rejected, resolve_event_paths
from ..report import HtmlReportSink, TeeSink, write_report
from ..triage import LEVELS, FilteredSink, GroupedTableSink, HitFilter, parse_bound, rule_patterns

if TYPE_CHECKING:
    from ..matcher import Engine

DEFAULT_VALUES = Path("values")
MAX_SUMMARY_LINES = 50


AUTO_DISORDER = "1h"
AUTO_SECONDS = 3600.0
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_disorder(text: str) -> float | None | Literal["auto"]:
    """``--max-disorder``: a duration (``90s``, ``10m``, ``1.5h``, ``2d``), ``none`` or ``auto``."""
    t = text.strip().lower()
    if t in ("none", "auto"):
        return None if t == "none" else "auto"
    m = _DURATION.fullmatch(t)
    if m is None:
        raise StormpackError(f"--max-disorder: '{text}' is not a duration such as 30s, 10m, 1h or 2d, "
                             "nor 'none' or 'auto'")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _load_engine(rules: tuple[str, ...], values: str | None) -> Engine:
    """The rules given, else the bundled pack; values given, else ./values/, else the bundled
    values (with the bundled pack) or none."""
    from ..bundled import bundled_rules, bundled_values
    from ..matcher import Engine
    from ..ruleset import find_base_rules, load_ruleset, load_values

    if rules:
        base = find_base_rules(list(rules))
        if base.added:
            click.echo(base.note(), err=True)
        ruleset = load_ruleset([*rules, *base.added])
    else:
        ruleset = load_ruleset([bundled_rules()])
    if values is not None:
        vals = load_values(values)
    elif DEFAULT_VALUES.is_dir():
        vals = load_values(DEFAULT_VALUES)
    else:
        vals = load_values(bundled_values()) if not rules else {}
    from ..derived import unfilled

    for line in unfilled([lr.rule for lr in ruleset], vals):
        click.echo(f"warning: {line}", err=True)
    return Engine.build(ruleset, vals)


def _auto_order(engine: Engine, events: tuple[str, ...]) -> tuple[float | None, bool]:
    """``--max-disorder auto``: (allowed disorder, sort by time first).

    Regular files can be read twice: they are scanned for time order first; in order (either
    direction, within AUTO_DISORDER) they are hunted as they are with bounded state, otherwise in
    time order (sorted on disk), so correlations are exact whatever the export's order. A pipe
    or device keeps the stream rule: AUTO_DISORDER for one input, none for several."""
    from ..hunt_order import scan_order, seekable
    from ..readers.exports import SourceShapes

    try:
        paths = resolve_event_paths(events)
    except EventReadError:
        return None, False  # run_hunt reports the unusable path as before
    if not seekable(paths):
        return (AUTO_SECONDS if len(paths) == 1 else None), False
    if not engine.correlations:
        return AUTO_SECONDS, False  # order matters to correlation rules only
    scan = scan_order(paths, engine.classify, SourceShapes(), AUTO_SECONDS)
    if scan.ordered:
        return AUTO_SECONDS, False
    sys.stderr.write(f"note: the input is not in time order ({scan.out_of_order:,}+ records more than "
                     f"{AUTO_DISORDER} out of place): hunting it in time order (sorted on disk)\n")
    return AUTO_SECONDS, True


def _error_object(exc: StormpackError) -> bytes:
    loc = exc.location
    return orjson.dumps(
        {
            "error": str(exc),
            "file": None if loc is None or loc.path is None else str(loc.path),
            "line": None if loc is None else loc.line,
        },
        option=orjson.OPT_APPEND_NEWLINE,
    )


def format_summary(stats: HuntStats) -> str:
    """The end-of-hunt summary; its counts add up to the records read."""
    lines = [
        f"summary: {stats.files} file(s), {stats.read:,} records read = {stats.evaluated:,} evaluated"
        f" + {stats.unrecognised:,} unrecognised + {stats.rejected:,} rejected",
        f"  matched: {stats.matched:,} records ({stats.hits:,} hits), "
        f"{stats.correlation_hits:,} correlation hits",
    ]
    if stats.skipped:
        lines.append(f"  prefilter: {stats.skipped:,} of the evaluated records decided from their raw "
                     "text (no rule can match them), not parsed")
    if stats.converted:
        lines.append("  converted to the source shape the rules read (then evaluated):")
        lines.extend(f"    {shape}: {n:,}" for shape, n in sorted(stats.converted.items()))
    if stats.unrecognised:
        lines.append("  unrecognised (no rule log source fits these records; not evaluated):")
        for src, n in stats.unrecognised_by_source.items():
            why = stats.unrecognised_why.get(src)
            lines.append(f"    {src}: {n:,}" + (f" - {why}" if why else ""))
    if stats.rejected:
        lines.append("  rejected (not evaluated):")
        lines.extend(f"    {r}" for r in stats.rejections[:MAX_SUMMARY_LINES])
        if stats.rejected > MAX_SUMMARY_LINES:
            lines.append(f"    ... and {stats.rejected - MAX_SUMMARY_LINES:,} more (all reported above)")
    if stats.warning_count:
        lines.append("  warnings (evaluated, but not usable by correlation rules):")
        lines.extend(f"    {w}" for w in stats.warnings[:MAX_SUMMARY_LINES])
        if stats.warning_count > MAX_SUMMARY_LINES:
            lines.append(f"    ... and {stats.warning_count - MAX_SUMMARY_LINES:,} more (all reported above)")
    if stats.late:
        lines.append(f"  late (evaluated by single-event rules, left out of correlation rules: more than "
                     f"--max-disorder out of time order; rerun with --max-disorder none): {stats.late:,}")
        lines.extend(f"    {w}" for w in stats.late_samples[:MAX_SUMMARY_LINES])
        if stats.late > MAX_SUMMARY_LINES:
            lines.append(f"    ... and {stats.late - MAX_SUMMARY_LINES:,} more")
    if stats.unusable:
        lines.append("  unusable files (not read):")
        lines.extend(f"    {e}" for e in stats.unusable)
    return "\n".join(lines) + "\n"


@click.command("hunt")
@click.option("--rules", "rules", multiple=True, metavar="PATH",
              help="Rule file or directory (repeatable) [default: the pack bundled with stormpack].")
@click.option("--events", "events", multiple=True, required=True, metavar="PATH",
              help="Log file or directory of log files (repeatable). Format detected from content.")
@click.option("--values", "values", default=None, metavar="DIR",
              help="Placeholder values file or directory [default: values/ if present, else the "
                   "bundled values when the bundled pack is used].")
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table",
              show_default=True, help="table for people, jsonl for scripts.")
@click.option("--max-disorder", "max_disorder", default="auto", show_default=True, metavar="DURATION",
              help="How far out of time order a record may arrive and still count for correlation "
                   "rules (e.g. 30s, 10m, 1h, 2d); beyond it, correlation state is dropped so memory "
                   "stays flat. 'none': keep every record until the end (exact for any order). "
                   f"'auto': {AUTO_DISORDER} with one events file, none with several.")
@click.option("--output", "output", default=None, metavar="FILE", type=click.Path(dir_okay=False),
              help="Write hits to FILE (atomically) instead of standard output.")
@click.option("--since", "since", default=None, metavar="TIME",
              help="Show only hits at or after TIME (ISO-8601; no zone = UTC).")
@click.option("--until", "until", default=None, metavar="TIME",
              help="Show only hits at or before TIME (ISO-8601; no zone = UTC).")
@click.option("--min-level", "min_level", type=click.Choice(LEVELS), default=None,
              help="Show only hits of rules of this level or higher.")
@click.option("--rule", "rule_filter", multiple=True, metavar="PATTERN",
              help="Show only hits of rules whose title, id or file name matches the glob PATTERN "
                   "(case-insensitive; repeatable, or comma-separated).")
@click.option("--report", "report", default=None, metavar="FILE.html", type=click.Path(dir_okay=False),
              help="Also write a self-contained HTML report (summary, timelines, hits, correlations).")
@click.option("--group-by", "group_by", type=click.Choice(["user", "ip", "rule"]), default=None,
              help="Table: one row per user, address or rule with counts and first/last time.")
@click.option("--jobs", "jobs", type=click.IntRange(min=1), default=None, metavar="N",
              help="Worker processes for large JSON Lines files [default: the number of CPUs]; "
                   "same hits as --jobs 1.")
@click.option("--no-prefilter", "no_prefilter", is_flag=True, default=False,
              help="Parse every record (by default JSON lines that no rule can match are decided "
                   "from their raw text; same hits and counts either way).")
def hunt_cmd(rules: tuple[str, ...], events: tuple[str, ...], values: str | None, fmt: str,
             max_disorder: str, output: str | None, since: str | None, until: str | None,
             min_level: str | None, rule_filter: tuple[str, ...], report: str | None,
             group_by: str | None, jobs: int | None, no_prefilter: bool) -> None:
    """Replay exported audit logs (JSON Lines, JSON, Purview CSV, Entra exports, gzip) through rules.

    Exit status: 0 when every record was read, 1 when some record was rejected or some file was
    unusable (hits are still reported), 2 when a rule, values file or path is unusable.
    """
    err = sys.stderr
    try:
        disorder = parse_disorder(max_disorder)
        keep = HitFilter(
            since=None if since is None else parse_bound(since, "--since"),
            until=None if until is None else parse_bound(until, "--until"),
            min_level=min_level, rules=rule_patterns(rule_filter))
        if group_by is not None and fmt != "table":
            raise StormpackError("--group-by gives a table: use it without --format jsonl")
        engine = _load_engine(rules, values)
    except StormpackError as exc:
        if fmt == "jsonl":
            stdout_binary().write(_error_object(exc))
            sys.stdout.flush()
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)

    from ..matcher import EventRef
    from ..readers.exports import SourceShapes, explain_unrecognised

    time_sort = False
    if disorder == "auto":
        disorder, time_sort = _auto_order(engine, events)
    engine.set_max_disorder(disorder)

    progress = Progress(err, enabled=err.isatty())

    def say(text: str) -> None:
        progress.clear()
        err.write(text + "\n")

    def on_reject(item: Rejected) -> None:
        say(f"rejected: {item}")

    def on_unusable(exc: EventReadError) -> None:
        say(f"unusable: {exc}")

    def on_warning(text: str) -> None:
        say(f"warning: {text}")

    target: AbstractContextManager[IO[bytes]] = (
        atomic_output(Path(output)) if output else nullcontext(stdout_binary())
    )
    try:
        with target as out:
            inner: HitSink = (JsonlSink(out) if fmt == "jsonl" else
                              GroupedTableSink(out, group_by) if group_by else TableSink(out))
            report_sink = HtmlReportSink() if report else None
            both: HitSink = TeeSink([inner, report_sink]) if report_sink is not None else inner
            filtered = FilteredSink(both, keep) if keep.active else None
            sink: HitSink = filtered if filtered is not None else both
            stats = run_hunt(
                engine, events, sink, EventRef,
                on_reject=on_reject, on_unusable=on_unusable, on_warning=on_warning, progress=progress,
                convert=SourceShapes(), explain=explain_unrecognised, time_sort=time_sort,
                jobs=default_jobs() if jobs is None else jobs, prefilter=not no_prefilter,
            )
            out.flush()
    except BrokenPipeError:
        # the reader of our output went away (e.g. `| head`): stop quietly, like other tools
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        progress.clear()
        err.write("hunt stopped: output closed by the reader\n")
        sys.exit(1)
    if report and report_sink is not None:
        try:
            write_report(Path(report), report_sink, stats, SourceShapes())
        except StormpackError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
    summary = format_summary(stats)
    if filtered is not None:
        summary += (f"  shown: {filtered.shown:,} of {filtered.shown + filtered.left_out:,} hits "
                    f"(--since/--until/--min-level/--rule left out {filtered.left_out:,})\n")
    if fmt == "table" and not output:
        sys.stdout.write("\n" + summary)
        sys.stdout.flush()
    else:
        err.write(summary)
    sys.exit(0 if stats.complete else 1)

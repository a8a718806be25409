"""``stormpack hunt``: replay exported logs through the pack (or chosen rules)."""

from __future__ import annotations

import os
import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO

import click
import orjson

from ..errors import EventReadError, StormpackError
from ..hunt import HitSink, HuntStats, JsonlSink, Progress, TableSink, atomic_output, run_hunt, stdout_binary
from ..readers import Rejected

DEFAULT_VALUES = Path("values")
MAX_SUMMARY_LINES = 50


def _load_engine(rules: tuple[str, ...], values: str | None) -> object:
    from ..matcher import Engine
    from ..ruleset import load_ruleset, load_values

    ruleset = load_ruleset(list(rules))
    if values is None:
        vals = load_values(DEFAULT_VALUES) if DEFAULT_VALUES.is_dir() else {}
    else:
        vals = load_values(values)
    return Engine.build(ruleset, vals)


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
    if stats.converted:
        lines.append("  converted from SIEM export rows back to the source shape (then evaluated):")
        lines.extend(f"    {shape}: {n:,}" for shape, n in sorted(stats.converted.items()))
    if stats.unrecognised:
        lines.append("  unrecognised (no rule log source fits these records; not evaluated):")
        lines.extend(f"    {src}: {n:,}" for src, n in stats.unrecognised_by_source.items())
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
    if stats.unusable:
        lines.append("  unusable files (not read):")
        lines.extend(f"    {e}" for e in stats.unusable)
    return "\n".join(lines) + "\n"


@click.command("hunt")
@click.option("--rules", "rules", multiple=True, required=True, metavar="PATH",
              help="Rule file or directory (repeatable).")
@click.option("--events", "events", multiple=True, required=True, metavar="PATH",
              help="Log file or directory of log files (repeatable). Format detected from content.")
@click.option("--values", "values", default=None, metavar="DIR",
              help="Placeholder values file or directory [default: values/ if present].")
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table",
              show_default=True, help="table for people, jsonl for scripts.")
@click.option("--output", "output", default=None, metavar="FILE", type=click.Path(dir_okay=False),
              help="Write hits to FILE (atomically) instead of standard output.")
def hunt_cmd(rules: tuple[str, ...], events: tuple[str, ...], values: str | None, fmt: str,
             output: str | None) -> None:
    """Replay exported audit logs (JSON Lines, JSON, Purview CSV, Entra exports, gzip) through rules.

    Exit status: 0 when every record was read, 1 when some record was rejected or some file was
    unusable (hits are still reported), 2 when a rule, values file or path is unusable.
    """
    err = sys.stderr
    try:
        engine = _load_engine(rules, values)
    except StormpackError as exc:
        if fmt == "jsonl":
            stdout_binary().write(_error_object(exc))
            sys.stdout.flush()
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)

    from ..matcher import EventRef
    from ..shapes.inverse import normalise

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
            sink: HitSink = JsonlSink(out) if fmt == "jsonl" else TableSink(out)
            stats = run_hunt(
                engine, events, sink, EventRef,  # type: ignore[arg-type]
                on_reject=on_reject, on_unusable=on_unusable, on_warning=on_warning, progress=progress,
                convert=normalise,
            )
            out.flush()
    except BrokenPipeError:
        # the reader of our output went away (e.g. `| head`): stop quietly, like other tools
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        progress.clear()
        err.write("hunt stopped: output closed by the reader\n")
        sys.exit(1)
    summary = format_summary(stats)
    if fmt == "table" and not output:
        sys.stdout.write("\n" + summary)
        sys.stdout.flush()
    else:
        err.write(summary)
    sys.exit(0 if stats.complete else 1)

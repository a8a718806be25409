"""``stormpack baseline``: learn a tenant's lists from its own exports (docs/baseline.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import EventReadError, StormpackError
from ..readers import Rejected

DEFAULT_OUTPUT = Path("baseline-values")
REPORT_NAME = "baseline-report.md"


@click.command("baseline")
@click.option("--events", "events", multiple=True, required=True, metavar="PATH",
              help="Export file or directory (repeatable): 14-30 days of the tenant's audit log "
                   "(Purview / Search-UnifiedAuditLog CSV, Management API JSON, Sentinel or Defender "
                   "table exports) and sign-ins; every format `stormpack hunt` reads.")
@click.option("--output", "-o", "output", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_OUTPUT, show_default=True,
              help="Values directory to write (the values/ format; `hunt --values` and `build --values`).")
@click.option("--report", "report", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE.md",
              help=f"Markdown report; its JSON twin is written beside it [default: DIR/{REPORT_NAME}].")
@click.option("--min-users", "min_users", type=click.IntRange(min=1), default=None, metavar="N",
              help="A value seen for fewer users goes to review [default: 2; not for account lists].")
@click.option("--min-days", "min_days", type=click.IntRange(min=1), default=None, metavar="N",
              help="A value seen on fewer days goes to review [default: 2].")
@click.option("--seed-values", "seed_values", type=click.Path(exists=True, path_type=Path), default=None,
              metavar="DIR", help="Values the learners' selections start from, and what a list keeps "
                                  "when nothing learned passes review [default: the bundled values/].")
@click.option("--rules", "rules", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              metavar="DIR",
              help="Rule directory whose IOC rules give the campaign IOCs [default: the bundled pack].")
@click.option("--since", "since", default=None, metavar="TIME",
              help="Learn only from records at or after TIME (ISO-8601; no zone = UTC).")
@click.option("--until", "until", default=None, metavar="TIME",
              help="Learn only from records at or before TIME (ISO-8601; no zone = UTC).")
def baseline_cmd(events: tuple[str, ...], output: Path, report: Path | None, min_users: int | None,
                 min_days: int | None, seed_values: Path | None, rules: Path | None,
                 since: str | None, until: str | None) -> None:
    """Learn the tenant lists (allow-lists) of the pack from the tenant's own exports.

    Writes a values directory and a report of every learned value with its counts; values seen
    for one user or on one day, from published campaign addresses, or matching campaign IOCs or
    never-allow clients are listed for review instead of written. Exit status: 0 when every
    record was read, 1 when some record was rejected or some file was unusable, 2 on errors.
    """
    from ..baseline import (
        DEFAULT_MIN_DAYS,
        DEFAULT_MIN_USERS,
        Thresholds,
        Window,
        run_baseline,
        write_report,
        write_values,
    )
    from ..bundled import bundled_rules, bundled_values
    from ..ruleset import load_values
    from ..triage import parse_bound

    err = sys.stderr

    def on_reject(item: Rejected) -> None:
        err.write(f"rejected: {item}\n")

    def on_unusable(exc: EventReadError) -> None:
        err.write(f"unusable: {exc}\n")

    try:
        seed = load_values(seed_values if seed_values is not None else bundled_values())
        thresholds = Thresholds(min_users=DEFAULT_MIN_USERS if min_users is None else min_users,
                                min_days=DEFAULT_MIN_DAYS if min_days is None else min_days)
        window = None if since is None and until is None else Window(
            None if since is None else parse_bound(since, "--since"),
            None if until is None else parse_bound(until, "--until"))
        result = run_baseline(events, seed, rules if rules is not None else bundled_rules(), thresholds,
                              window=window, on_reject=on_reject, on_unusable=on_unusable)
        files = write_values(result, output)
        md, js = write_report(result, report if report is not None else output / REPORT_NAME)
    except StormpackError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    h = result.hunt
    learned = sum(len(lr.decisions) for lr in result.lists.values())
    allowed = sum(1 for lr in result.lists.values() for d in lr.decisions if d.allowed)
    seeded = sorted(n for n, lr in result.lists.items() if lr.from_seed)
    click.echo(f"read {h.files} file(s): {h.read:,} records = {h.evaluated:,} evaluated + "
               f"{h.unrecognised:,} unrecognised + {h.rejected:,} rejected")
    if window is not None:
        click.echo(f"window: {result.outside:,} teaching record(s) outside it, {result.undated:,} without a "
                   "usable time (not learned from)")
    click.echo(f"learned {learned} value(s) for {len(result.lists)} lists: {allowed} written, "
               f"{learned - allowed} for review")
    if seeded:
        click.echo(f"kept the seed values (nothing learned passes review): {', '.join(seeded)}")
    click.echo(f"values: {', '.join(str(f) for f in files)}")
    click.echo(f"report: {md} and {js}")
    sys.exit(0 if h.rejected == 0 and not h.unusable else 1)

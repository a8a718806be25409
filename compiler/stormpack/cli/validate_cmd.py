"""``stormpack validate [PATHS]``: everything wrong with the rules, offline, as text, JSON or SARIF."""

from __future__ import annotations

from pathlib import Path

import click

from ..validate.report import FORMATS, render
from ..validate.runner import ValidateOptions, validate


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--changed-since", metavar="REF", help="only rules (and their fixtures) changed since this git ref"
)
@click.option(
    "--exceptions",
    "exceptions",
    type=click.Path(path_type=Path, dir_okay=False),
    help="exceptions file (default: the packaged data/validation_exceptions.yml)",
)
@click.option(
    "--fixtures",
    "fixtures_root",
    type=click.Path(path_type=Path, file_okay=False),
    help="fixtures folder (default: fixtures/ next to the rules/ folder)",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="write the report to this file instead of stdout",
)
def validate_cmd(
    paths: tuple[Path, ...],
    fmt: str,
    changed_since: str | None,
    exceptions: Path | None,
    fixtures_root: Path | None,
    output: Path | None,
) -> None:
    """Validate rules (default: rules/). Exit 1 if any error remains, 2 on a usage error."""
    report = validate(
        ValidateOptions(
            paths=list(paths) or [Path("rules")],
            changed_since=changed_since,
            exceptions=exceptions,
            fixtures_root=fixtures_root,
        )
    )
    if report.base_rules:
        click.echo("note: loaded the correlation base rules from the rule set (not validated): "
                   + ", ".join(report.base_rules), err=True)
    text = render(report, fmt)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        if fmt != "text":
            click.echo(render(report, "text"), nl=False, err=True)
    else:
        click.echo(text, nl=False)
    if not report.ok:
        raise SystemExit(1)

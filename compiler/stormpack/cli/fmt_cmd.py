"""``stormpack fmt [PATHS] [--check]``: canonical key order and indentation for rule files."""

from __future__ import annotations

from pathlib import Path

import click

from ..validate.rulefmt import format_paths


@click.command("fmt")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--check", is_flag=True, help="change nothing; list files that are not formatted, exit 1 if any"
)
def fmt_cmd(paths: tuple[Path, ...], check: bool) -> None:
    """Rewrite rules (default: rules/) into canonical key order and indentation, keeping comments."""
    results = format_paths(list(paths) or [Path("rules")], check=check)
    changed = [r.path for r in results if r.changed]
    for p in changed:
        click.echo(f"{'would reformat' if check else 'reformatted'} {p}")
    click.echo(
        f"{len(results)} file(s), {len(changed)} {'not formatted' if check else 'reformatted'}", err=True
    )
    if check and changed:
        raise SystemExit(1)

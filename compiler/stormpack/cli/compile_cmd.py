"""`stormpack compile`: rules -> queries for one target (stdout, or one file per rule with -o)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..compiler import TARGETS
from ..errors import CompileError

DEFAULT_VALUES = Path("values")


def values_option(values: Path | None) -> Path | None:
    """--values, or values/ when it exists (a placeholder without a value is still an error)."""
    if values is not None:
        return values
    return DEFAULT_VALUES if DEFAULT_VALUES.is_dir() else None


def windows_sources(value: str | None, target: str | None) -> list[str] | None:
    """--windows-source A[,B...]: the Windows event sources the investigation has, in the order to
    try (``windows_sources`` of data/targets/<target>.yml: Sentinel's tables, adx's event kinds);
    None: the target's default."""
    if not value:
        return None
    from ..compiler.targets import TARGETS, load_target

    groups = {t: g for t in TARGETS if (g := load_target(t).sources) is not None}
    if target is not None and target not in groups:
        raise click.BadParameter(f"only {' and '.join(groups)} have alternative Windows sources",
                                 param_hint="--windows-source")
    names = [v.strip() for v in value.split(",") if v.strip()]
    known = [c for t, g in groups.items() if target in (None, t) for c in g.choices]
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise click.BadParameter(
            f"{', '.join(bad) or value!r}: known sources are {', '.join(dict.fromkeys(known))}",
            param_hint="--windows-source",
        )
    return names


WINDOWS_SOURCE_HELP = (
    "The Windows event sources the investigation has, in the order to try, comma-separated. "
    "Sentinel: defender (Device*Events, the default), sysmon (Event table), securityevent "
    "(SecurityEvent 4688); adx: sysmon (Sysmon events of WindowsEvents, the default), security "
    "(Security 4688 events). Each Windows rule is compiled to the first whose table has every "
    "field it uses."
)


@click.command("compile")
@click.option("--target", "-t", type=click.Choice(TARGETS), required=True, help="Query language / product.")
@click.option(
    "--output",
    "-o",
    "output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one file per rule into DIR instead of printing.",
)
@click.option(
    "--values",
    type=click.Path(exists=True, path_type=Path),
    help="Placeholder values: a file or directory (default: values/).",
)
@click.option("--windows-source", "windows_source", default=None, metavar="SOURCES", help=WINDOWS_SOURCE_HELP)
@click.argument("rules", nargs=-1, type=click.Path(path_type=Path))
def compile_cmd(target: str, output: Path | None, values: Path | None, windows_source: str | None,
                rules: tuple[Path, ...]) -> None:
    """Compile RULES (files or directories; default rules/) for one target.

    Exits non-zero, naming rule, field and target, if any rule cannot be compiled exactly.
    """
    from ..compiler import compile_rules
    from ..compiler.build import query_file, query_text
    from ..ruleset import find_base_rules, resolve_rule_paths

    paths = list(rules) or [Path("rules")]
    base = find_base_rules(paths)
    if base.added:
        click.echo(base.note(), err=True)
    sources = windows_sources(windows_source, target)
    result = compile_rules([*paths, *base.added], target, values_option(values), sources)
    if base.added:  # the base rules are loaded for the correlation, not output on their own
        given = {p.resolve() for p in resolve_rule_paths(paths)}
        result.queries = [q for q in result.queries if q.path.resolve() in given]
        result.not_generated = [lr for lr in result.not_generated if lr.path.resolve() in given]
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        for q in result.queries:
            (output / query_file(q)).write_text(query_text(q), encoding="utf-8")
        click.echo(f"{len(result.queries)} {target} queries written to {output}", err=True)
    else:
        click.echo("\n".join(query_text(q) for q in result.queries), nl=False)
    if sources is not None:  # which table each Windows rule got, and why (the compile report's line)
        for q in result.queries:
            if q.source:
                click.echo(f"note: {q.path}: [{q.table}] from source {q.source}: {q.source_why}", err=True)
    for lr in result.not_generated:
        click.echo(
            f"note: {lr.path}: '{lr.title}' is compiled only inside its correlation (generate: false)",
            err=True,
        )
    for err in result.errors:
        click.echo(f"error: {err}", err=True)
    if result.errors:
        raise CompileError(f"{len(result.errors)} rule(s) could not be compiled for {target}", target=target)
    sys.stdout.flush()

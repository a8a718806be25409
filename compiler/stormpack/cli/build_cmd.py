"""`stormpack build`: every rule, every target, into build/ (atomically)."""

from __future__ import annotations

from pathlib import Path

import click

from .compile_cmd import WINDOWS_SOURCE_HELP, values_option, windows_sources


@click.command("build")
@click.option(
    "--output",
    "-o",
    "output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("build"),
    show_default=True,
    help="Build directory (replaced atomically).",
)
@click.option(
    "--values",
    type=click.Path(exists=True, path_type=Path),
    help="Placeholder values: a file or directory (default: values/).",
)
@click.option(
    "--splunk-es",
    is_flag=True,
    help="Splunk app: add Enterprise Security correlation-search, notable and risk keys.",
)
@click.option(
    "--enable-all",
    is_flag=True,
    help="Enable every rule, also those whose tenant lists still hold the shipped placeholders "
    "(default: such rules are built disabled; docs/deploy.md).",
)
@click.option("--windows-source", "windows_source", default=None, metavar="SOURCES",
              help=WINDOWS_SOURCE_HELP + " Each target gets the names it knows (the Sentinel "
              "artifacts then read and declare the chosen table's connector).")
@click.argument("rules", nargs=-1, type=click.Path(path_type=Path))
def build_cmd(output: Path, values: Path | None, splunk_es: bool, enable_all: bool,
              windows_source: str | None, rules: tuple[Path, ...]) -> None:
    """Compile RULES (default rules/) for every target into build/<target>/ with a compile report.

    Rules a target cannot express are listed with the reason; the previous build/ stays intact
    if the build fails.
    """
    from ..artifacts import ArtifactOptions, compile_pack, write_pack
    from ..compiler.build import report_text, staged_build, write_queries

    paths = list(rules) or [Path("rules")]
    pack = compile_pack(paths, values_option(values),  # every rule, once per target
                        windows_sources=per_target_sources(windows_sources(windows_source, None)))
    options = ArtifactOptions(splunk_es=splunk_es, enable_all=enable_all)
    disabled: dict[str, tuple[str, ...]] = {}
    titles: dict[str, str] = {}
    with staged_build(output) as staged:  # swapped in once every file is written
        write_queries(pack.results, staged)
        if pack.rules:
            report = write_pack(pack, staged, options)
            disabled, titles = report.disabled, report.titles
    click.echo(report_text(pack.results), nl=False)
    for rid, names in sorted(disabled.items()):
        click.echo(f"disabled  '{titles.get(rid, rid)}': tenant list(s) {', '.join(names)} "
                   "still hold placeholders (fill them in values/, or --enable-all)")
    click.echo(f"build written to {output.resolve()}")


def per_target_sources(names: list[str] | None) -> dict[str, list[str]] | None:
    """The validated ``--windows-source`` names, split per target with a source group (each keeps
    the names its group knows, in order); None: every target's default."""
    if names is None:
        return None
    from ..compiler.targets import TARGETS, load_target

    out: dict[str, list[str]] = {}
    for t in TARGETS:
        group = load_target(t).sources
        if group is not None and (mine := [n for n in names if n in group.choices]):
            out[t] = mine
    return out

"""`stormpack build`: every rule, every target, into build/ (atomically)."""

from __future__ import annotations

from pathlib import Path

import click

from .compile_cmd import values_option


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
@click.argument("rules", nargs=-1, type=click.Path(path_type=Path))
def build_cmd(output: Path, values: Path | None, splunk_es: bool, enable_all: bool,
              rules: tuple[Path, ...]) -> None:
    """Compile RULES (default rules/) for every target into build/<target>/ with a compile report.

    Rules a target cannot express are listed with the reason; the previous build/ stays intact
    if the build fails.
    """
    from ..compiler import TARGETS, compile_rules
    from ..compiler.build import report_text, write_build

    paths = list(rules) or [Path("rules")]
    vals = values_option(values)
    results = {t: compile_rules(paths, t, vals) for t in TARGETS}
    from ..artifacts import ArtifactOptions, artifacts_enabled, build_hook
    from ..compiler.build import register_build_hook

    register_build_hook(build_hook)  # deployable artifacts (stormpack.artifacts)
    with artifacts_enabled(vals, ArtifactOptions(splunk_es=splunk_es, enable_all=enable_all)) as reports:
        out = write_build(results, output)
    click.echo(report_text(results), nl=False)
    for report in reports:
        for rid, names in sorted(report.disabled.items()):
            click.echo(f"disabled  '{report.titles.get(rid, rid)}': tenant list(s) {', '.join(names)} "
                       "still hold placeholders (fill them in values/, or --enable-all)")
    click.echo(f"build written to {out}")

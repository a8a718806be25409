"""`stormpack golden [--write]`: compare (or regenerate) everything generated from the data.

Generated and committed: tests/golden/<target>/<rule>.<ext> (every rule in rules/ for every
target, compiled with the shipped values/), compiler/stormpack/pipelines/<target>.yml and
docs/taxonomy.md. Run from the repository root.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import StormpackError

GOLDEN_DIR = Path("tests/golden")
TAXONOMY_DOC = Path("docs/taxonomy.md")


def expected_golden(rules: Path = Path("rules"), values: Path | None = Path("values")) -> dict[str, str]:
    from ..compiler import TARGETS, compile_rules
    from ..compiler.build import golden_files

    vals = values if values is not None and values.is_dir() else None
    return golden_files({t: compile_rules([rules], t, vals) for t in TARGETS})


@click.command("golden")
@click.option("--write", is_flag=True, help="Regenerate instead of compare.")
def golden_cmd(write: bool) -> None:
    """Compare the committed golden files, pipelines and docs/taxonomy.md with what the
    compiler generates now (exit 1 listing the differences), or regenerate them with --write."""
    from ..compiler.build import golden_diff, write_golden
    from ..compiler.docs_gen import render_taxonomy_md
    from ..compiler.pipeline_gen import stale_pipelines, write_pipelines

    if write:
        write_pipelines()
        TAXONOMY_DOC.parent.mkdir(parents=True, exist_ok=True)
        TAXONOMY_DOC.write_text(render_taxonomy_md(), encoding="utf-8")
        expected = expected_golden()
        write_golden(expected, GOLDEN_DIR)
        click.echo(f"wrote {len(expected)} golden files, pipelines and {TAXONOMY_DOC}")
        return
    problems = [f"stale   pipelines/{t}.yml" for t in stale_pipelines()]
    if not TAXONOMY_DOC.is_file() or TAXONOMY_DOC.read_text(encoding="utf-8") != render_taxonomy_md():
        problems.append(f"stale   {TAXONOMY_DOC}")
    problems += golden_diff(expected_golden(), GOLDEN_DIR)
    for p in problems:
        click.echo(p)
    if problems:
        raise StormpackError(f"{len(problems)} generated file(s) out of date: run `make golden`")
    click.echo("golden files, pipelines and docs/taxonomy.md are up to date")

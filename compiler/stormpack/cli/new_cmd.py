"""``stormpack new``: start a rule with its fixture skeletons (compiler/stormpack/authoring)."""

from __future__ import annotations

from pathlib import Path

import click

from ..validate.conventions import PLACEMENT

LOGSOURCES = [p.folder for p in PLACEMENT.values()]
LEVEL_CHOICES = ["informational", "low", "medium", "high", "critical"]


@click.command("new")
@click.option("--logsource", type=click.Choice(LOGSOURCES), prompt="Log source",
              help="Log source of the rule (its folder under rules/).")
@click.option("--title", prompt="Title", help="Rule title (the file is named after it).")
@click.option("--level", type=click.Choice(LEVEL_CHOICES), prompt="Level", help="Sigma level.")
@click.option("--technique", prompt="ATT&CK technique (e.g. T1114.003)",
              help="ATT&CK technique id, e.g. T1114.003.")
@click.option("--tactic", default=None, help="ATT&CK tactic, needed when the technique has several.")
@click.option("--phase", type=int, default=None,
              help="Campaign phase number of rules/README.md the rule is listed under.")
@click.option("--observed/--generic", default=None,
              help="Reported for Storm-0558 (description 'Observed in Storm-0558:') or generic "
                   "coverage ('Generic mailbox-compromise coverage:').")
@click.option("--author", default="stormpack", show_default=True)
@click.option("--rules", "rules_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("rules"), show_default=True, help="Rule set folder.")
@click.option("--fixtures", "fixtures_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("fixtures"), show_default=True, help="Fixtures folder.")
def new_cmd(logsource: str, title: str, level: str, technique: str, tactic: str | None,
            phase: int | None, observed: bool | None, author: str, rules_dir: Path,
            fixtures_dir: Path) -> None:
    """Write a new rule (fresh UUID, pack conventions) and fixtures/<stem>/ with a positive and a
    near-miss case skeleton from a real record of the log source; options not given are asked."""
    from ..authoring.scaffold import (
        NewRule,
        logsource_key,
        phase_choices,
        tactic_for,
        write_new_rule,
    )
    from ..authoring.scaffold import technique as find_technique

    tech = find_technique(technique)
    if tactic is None and len(tech.tactics) > 1:
        tactic = click.prompt(f"Tactic of {tech.id} ({tech.full_name})",
                              type=click.Choice(list(tech.tactics)))
    tac = tactic_for(tech, tactic)
    phases = phase_choices(rules_dir)
    if phase is None and phases:
        listing = "; ".join(f"{p.number}. {p.name}" for p in phases)
        answer = click.prompt(f"Campaign phase ({listing})",
                              type=click.Choice([str(p.number) for p in phases]), show_choices=False)
        phase = int(answer)
    if observed is None:
        observed = click.confirm("Reported for Storm-0558 (else generic coverage)?", default=False)
    spec = NewRule(title=title.strip(), logsource=logsource_key(logsource), level=level,
                   technique=tech.id, tactic=tac, observed=observed, author=author, phase=phase)
    written = write_new_rule(spec, rules_dir, fixtures_dir)
    click.echo(f"wrote {written.rule.as_posix()}")
    for c in written.cases:
        click.echo(f"wrote {c.as_posix()}")
    if written.phase_map is not None:
        click.echo(f"listed the rule under phase {phase} in {written.phase_map.as_posix()}")
    click.echo("next: write the detection and fill in both cases (their todo says what), then run:")
    for cmd in written.next_commands():
        click.echo(f"  {cmd}")

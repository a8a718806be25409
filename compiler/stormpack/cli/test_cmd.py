"""``stormpack test``: replay every rule's fixture cases through the local matcher."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import click

from ..errors import FixtureError, Location
from ..execute.registry import EXECUTORS
from ..replay import RuleVerdict, replay
from ..ruleset import find_base_rules, load_values
from .compile_cmd import WINDOWS_SOURCE_HELP, windows_sources


def write_junit(verdicts: list[RuleVerdict], path: Path) -> None:
    """JUnit XML: one testcase per rule file, one failure element listing every problem."""
    failed = sum(1 for v in verdicts if not v.passed)
    suites = ET.Element("testsuites", tests=str(len(verdicts)), failures=str(failed))
    suite = ET.SubElement(suites, "testsuite", name="stormpack test", tests=str(len(verdicts)),
                          failures=str(failed), errors="0", skipped="0")
    for v in verdicts:
        classname = ".".join(p for p in v.path.parent.parts if p not in ("/", ".", "..")) or "rules"
        case = ET.SubElement(suite, "testcase", classname=classname, name=v.stem, file=str(v.path))
        if not v.passed:
            fail = ET.SubElement(case, "failure", message=str(v.failures[0]))
            fail.text = "\n".join(str(f) for f in v.failures)
    ET.indent(suites)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


@click.command("test")
@click.argument("rules", nargs=-1, type=click.Path(path_type=Path))
@click.option("--fixtures", "fixtures_dir", type=click.Path(path_type=Path), default=Path("fixtures"),
              show_default=True, help="Folder holding one fixture folder per rule file stem.")
@click.option("--values", "values_path", type=click.Path(path_type=Path), default=None,
              help="Test values for |expand placeholders [default: <fixtures>/values/].")
@click.option("--junit", type=click.Path(path_type=Path), default=None, help="Also write JUnit XML here.")
@click.option("--target", type=click.Choice(list(EXECUTORS)), default=None,
              help="Run each case through the rule's compiled query for this target (executed, "
                   "not matched) and compare with the expectation and the matcher.")
@click.option("--windows-source", "windows_source", default=None, metavar="SOURCES",
              help="With --target sentinel or adx: " + WINDOWS_SOURCE_HELP)
def test_cmd(
    rules: tuple[Path, ...], fixtures_dir: Path, values_path: Path | None, junit: Path | None,
    target: str | None, windows_source: str | None,
) -> None:
    """Replay each rule's fixtures (RULES: files or folders, default rules/); one line per rule."""
    rule_paths: list[Path] = list(rules) or [Path("rules")]
    sources = windows_sources(windows_source, target)
    if sources is not None and target is None:
        raise click.BadParameter("needs --target (sentinel or adx)", param_hint="--windows-source")
    if not fixtures_dir.is_dir():
        raise FixtureError("no such fixtures folder", Location(fixtures_dir))
    if values_path is None and (fixtures_dir / "values").is_dir():
        values_path = fixtures_dir / "values"
    values = load_values(values_path)
    base = find_base_rules(rule_paths)
    if base.added:
        click.echo(base.note(), err=True)
    verdicts: Sequence[RuleVerdict]
    if target is None:
        verdicts = replay(rule_paths, fixtures_dir, values, base.added)
    else:
        from ..execute.harness import replay_target

        verdicts = replay_target(rule_paths, fixtures_dir, values, target, base_rules=base.added,
                                 sources=sources)
    for v in verdicts:
        click.echo(v.summary())
        for f in v.failures:
            click.echo(f"    {f}")
        for d in getattr(v, "differences", []):
            click.echo(f"    known difference: {d}")
    passed = sum(1 for v in verdicts if v.passed)
    failed = len(verdicts) - passed
    click.echo(f"{passed} passed, {failed} failed")
    if junit is not None:
        write_junit(list(verdicts), junit)
    if failed:
        sys.exit(1)

"""A correlation file given alone finds its base rules in the rule set it belongs to (issue 15):
`test`, `compile`, `hunt` and `validate` load them, say which files they added, and give the
same answer as on the whole pack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from stormpack.cli import cli
from stormpack.compiler import TARGETS, compile_rules
from stormpack.fixtures import load_fixture_dir
from stormpack.ruleset import find_base_rules

REPO = Path(__file__).resolve().parent.parent
CORRELATIONS = sorted(
    p.relative_to(REPO)
    for p in (REPO / "rules").rglob("*.yml")
    if "correlation" in yaml.safe_load(p.read_text())
)


def referenced_files(corr: Path) -> set[str]:
    """The pack files defining the names/ids the correlation references, computed from the YAML."""
    refs = set(yaml.safe_load((REPO / corr).read_text())["correlation"]["rules"])
    out = set()
    for p in (REPO / "rules").rglob("*.yml"):
        doc = yaml.safe_load(p.read_text())
        if {doc.get("id"), doc.get("name")} & refs:
            out.add(p.relative_to(REPO).as_posix())
    return out


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def test_the_pack_has_correlations() -> None:
    assert len(CORRELATIONS) >= 5


@pytest.mark.parametrize("corr", CORRELATIONS, ids=lambda p: p.stem)
def test_find_base_rules_adds_exactly_the_referenced_files(corr: Path) -> None:
    base = find_base_rules([corr])
    assert {p.as_posix() for p in base.added} == referenced_files(corr)
    assert base.roots == [(REPO / "rules").resolve()]
    # nothing is added when the base rules are given too
    assert find_base_rules([corr, *base.added]).added == []


@pytest.mark.parametrize("corr", CORRELATIONS, ids=lambda p: p.stem)
def test_test_and_validate_on_a_correlation_alone(corr: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["test", str(corr)])
    assert res.exit_code == 0, res.output
    assert f"PASS {corr.stem}" in res.stdout
    assert "1 passed, 0 failed" in res.stdout  # only the correlation is judged, not its base rules
    for f in referenced_files(corr):
        assert f in res.stderr
    res = runner.invoke(cli, ["validate", str(corr)])
    assert res.exit_code == 0, res.output
    assert "0 error(s)" in res.stdout
    for f in referenced_files(corr):
        assert f in res.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_compile_a_correlation_alone_gives_the_pack_query(target: str, tmp_path: Path) -> None:
    pack = compile_rules([Path("rules")], target, Path("values"))
    in_pack = {q.path.resolve(): q.query for q in pack.queries}
    failed_in_pack = {lr.path.resolve() for lr, _ in pack.skipped}
    runner = CliRunner()
    compiled = 0
    for corr in CORRELATIONS:
        out = tmp_path / corr.stem
        res = runner.invoke(cli, ["compile", "--target", target, "-o", str(out), str(corr)])
        for f in referenced_files(corr):
            assert f in res.stderr, res.stderr
        key = (REPO / corr).resolve()
        if key in failed_in_pack:  # a base rule's log source is not available on this target
            assert res.exit_code != 0
            assert "do not compile for this target" in res.stderr
            continue
        assert res.exit_code == 0, res.stderr
        written = sorted(out.iterdir())
        if key in in_pack:
            compiled += 1
            # only the correlation is output; its base rules are loaded for it, not on their own
            assert [p.stem for p in written] == [corr.stem]
            assert in_pack[key] in written[0].read_text(encoding="utf-8")
        else:
            assert written == []
    assert compiled >= 3


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("corr", CORRELATIONS, ids=lambda p: p.stem)
def test_test_on_a_target_on_a_correlation_alone(corr: Path, target: str) -> None:
    """The executed replay (``test --target``) loads the base rules too and judges only the file."""
    res = CliRunner().invoke(cli, ["test", "--target", target, str(corr)])
    assert res.exit_code == 0, res.output
    for f in referenced_files(corr):
        assert f in res.stderr
    assert "1 passed, 0 failed" in res.stdout
    # executed, or not applicable because a base rule's log source is absent on the target
    assert f"PASS {corr.stem}" in res.stdout or f"N/A  {corr.stem}" in res.stdout


def _positive_case_events(corr: Path) -> list[dict[str, object]]:
    for case in load_fixture_dir(REPO / "fixtures" / corr.stem):
        if case.expect == "match":
            return [dict(ev.record) for ev in case.events]
    raise AssertionError(f"{corr.stem} has no positive case")


@pytest.mark.parametrize("corr", CORRELATIONS, ids=lambda p: p.stem)
def test_hunt_on_a_correlation_alone_names_the_base_rules(corr: Path, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in _positive_case_events(corr)),
                      encoding="utf-8")
    # the values the fixture cases are written for (fixtures/values/README.md)
    res = CliRunner().invoke(cli, ["hunt", "--rules", str(corr), "--events", str(events),
                                   "--values", str(REPO / "fixtures" / "values")])
    assert res.exit_code == 0, res.output
    for f in referenced_files(corr):
        assert f in res.stderr
    title = yaml.safe_load((REPO / corr).read_text())["title"]
    assert title in res.stdout  # the correlation fires on its positive fixture's records
    assert "0 correlation hits" not in res.stdout


def test_a_reference_missing_from_the_rule_set_is_still_an_error(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    doc = yaml.safe_load((REPO / CORRELATIONS[0]).read_text())
    doc["correlation"]["rules"] = ["no_such_rule"]
    (rules / "corr.yml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    assert find_base_rules([rules / "corr.yml"]).added == []
    res = CliRunner().invoke(cli, ["compile", "--target", "splunk", str(rules / "corr.yml")])
    assert res.exit_code != 0
    assert "no_such_rule" in str(res.exception) + res.output


def test_outside_a_rules_folder_the_files_own_folder_is_the_rule_set(tmp_path: Path) -> None:
    corr = next(c for c in CORRELATIONS if c.stem.startswith("corr_m365_audit_owa"))
    pack = tmp_path / "mypack" / "sub"
    pack.mkdir(parents=True)
    (pack / corr.name).write_text((REPO / corr).read_text(encoding="utf-8"), encoding="utf-8")
    bases = sorted(referenced_files(corr))
    for b in bases:
        (pack.parent / Path(b).name).write_text((REPO / b).read_text(encoding="utf-8"), encoding="utf-8")
    # the base rules sit one folder up: not in the file's own folder, so not found
    assert find_base_rules([pack / corr.name]).added == []
    (pack.parent / Path(bases[0]).name).rename(pack / Path(bases[0]).name)
    found = find_base_rules([pack / corr.name])
    assert [p.name for p in found.added] == [Path(bases[0]).name]
    assert found.roots == [pack.resolve()]

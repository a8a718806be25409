"""Fixture loading, replay verdicts and the `stormpack test` command."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from stormpack.cli import cli
from stormpack.errors import FixtureError
from stormpack.fixtures import load_fixture_case, load_fixture_dir
from stormpack.replay import replay
from stormpack.ruleset import load_values

DATA = Path(__file__).parent / "data" / "matcher"


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    """A private copy of tests/data/matcher that a test may break."""
    dst = tmp_path / "pack"
    shutil.copytree(DATA, dst)
    return dst


def run_test(pack: Path, *extra: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(
        cli, ["test", str(pack / "rules"), "--fixtures", str(pack / "fixtures"), *extra]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output.splitlines()


def break_case(pack: Path, rule: str, name: str, old: str, new: str) -> Path:
    """The fixture case ``name`` of ``rule`` in the pack copy, ``old`` in it replaced by ``new``."""
    case = pack / "fixtures" / rule / name
    text = case.read_text()
    assert old in text, f"{old!r} not in {case}"
    case.write_text(text.replace(old, new))
    return case


# --------------------------------------------------------------------------- stormpack test
def test_stormpack_test_passes_and_prints_a_line_per_rule(pack: Path) -> None:
    code, lines = run_test(pack)
    assert code == 0
    assert lines == [
        "PASS corr_failed_logins (2 cases)",
        "PASS m365_inbox_forward (2 cases)",
        "2 passed, 0 failed",
    ]


def test_breaking_one_single_event_fixture_names_rule_and_event(pack: Path) -> None:
    case = break_case(pack, "m365_inbox_forward", "positive_external.yml", "match: [0]", "match: [1]")
    code, lines = run_test(pack)
    assert code != 0
    assert lines[-1] == "1 passed, 1 failed"
    out = "\n".join(lines)
    assert "FAIL m365_inbox_forward (2 failures)" in out
    assert f"{case}:5: event 0 fired but must not (not listed in match)" in out
    assert f"{case}:14: event 1 should fire but did not" in out


def test_breaking_a_negative_fixture_fails(pack: Path) -> None:
    case = break_case(pack, "m365_inbox_forward", "negative_forward_inside.yml",
                      "Value: Bob@Contoso.com", "Value: bob@evil.example")
    code, lines = run_test(pack)
    assert code == 1
    assert f"    {case}:5: event 0 fired but must not (a no_match case)" in lines


def test_breaking_a_correlation_fixture_names_the_groups(pack: Path) -> None:
    break_case(pack, "corr_failed_logins", "positive_burst_across_the_hour.yml", "alice@contoso.com",
               "bob@contoso.com")
    code, lines = run_test(pack)
    assert code == 1
    out = "\n".join(lines)
    assert "FAIL corr_failed_logins" in out
    assert "group {UserId: 'bob@contoso.com'} should fire but did not" in out
    assert "group {UserId: 'alice@contoso.com'} fired on events 0, 1, 2, 3 but is not listed in groups" in out


def test_a_rule_without_negative_case_fails(pack: Path) -> None:
    (pack / "fixtures" / "m365_inbox_forward" / "negative_forward_inside.yml").unlink()
    code, lines = run_test(pack)
    assert code == 1
    assert "FAIL m365_inbox_forward (1 failure)" in lines
    assert any("no 'expect: no_match' fixture case" in line for line in lines)


def test_a_rule_without_fixtures_fails(pack: Path) -> None:
    shutil.rmtree(pack / "fixtures" / "corr_failed_logins")
    code, lines = run_test(pack)
    assert code == 1 and lines[-1] == "1 passed, 1 failed"
    assert "FAIL corr_failed_logins (1 failure)" in lines
    assert (f"    no fixture cases: add {pack / 'fixtures' / 'corr_failed_logins'}/ with at least one "
            "'expect: match' and one 'expect: no_match' case (docs/fixtures.md)") in lines


def test_junit_xml(pack: Path, tmp_path: Path) -> None:
    break_case(pack, "m365_inbox_forward", "positive_external.yml", "match: [0]", "match: [0, 1]")
    junit = tmp_path / "out" / "junit.xml"
    code, _ = run_test(pack, "--junit", str(junit))
    assert code == 1
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"corr_failed_logins", "m365_inbox_forward"}
    assert cases["corr_failed_logins"].find("failure") is None
    failure = cases["m365_inbox_forward"].find("failure")
    assert failure is not None and "event 1 should fire but did not" in (failure.text or "")


def test_test_values_come_from_the_fixtures_values_folder(pack: Path) -> None:
    shutil.rmtree(pack / "fixtures" / "values")
    code, lines = run_test(pack)
    assert code == 1
    out = "\n".join(lines)
    assert "FAIL m365_inbox_forward" in out and "%allowed_domains%" in out
    assert "PASS corr_failed_logins (2 cases)" in out


def test_a_broken_rule_file_fails_alone(pack: Path) -> None:
    (pack / "rules" / "m365_inbox_forward.yml").write_text("title: [unclosed\n")
    code, lines = run_test(pack)
    assert code == 1
    assert "PASS corr_failed_logins (2 cases)" in lines
    assert any(line.startswith("    cannot load:") and "m365_inbox_forward.yml" in line for line in lines)


def test_replay_api_gives_per_rule_verdicts() -> None:
    verdicts = replay([DATA / "rules"], DATA / "fixtures", load_values(DATA / "fixtures" / "values"))
    assert [(v.stem, v.passed, len(v.cases)) for v in verdicts] == [
        ("corr_failed_logins", True, 2), ("m365_inbox_forward", True, 2)]


# --------------------------------------------------------------------------- fixture format
def write_case(tmp_path: Path, text: str, name: str = "case.yml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


GOOD = """\
description: d
expect: match
provenance: synthetic
events:
  - {Operation: A, CreationTime: "2023-06-14T02:41:07"}
  - {Operation: B, CreationTime: "2023-06-14T02:41:08"}
match: [1]
"""


def test_load_a_case(tmp_path: Path) -> None:
    case = load_fixture_case(write_case(tmp_path, GOOD))
    assert case.expect == "match" and case.match == [1] and case.expected_indices() == {1}
    assert [e.record["Operation"] for e in case.events] == ["A", "B"]
    assert [e.location.line for e in case.events] == [5, 6]


def test_unquoted_yaml_timestamp_becomes_iso_text(tmp_path: Path) -> None:
    text = GOOD.replace('"2023-06-14T02:41:07"', "2023-06-14T02:41:07")
    case = load_fixture_case(write_case(tmp_path, text))
    assert case.events[0].record["CreationTime"] == "2023-06-14T02:41:07"


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("expect: match", "expected: match", 2, "unknown key 'expected'"),
        ("expect: match", "expect: yes", 2, "expect must be 'match' or 'no_match'"),
        ("provenance: synthetic", "provenance: ''", 3, "provenance is required"),
        ("match: [1]", "match: [2]", 7, "match index 2 is not an event of this case"),
        ("  - {Operation: B, CreationTime: \"2023-06-14T02:41:08\"}", "  - just text", 6,
         "event 1 must be a mapping"),
        ("expect: match", "expect: no_match", 7, "match is only allowed in 'expect: match' cases"),
        ("match: [1]", "groups: [x]", 7, "groups must be a non-empty list"),
    ],
)
def test_malformed_case_names_file_and_line(tmp_path: Path, old: str, new: str, line: int,
                                            message: str) -> None:
    assert old in GOOD
    path = write_case(tmp_path, GOOD.replace(old, new))
    with pytest.raises(FixtureError) as exc:
        load_fixture_case(path)
    assert exc.value.location is not None
    assert (exc.value.location.path, exc.value.location.line) == (path, line)
    assert message in exc.value.message


def test_events_file_bad_line_is_reported(tmp_path: Path) -> None:
    (tmp_path / "ev.jsonl").write_text('{"Operation": "A"}\n{not json}\n')
    path = write_case(tmp_path, "expect: no_match\nprovenance: synthetic\nevents_file: ev.jsonl\n")
    with pytest.raises(FixtureError) as exc:
        load_fixture_case(path)
    assert exc.value.location is not None
    assert (exc.value.location.path, exc.value.location.line) == (tmp_path / "ev.jsonl", 2)


def test_events_file_must_stay_in_the_case_folder(tmp_path: Path) -> None:
    path = write_case(tmp_path, "expect: no_match\nprovenance: synthetic\nevents_file: ../x.jsonl\n")
    with pytest.raises(FixtureError, match="inside the case's folder"):
        load_fixture_case(path)


def test_duplicate_keys_are_an_error(tmp_path: Path) -> None:
    path = write_case(tmp_path, GOOD + "expect: no_match\n")
    with pytest.raises(FixtureError, match="duplicate key 'expect'"):
        load_fixture_case(path)


def test_fixture_dir_reads_cases_sorted_and_ignores_jsonl(tmp_path: Path) -> None:
    write_case(tmp_path, GOOD, "b.yml")
    write_case(tmp_path, GOOD.replace("match: [1]\n", ""), "a.yaml")
    (tmp_path / "events.jsonl").write_text("{}\n")
    cases = load_fixture_dir(tmp_path)
    assert [c.name for c in cases] == ["a.yaml", "b.yml"]
    assert cases[0].expected_indices() == {0, 1}
    assert load_fixture_dir(tmp_path / "absent") == []


# --------------------------------------------------------------------------- real process
def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stormpack", *args], cwd=cwd, capture_output=True,
                          text=True, check=False)


def test_cli_process_exit_codes(pack: Path) -> None:
    # run from the pack folder with the default rules/ and fixtures/ (and fixtures/values/)
    ok = run_cli("test", cwd=pack)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.splitlines()[-1] == "2 passed, 0 failed"
    break_case(pack, "corr_failed_logins", "negative_spread_out.yml", "T11:02:00", "T10:59:00")
    broken = run_cli("test", cwd=pack)
    assert broken.returncode == 1
    assert "FAIL corr_failed_logins" in broken.stdout
    assert "group {UserId: 'alice@contoso.com'} fired on events 0, 1, 2 but must not" in broken.stdout
    no_fixtures = run_cli("test", "--fixtures", "nope", cwd=pack)
    assert no_fixtures.returncode == 2
    assert no_fixtures.stderr == "error: nope: no such fixtures folder\n"
    bad_values = run_cli("test", "--values", "nope", cwd=pack)
    assert bad_values.returncode == 2
    assert bad_values.stderr.startswith("error: nope: no such values file or directory")


# --------------------------------------------------------------------------- the real pack
def test_breaking_one_fixture_of_the_pack_names_the_rule_and_the_event(tmp_path: Path) -> None:
    """Acceptance: turn one positive case of a real single-event rule into a negative one."""
    root = Path(__file__).resolve().parents[1]
    shutil.copytree(root / "rules", tmp_path / "rules")
    shutil.copytree(root / "fixtures", tmp_path / "fixtures")
    victim = None
    for case in sorted((tmp_path / "fixtures").glob("*/*.yml")):
        text = case.read_text(encoding="utf-8")
        if (not case.parent.name.startswith("corr_") and "\nexpect: match\n" in f"\n{text}"
                and "\nmatch:" not in text and "events_file:" not in text):
            victim = case
            case.write_text(text.replace("expect: match\n", "expect: no_match\n"), encoding="utf-8")
            break
    assert victim is not None, "no positive single-event case in the pack"
    result = run_cli("test", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[-1].endswith(" passed, 1 failed")
    start = next(i for i, line in enumerate(lines) if line.startswith(f"FAIL {victim.parent.name} "))
    failures = list(itertools.takewhile(lambda line: line.startswith("    "), lines[start + 1:]))
    where = f"    fixtures/{victim.parent.name}/{victim.name}:"
    assert any(line.startswith(where) and line.endswith("event 0 fired but must not (a no_match case)")
               for line in failures), failures

"""`stormpack validate` end to end: a small valid pack passes, and each kind of mistake makes it
exit non-zero with a SARIF result on the file and line of the mistake."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stormpack.cli import main

PACK = Path(__file__).parent / "data" / "validate" / "pack"
M365 = Path("rules/m365/audit/m365_audit_test_mailbox_read_by_rest_client.yml")
CORR = Path("rules/m365/audit/corr_m365_audit_test_repeated_rest_mailbox_reads.yml")
SIGNIN = Path("rules/azure/signinlogs/azure_signin_test_sign_in_with_anomalous_token_risk.yml")
EMPTY_EXCEPTIONS = "exceptions.yml"


@pytest.fixture
def pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "pack"
    shutil.copytree(PACK, root)
    (root / EMPTY_EXCEPTIONS).write_text("exceptions: []\n", encoding="utf-8")
    monkeypatch.chdir(root)
    return root


def run(*args: str, fmt: str = "sarif", exceptions: str = EMPTY_EXCEPTIONS) -> tuple[int, Any]:
    """Run the CLI in-process; return (exit code, parsed report)."""
    out = Path("report.out")
    argv = ["validate", *args, "--format", fmt, "--output", str(out), "--exceptions", exceptions]
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    if not out.exists():
        return code, None
    text = out.read_text(encoding="utf-8")
    out.unlink()
    return code, (text if fmt == "text" else json.loads(text))


def line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in {path}")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def results(sarif: dict[str, Any], check: str) -> list[tuple[str, int]]:
    return [
        (
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in sarif["runs"][0]["results"]
        if r["ruleId"] == check and "suppressions" not in r
    ]


def test_valid_pack_passes(pack: Path) -> None:
    code, sarif = run("rules")
    assert code == 0
    assert sarif["runs"][0]["results"] == []
    code, report = run("rules", fmt="json")
    assert code == 0 and report["ok"] is True and report["rules_checked"] == 3


def test_default_path_is_rules_folder(pack: Path) -> None:
    code, report = run(fmt="json")
    assert code == 0 and report["rules_checked"] == 3


# Each mutation breaks the pack in one way and returns (check, file, line) of the expected result.
Mutation = Callable[[Path], list[tuple[str, Path, int]]]


def one_edit(name: str, rule: Path, old: str, new: str, check: str, needle: str) -> Mutation:
    """The mutation ``name``: ``old`` replaced by ``new`` in ``rule``; ``check`` fails on the line of
    ``needle`` after the edit."""

    def mutation(root: Path) -> list[tuple[str, Path, int]]:
        edit(root / rule, old, new)
        return [(check, rule, line_of(root / rule, needle))]

    mutation.__name__ = name
    return mutation


def duplicate_id(root: Path) -> list[tuple[str, Path, int]]:
    m365_id = "0b6a0c39-1a8e-4c55-9f0a-6d0f1b5e2a11"
    edit(root / SIGNIN, "id: 9e8d7c6b-5a49-4382-a716-151413121110", f"id: {m365_id}")
    return [
        ("stormpack.unique_id", SIGNIN, line_of(root / SIGNIN, f"id: {m365_id}")),
        ("stormpack.unique_id", M365, line_of(root / M365, f"id: {m365_id}")),
    ]


def missing_negative_fixture(root: Path) -> list[tuple[str, Path, int]]:
    (root / "fixtures" / M365.stem / "negative_owa_owner.yml").unlink()
    return [("stormpack.fixtures", M365, 1)]


# no such sub-technique in v18.1
bad_attack_tag = one_edit("bad_attack_tag", M365, "  - attack.t1114.002", "  - attack.t1114.009",
                          "attacktag", "attack.t1114.009")


technique_without_its_tactic = one_edit(
    "technique_without_its_tactic", SIGNIN, "  - attack.t1550.001",
    "  - attack.t1550.001\n  - attack.t1114.002", "stormpack.attack_tactic", "attack.t1114.002")


unknown_field = one_edit("unknown_field", M365, "    LogonType: 0", "    LogonKind: 0",
                         "stormpack.unknown_field", "LogonKind")


# riskyusers is not in the taxonomy
unmapped_logsource = one_edit("unmapped_logsource", SIGNIN, "service: signinlogs", "service: riskyusers",
                              "stormpack.unknown_logsource", "logsource:")


def wrong_file_name(root: Path) -> list[tuple[str, Path, int]]:
    wrong = SIGNIN.with_name("azure_signin_anomalous_token.yml")
    (root / SIGNIN).rename(root / wrong)
    (root / "fixtures" / SIGNIN.stem).rename(root / "fixtures" / wrong.stem)
    return [("stormpack.filename", wrong, line_of(root / wrong, "title:"))]


def wrong_folder(root: Path) -> list[tuple[str, Path, int]]:
    moved = Path("rules/azure/auditlogs") / SIGNIN.name
    (root / moved.parent).mkdir(parents=True)
    (root / SIGNIN).rename(root / moved)
    return [("stormpack.folder", moved, 1)]


def wrong_key_order(root: Path) -> list[tuple[str, Path, int]]:
    edit(root / M365, "level: high\n", "")
    edit(root / M365, "status: experimental\n", "status: experimental\nlevel: high\n")
    return [("stormpack.key_order", M365, line_of(root / M365, "level: high"))]


def missing_required_key(root: Path) -> list[tuple[str, Path, int]]:
    edit(root / SIGNIN, "author: stormpack tests\n", "")
    return [("stormpack.required_key", SIGNIN, 1)]


empty_references = one_edit(
    "empty_references", CORR,
    "references:\n  - https://www.cisa.gov/news-events/cybersecurity-advisories/aa23-193a\n",
    "references: []\n", "stormpack.references", "references: []")


description_wording = one_edit(
    "description_wording", SIGNIN, "Generic mailbox-compromise coverage: test rule", "A test rule",
    "stormpack.description", "description:")


def duplicate_title(root: Path) -> list[tuple[str, Path, int]]:
    edit(root / CORR, "title: Test Repeated REST Mailbox Reads", "title: Test Mailbox Read By REST Client")
    return [("stormpack.unique_title", CORR, 1), ("stormpack.unique_title", M365, 1)]


correlation_field_unknown = one_edit(
    "correlation_field_unknown", CORR, "    - MailboxOwnerUPN", "    - MailboxOwner",
    "stormpack.unknown_field", "- MailboxOwner")


def fixture_without_expect(root: Path) -> list[tuple[str, Path, int]]:
    case = Path("fixtures") / CORR.stem / "negative_outside_window.yml"
    edit(root / case, "expect: no_match", "expect: nomatch")
    return [
        ("stormpack.fixture_format", case, line_of(root / case, "expect: nomatch")),
        ("stormpack.fixtures", CORR, 1),
    ]


broken_yaml = one_edit("broken_yaml", SIGNIN, "level: medium", "level: medium\nlevel: high", "stormpack.yaml",
                       "level: high")


MUTATIONS: list[Mutation] = [
    duplicate_id, missing_negative_fixture, bad_attack_tag, technique_without_its_tactic, unknown_field,
    unmapped_logsource, wrong_file_name, wrong_folder, wrong_key_order, missing_required_key,
    empty_references, description_wording, duplicate_title, correlation_field_unknown,
    fixture_without_expect, broken_yaml,
]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.__name__ for m in MUTATIONS])
def test_mistake_fails_with_sarif_result_on_file_and_line(pack: Path, mutation: Mutation) -> None:
    expected = mutation(pack)
    code, sarif = run("rules")
    assert code == 1
    for check, path, line in expected:
        assert (path.as_posix(), line) in results(sarif, check), (check, sarif["runs"][0]["results"])


def test_sarif_is_well_formed(pack: Path) -> None:
    unknown_field(pack)
    bad_attack_tag(pack)
    _, sarif = run("rules")
    assert sarif["version"] == "2.1.0" and "sarif-2.1.0" in sarif["$schema"]
    run0 = sarif["runs"][0]
    rules = run0["tool"]["driver"]["rules"]
    for r in run0["results"]:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        assert r["level"] in ("error", "warning", "note")
        assert r["message"]["text"]
        loc = r["locations"][0]["physicalLocation"]
        assert not loc["artifactLocation"]["uri"].startswith("/")  # relative to the checkout
        assert loc["region"]["startLine"] >= 1


def test_text_output_names_file_line_and_check(pack: Path) -> None:
    unknown_field(pack)
    code, text = run("rules", fmt="text")
    assert code == 1
    line = line_of(pack / M365, "LogonKind")
    assert f"{M365.as_posix()}:{line}: error: [stormpack.unknown_field]" in text


def write_exception(pack: Path, reason: str, *, comment: str = "") -> None:
    """exc.yml: the M365 rule's sigmahq_falsepositives_capital finding accepted for ``reason``
    (the rule's id on line 3 of the file with a one-line ``comment``, else line 2)."""
    (pack / "exc.yml").write_text(
        f"{comment}exceptions:\n"
        "  - rule: 0b6a0c39-1a8e-4c55-9f0a-6d0f1b5e2a11\n"
        "    check: sigmahq_falsepositives_capital\n"
        f"    reason: {reason}\n",
        encoding="utf-8",
    )


def test_exception_accepts_a_finding_with_its_reason(pack: Path) -> None:
    edit(pack / M365, "  - Scripts of the mailbox owner", "  - scripts of the mailbox owner")
    code, sarif = run("rules")
    assert code == 1 and results(sarif, "sigmahq_falsepositives_capital")
    write_exception(pack, "quoted log text must keep its case")
    code, sarif = run("rules", exceptions="exc.yml")
    assert code == 0
    suppressed = [r for r in sarif["runs"][0]["results"] if "suppressions" in r]
    reasons = [s["suppressions"][0]["justification"] for s in suppressed]
    assert reasons == ["quoted log text must keep its case"]


def test_stale_exception_fails(pack: Path) -> None:
    write_exception(pack, "was lower-case once", comment="# accepted findings\n")
    code, sarif = run("rules", exceptions="exc.yml")
    assert code == 1
    assert results(sarif, "stormpack.stale_exception") == [("exc.yml", 3)]


def test_exception_of_a_rule_outside_the_run_is_not_stale(pack: Path) -> None:
    write_exception(pack, "only checked when that rule is validated")
    code, _ = run("rules/azure", exceptions="exc.yml")
    assert code == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("exceptions:\n  - rule: x\n    check: no_such_check\n    reason: r\n", "unknown or disabled check"),
        ("exceptions:\n  - rule: x\n    check: d3_fendtag\n    reason: r\n", "unknown or disabled check"),
        ("exceptions:\n  - rule: x\n    check: attacktag\n    reason: ''\n", "needs a reason"),
        ("exceptions:\n  - {rule: x, check: attacktag}\n", "exactly: rule, check, reason"),
        ("skips: []\n", "one key, 'exceptions'"),
    ],
)
def test_malformed_exceptions_file_is_a_usage_error(
    pack: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    (pack / "exc.yml").write_text(content, encoding="utf-8")
    code, _ = run("rules", exceptions="exc.yml")
    err = capsys.readouterr().err
    assert code == 2
    assert "exc.yml" in err and message in err


def test_empty_or_missing_path_is_an_error(pack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (pack / "rules" / "empty").mkdir()
    code, _ = run("rules/empty")
    assert code == 2 and "holds no rule files" in capsys.readouterr().err
    code, _ = run("rules/nope")
    assert code == 2 and "no such file or directory" in capsys.readouterr().err


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def test_changed_since_checks_only_changed_rules_and_their_fixtures(pack: Path) -> None:
    git(pack, "init", "-q")
    git(pack, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "root")
    unknown_field(pack)  # a broken rule that is already committed
    git(pack, "add", "-A")
    git(pack, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "pack")
    code, report = run("rules", fmt="json", exceptions=EMPTY_EXCEPTIONS)
    assert code == 1  # the whole pack: the committed mistake is found

    code, report = run("rules", "--changed-since", "HEAD", fmt="json")
    assert code == 0 and report["rules_checked"] == 0  # nothing changed

    # change only a fixture of the signin rule: that rule (and only it) is checked
    case = pack / "fixtures" / SIGNIN.stem / "negative_unfamiliar_features.yml"
    edit(case, "expect: no_match", "expect: match")
    code, report = run("rules", "--changed-since", "HEAD", fmt="json")
    assert code == 1 and report["rules_checked"] == 1
    assert {f["path"] for f in report["findings"]} == {SIGNIN.as_posix()}
    assert "no negative fixture" in report["findings"][0]["message"]

    # an untracked new rule file is a change too
    edit(case, "expect: match", "expect: no_match")
    new = pack / "rules" / "m365" / "audit" / "m365_audit_new.yml"
    new.write_text((pack / M365).read_text(encoding="utf-8"), encoding="utf-8")
    code, report = run("rules", "--changed-since", "HEAD", fmt="json")
    checked = {f["path"] for f in report["findings"]}
    assert code == 1 and report["rules_checked"] == 1
    assert checked == {"rules/m365/audit/m365_audit_new.yml"}  # its unique_id/filename findings only

    # the committed mistake shows up again when its commit is in the range
    code, report = run("rules", "--changed-since", "HEAD~1", fmt="json")
    assert code == 1 and M365.as_posix() in {f["path"] for f in report["findings"]}


def test_changed_since_bad_ref_is_an_error(pack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git(pack, "init", "-q")
    code, _ = run("rules", "--changed-since", "no-such-ref")
    assert code == 2 and "git" in capsys.readouterr().err


def test_pack_attributes_are_known_other_custom_keys_are_not(pack: Path) -> None:
    """The pack's documented rule attributes (docs/deploy.md: schedule overrides, ingestion delay,
    hunting_only) pass SigmaHQ's unknown-field check; any other custom key still fails it."""
    rule = pack / M365
    rule.write_text(rule.read_text(encoding="utf-8").rstrip("\n")
                    + "\nhunting_only: true\ningestion_delay: 2h\n", encoding="utf-8")
    code, sarif = run("rules")
    assert code == 0, sarif["runs"][0]["results"]
    rule.write_text(rule.read_text(encoding="utf-8") + "hunting_onyl: true\n", encoding="utf-8")
    code, sarif = run("rules")
    assert code == 1
    found = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "sigmahq_unknown_field"]
    assert len(found) == 1 and "hunting_onyl" in found[0]["message"]["text"]
    assert "hunting_only" not in found[0]["message"]["text"].replace("hunting_onyl", "")

"""`stormpack new` (issue 15): a rule skeleton that validates clean, fixture skeletons from a real
record that fail `stormpack test` with "fill in the cases" until filled, then pass, compile and
execute on every target."""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from stormpack.authoring.scaffold import load_samples
from stormpack.cli import cli
from stormpack.compiler import TARGETS
from stormpack.fixtures import load_fixture_case
from stormpack.validate.conventions import PLACEMENT

REPO = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^\| \[(?P<title>[^\]]+)\]\((?P<path>[^)]+)\) \| [^|]+ \| (?P<level>\w+) \|")


@pytest.fixture()
def pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty pack: rules/ with the real phase map, an empty fixtures/."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "fixtures").mkdir()
    shutil.copy(REPO / "rules" / "README.md", tmp_path / "rules" / "README.md")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def new(logsource: str, title: str, *extra: str) -> Result:
    return run("new", "--logsource", logsource, "--title", title, "--level", "high",
               "--technique", "T1114.003", "--phase", "4", "--generic", *extra)


# Log sources with no real record in the corpus (../shared/corpus holds no risk detection): their
# sample is the documented example the fixtures start from, named by its source.
DOCUMENTED_ONLY = {"azure_riskdetection": "microsoftgraph/microsoft-graph-docs-contrib (CC-BY-4.0)",
                   # no licensed IIS recording in the corpus: a line in IIS's documented layout
                   "webserver": "IIS's documented default layout"}


def test_every_log_source_has_a_real_sample_record_equal_to_its_vendored_source() -> None:
    samples = load_samples()
    assert set(samples) == set(PLACEMENT)
    raw = yaml.safe_load((REPO / "compiler/stormpack/data/new_rule_records.yml").read_text())
    for key, entry in raw["logsources"].items():
        case_path, _, index = entry["copied_from"].rpartition(" event ")
        case = load_fixture_case(REPO / case_path)
        assert samples[key].record == case.events[int(index)].record, key
        if key in DOCUMENTED_ONLY:  # no real record exists: Microsoft's documented example
            assert DOCUMENTED_ONLY[key] in samples[key].provenance
        else:
            assert "corpus" in samples[key].provenance  # a real record, with its source
        assert "adapted" not in entry["copied_from"]


@pytest.mark.parametrize("logsource", [p.folder for p in PLACEMENT.values()])
def test_skeleton_validates_clean_and_test_asks_to_fill_in_the_cases(pack: Path, logsource: str) -> None:
    res = new(logsource, "Skeleton Of A New Rule")
    assert res.exit_code == 0, res.output
    placement = next(p for p in PLACEMENT.values() if p.folder == logsource)
    rule = Path("rules") / logsource / f"{placement.prefix}skeleton_of_a_new_rule.yml"
    assert f"wrote {rule.as_posix()}" in res.output
    for cmd in (f"stormpack validate {rule.as_posix()}", f"stormpack test {rule.as_posix()}",
                *(f"stormpack compile --target {t} {rule.as_posix()}" for t in TARGETS)):
        assert cmd in res.output  # the next commands are printed
    doc = yaml.safe_load(rule.read_text())
    assert list(doc) == ["title", "id", "status", "description", "references", "author", "date",
                         "tags", "logsource", "detection", "falsepositives", "level"]
    assert uuid.UUID(doc["id"]).version == 4
    assert doc["tags"] == ["attack.collection", "attack.t1114.003"]
    # the selection is read from the real record the cases start from
    case = load_fixture_case(Path("fixtures") / rule.stem / "positive_fill_in.yml")
    for field, value in doc["detection"]["selection"].items():
        cur = case.events[0].record
        for part in field.split("."):
            cur = cur[part]
        assert cur == value
    res = run("validate", str(rule))
    assert res.exit_code == 0, res.output
    assert "0 error(s), 0 warning(s)" in res.output
    assert run("fmt", "--check", "rules").exit_code == 0
    res = run("test", str(rule))
    assert res.exit_code == 1
    assert res.output.count("fill in the cases:") == 2  # both cases, each named
    assert "positive_fill_in.yml" in res.output and "negative_near_miss_fill_in.yml" in res.output
    # listed in the campaign-phase map under phase 4, as the pack's readme test wants
    rows = [m for line in (pack / "rules/README.md").read_text().splitlines() if (m := ROW.match(line))]
    mine = [m for m in rows if m["path"] == rule.relative_to("rules").as_posix()]
    assert len(mine) == 1 and mine[0]["title"] == doc["title"] and mine[0]["level"] == "high"
    text = (pack / "rules/README.md").read_text()
    at = text.index(mine[0].group(0))
    assert text.index("## 4. ") < at < text.index("## 5. ")


def test_new_end_to_end_fill_the_cases_from_a_real_record(pack: Path) -> None:
    res = new("m365/audit", "Mailbox Forwarding To An SMTP Address")
    assert res.exit_code == 0, res.output
    rule = Path("rules/m365/audit/m365_audit_mailbox_forwarding_to_an_smtp_address.yml")
    assert run("validate", str(rule)).exit_code == 0
    res = run("test", str(rule))
    assert res.exit_code == 1 and "fill in the cases" in res.output
    for target in TARGETS:  # the executed replay asks for the cases too
        res = run("test", "--target", target, str(rule))
        assert res.exit_code == 1 and res.output.count("fill in the cases:") == 2, res.output
    # the author writes the detection ...
    text = rule.read_text()
    text = text.replace("    Operation: Set-Mailbox\n  condition: selection\n",
                        "    Operation: Set-Mailbox\n    Parameters.ForwardingSmtpAddress|contains: '@'\n"
                        "  condition: selection\n")
    rule.write_text(text)
    # ... and fills in the cases: the real record fires; the near miss clears the forwarding
    fdir = Path("fixtures") / rule.stem
    pos = yaml.safe_load((fdir / "positive_fill_in.yml").read_text())
    neg = yaml.safe_load((fdir / "negative_near_miss_fill_in.yml").read_text())
    real = pos["events"][0]
    assert real["Operation"] == "Set-Mailbox"
    near = yaml.safe_load(yaml.safe_dump(real))
    for p in near["Parameters"]:
        if p["Name"] == "ForwardingSmtpAddress":
            p["Value"] = ""
    for doc, desc in ((pos, "The real record: forwarding to smtp:bla@bla.com."),
                      (neg, "Near miss: the same change clearing the forwarding address.")):
        del doc["todo"]
        doc["description"] = desc
    neg["events"] = [near]
    neg["provenance"] += "; adapted: ForwardingSmtpAddress emptied"
    (fdir / "positive_fill_in.yml").write_text(yaml.safe_dump(pos, sort_keys=False))
    (fdir / "negative_near_miss_fill_in.yml").write_text(yaml.safe_dump(neg, sort_keys=False))
    res = run("test", str(rule))
    assert res.exit_code == 0, res.output
    assert "fill in the cases" not in res.output
    assert "1 passed, 0 failed" in res.output
    res = run("validate", str(rule))
    assert res.exit_code == 0, res.output
    for target in TARGETS:
        res = run("compile", "--target", target, str(rule))
        assert res.exit_code == 0, res.output
        assert "Set-Mailbox" in res.stdout and "ForwardingSmtpAddress" in res.stdout
        res = run("test", "--target", target, str(rule))  # the compiled query, executed
        assert res.exit_code == 0, res.output
        assert f"PASS {rule.stem}" in res.stdout


def test_options_not_given_are_asked(pack: Path) -> None:
    answers = "\n".join(["azure/signinlogs", "Sign-In Asked For Everything", "medium", "t1078.004",
                         "initial-access", "2", "y"]) + "\n"
    res = run("new", input=answers)
    assert res.exit_code == 0, res.output
    for prompt in ("Log source", "Title", "Level", "ATT&CK technique", "Tactic of T1078.004",
                   "Campaign phase (1. Infrastructure", "Reported for Storm-0558"):
        assert prompt in res.output
    rule = Path("rules/azure/signinlogs/azure_signin_sign_in_asked_for_everything.yml")
    doc = yaml.safe_load(rule.read_text())
    # T1078.004 has several tactics: the prompt asked which one
    assert doc["tags"] == ["attack.initial-access", "attack.t1078.004"]
    assert doc["description"].startswith("Observed in Storm-0558:")
    assert run("validate", str(rule)).exit_code == 0


@pytest.mark.parametrize(("extra", "message"), [
    (["--technique", "T9999"], "'T9999' is not an ATT&CK"),
    (["--phase", "42"], "no campaign phase 42"),
    (["--tactic", "impact"], "tactic 'impact' is not a tactic of T1114.003"),
])
def test_bad_options_are_errors_and_write_nothing(pack: Path, extra: list[str], message: str) -> None:
    args = ["new", "--logsource", "m365/audit", "--title", "Bad Options", "--level", "low",
            "--technique", "T1114.003", "--phase", "4", "--generic"]
    for i in range(0, len(extra), 2):
        if extra[i] in args:
            args[args.index(extra[i]) + 1] = extra[i + 1]
        else:
            args += extra[i:i + 2]
    res = run(*args)
    assert res.exit_code != 0
    assert message in str(res.exception) + res.output
    assert not list(Path("rules").rglob("*.yml")) and not list(Path("fixtures").iterdir())


def test_an_existing_rule_is_not_overwritten(pack: Path) -> None:
    assert new("m365/audit", "Twice").exit_code == 0
    before = Path("rules/m365/audit/m365_audit_twice.yml").read_text()
    res = new("m365/audit", "Twice")
    assert res.exit_code != 0
    assert "already exists" in str(res.exception) + res.output
    assert Path("rules/m365/audit/m365_audit_twice.yml").read_text() == before

"""Check stormpack.element_name (issue 15): a misspelt name/value element name is an error naming
rule, line, field and the closest known names; cmdlet parameters are checked against the cmdlets
the rule names; an intentional unknown name is declared as a field-scoped exception."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from stormpack.cli import cli
from stormpack.taxonomy import load_taxonomy
from stormpack.validate.element_names import load_element_names, rule_cmdlets
from stormpack.validate.exceptions import ExceptionsFileError
from stormpack.validate.runner import ValidateOptions, validate

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "compiler/stormpack/data/element_names.yml"
PACK_EXCEPTIONS = REPO / "compiler/stormpack/data/validation_exceptions.yml"
NV_ROOTS = tuple(load_taxonomy().name_value_arrays)


def nv_fields(rule: Path) -> list[str]:
    """The name/value fields a rule's detection uses, read from its YAML."""
    out: list[str] = []

    def walk(x: object) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                f = str(k).split("|")[0]
                if f.split(".")[0] in NV_ROOTS and "." in f and f not in out:
                    out.append(f)
                walk(v)
        elif isinstance(x, list):
            for i in x:
                walk(i)

    walk(yaml.safe_load(rule.read_text(encoding="utf-8")).get("detection"))
    return out


RULES_WITH_NV = [p for p in sorted((REPO / "rules").rglob("*.yml")) if nv_fields(p)]


def typo(name: str, known: set[str]) -> str:
    """The name with one letter dropped (the first drop that is not itself a known name)."""
    for i in range(len(name) // 2, len(name)):
        cand = name[:i] + name[i + 1:]
        if name[i].isalpha() and cand not in known:
            return cand
    raise AssertionError(name)


def copy_rule(rule: Path, dest: Path) -> Path:
    rel = rule.relative_to(REPO)
    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(rule, dest / rel)
    shutil.copytree(REPO / "fixtures" / rule.stem, dest / "fixtures" / rule.stem)
    return dest / rel


def test_the_pack_uses_name_value_fields() -> None:
    assert len(RULES_WITH_NV) >= 15


@pytest.mark.parametrize("rule", RULES_WITH_NV, ids=lambda p: p.stem)
def test_a_one_letter_typo_in_each_name_value_field_is_reported_with_the_suggestion(
        rule: Path, tmp_path: Path) -> None:
    copy = copy_rule(rule, tmp_path)
    text = copy.read_text(encoding="utf-8")
    fields = nv_fields(rule)
    data = load_element_names()
    every = set().union(*data.cmdlets.values(), *data.seen.values())
    wrong: dict[str, str] = {}
    for f in fields:
        root, _, name = f.partition(".")
        bad = f"{root}.{typo(name, every)}"
        wrong[bad] = name
        text, n = re.subn(re.escape(f) + r"(?=[|:])", bad, text)
        assert n >= 1
    copy.write_text(text, encoding="utf-8")
    report = validate(ValidateOptions(paths=[copy]))
    found = {f.field: f for f in report.errors if f.check == "stormpack.element_name"}
    assert set(found) == set(wrong), [str(f) for f in report.errors]
    lines = text.splitlines()
    title = yaml.safe_load(text)["title"]
    declared = {e.get("field") for e in yaml.safe_load(PACK_EXCEPTIONS.read_text())["exceptions"]}
    for bad, original in wrong.items():
        f = found[bad]
        assert f.line is not None and bad in lines[f.line - 1]  # the line of the field
        assert f"rule '{title}'" in f.message and f"field '{bad}'" in f.message
        if f"{bad.split('.')[0]}.{original}" in declared:
            continue  # a declared unknown name is no vendored name to suggest
        suggestion = re.search(r"did you mean ([^?]+)\?", f.message)
        assert suggestion, f.message
        assert suggestion.group(1) == original, f.message  # the closest known name first
    # nothing else breaks: the only other errors are the typo'd fields' exceptions gone stale
    others = [f for f in report.errors if f.check not in ("stormpack.element_name",
                                                          "stormpack.stale_exception")]
    assert not others, [str(f) for f in others]


def test_cli_names_rule_line_field_and_suggestion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rule = REPO / "rules/m365/audit/m365_audit_mailbox_forwarding_to_external_smtp_address.yml"
    copy = copy_rule(rule, tmp_path)
    copy.write_text(copy.read_text().replace("Parameters.ForwardingSmtpAddress|contains",
                                             "Parameters.ForwardingSmtpAdress|contains"))
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["validate", str(copy.relative_to(tmp_path))])
    assert res.exit_code == 1
    line = next(i for i, ln in enumerate(copy.read_text().splitlines(), 1) if "SmtpAdress" in ln)
    assert (f"rules/m365/audit/{rule.name}:{line}: error: [stormpack.element_name] rule "
            "'Mailbox Forwarding To External SMTP Address': field 'Parameters.ForwardingSmtpAdress': "
            "'ForwardingSmtpAdress' is not a parameter of Set-Mailbox") in res.output
    assert "did you mean ForwardingSmtpAddress?" in res.output


def _rule(tmp_path: Path, detection: dict[str, object]) -> Path:
    src = REPO / "rules/m365/audit/m365_audit_mailbox_forwarding_to_external_smtp_address.yml"
    copy = copy_rule(src, tmp_path)
    doc = yaml.safe_load(copy.read_text())
    doc["detection"] = detection
    copy.write_text(yaml.safe_dump(doc, sort_keys=False))
    return copy


def test_parameters_are_checked_against_the_cmdlets_the_rule_names(tmp_path: Path) -> None:
    data = load_element_names()
    # ForwardTo is a New-InboxRule parameter, not a Set-Mailbox one (ExchangePowerShell reference)
    assert "ForwardTo" in data.cmdlets["New-InboxRule"] and "ForwardTo" not in data.cmdlets["Set-Mailbox"]
    wrong = _rule(tmp_path / "a", {"selection": {"Operation": "Set-Mailbox", "Parameters.ForwardTo": "x"},
                                   "condition": "selection"})
    errs = [f for f in validate(ValidateOptions(paths=[wrong])).errors if f.check == "stormpack.element_name"]
    assert len(errs) == 1 and "'ForwardTo' is not a parameter of Set-Mailbox" in errs[0].message
    right = _rule(tmp_path / "b", {"selection": {"Operation": ["Set-Mailbox", "New-InboxRule"],
                                                 "Parameters.ForwardTo": "x"}, "condition": "selection"})
    assert not [f for f in validate(ValidateOptions(paths=[right])).errors
                if f.check == "stormpack.element_name"]
    # an Operation pattern names no cmdlet: every known parameter name is accepted
    pattern = _rule(tmp_path / "c", {"selection": {"Operation|startswith": "Set-",
                                                   "Parameters.ForwardTo": "x"}, "condition": "selection"})
    assert rule_cmdlets(yaml.safe_load(pattern.read_text())) == frozenset()
    assert not [f for f in validate(ValidateOptions(paths=[pattern])).errors
                if f.check == "stormpack.element_name"]


def test_an_intentional_unknown_name_is_declared_for_its_field_only(tmp_path: Path) -> None:
    rule = _rule(tmp_path, {"selection": {"Operation": "Set-Mailbox",
                                          "Parameters.BrandNewParameter": "x",
                                          "Parameters.ForwardingSmtpAdress": "y"},
                            "condition": "selection"})
    rid = yaml.safe_load(rule.read_text())["id"]
    exc = tmp_path / "exceptions.yml"
    exc.write_text(yaml.safe_dump({"exceptions": [{
        "rule": rid, "check": "stormpack.element_name", "field": "Parameters.BrandNewParameter",
        "reason": "added to Set-Mailbox after the vendored reference commit"}]}))
    report = validate(ValidateOptions(paths=[rule], exceptions=exc))
    errs = [f for f in report.errors if f.check == "stormpack.element_name"]
    assert [f.field for f in errs] == ["Parameters.ForwardingSmtpAdress"]  # the typo still fails
    assert [f.field for f, _ in report.suppressed] == ["Parameters.BrandNewParameter"]
    # once the name is gone, the declaration is stale and fails validation
    rule.write_text(rule.read_text().replace("BrandNewParameter", "ForwardingAddress"))
    report = validate(ValidateOptions(paths=[rule], exceptions=exc))
    assert [f.check for f in report.errors if "stale" in f.check] == ["stormpack.stale_exception"]


def test_a_field_is_only_for_element_name_exceptions(tmp_path: Path) -> None:
    rule = _rule(tmp_path, {"selection": {"Operation": "Set-Mailbox"}, "condition": "selection"})
    exc = tmp_path / "exceptions.yml"
    exc.write_text(yaml.safe_dump({"exceptions": [{"rule": "x", "check": "stormpack.filename",
                                                  "field": "Operation", "reason": "r"}]}))
    res = CliRunner().invoke(cli, ["validate", "--exceptions", str(exc), str(rule)])
    assert isinstance(res.exception, ExceptionsFileError)  # stormpack's main() exits 2 on it
    assert "field names the detection field of a stormpack.element_name exception" in str(res.exception)


def test_the_whole_pack_validates_clean_with_only_declared_field_exceptions() -> None:
    report = validate(ValidateOptions(paths=[REPO / "rules"]))
    assert not report.errors, [str(f) for f in report.errors]
    declared = yaml.safe_load(PACK_EXCEPTIONS.read_text())["exceptions"]
    element = [e for e in declared if e["check"] == "stormpack.element_name"]
    assert all("field" in e for e in element)
    assert sorted(f.field or "" for f, _ in report.suppressed if f.check == "stormpack.element_name") \
        == sorted(e["field"] for e in element)


def test_vendored_names_say_where_they_come_from_and_cover_the_pack_cmdlets() -> None:
    text = DATA.read_text(encoding="utf-8")
    assert "MicrosoftDocs/office-docs-powershell" in text and "CC-BY-4.0" in text
    assert "tools/vendor_element_names.py" in text
    data = yaml.safe_load(text)
    assert re.fullmatch(r"[0-9a-f]{40}", data["docs_commit"])
    named = set()
    for p in (REPO / "rules").rglob("*.yml"):
        named |= rule_cmdlets(yaml.safe_load(p.read_text()))
    assert named and named <= set(data["cmdlets"]) | set(data["cmdlets_without_a_page"])
    # every source of the seen names is a vendored file of the repository
    assert all((REPO / s).is_file() for s in data["sources"])
    assert "ForwardingSmtpAddress" in data["cmdlets"]["Set-Mailbox"]

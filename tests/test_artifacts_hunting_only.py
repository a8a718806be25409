"""Hunting-only rules that are not time-bounded (issue 11, alert budget): an informational rule,
or a rule with ``hunting_only: true``, is built as a hunting query on every target (no schedule,
no alert); any other value of the attribute is refused with the rule's file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stormpack.artifacts.pack import build_pack
from stormpack.errors import ArtifactError
from stormpack.execute.spl import parse_conf

RULE = """title: {title}
id: {id}
status: experimental
description: Test rule.
author: test
date: 2026-12-07
tags:
  - attack.collection
  - attack.t1114.002
logsource:
  product: m365
  service: audit
detection:
  selection:
    Operation: {op}
  condition: selection
level: {level}
{extra}"""

RULES = {
    "m365_audit_scheduled_medium": ("Scheduled Medium", "11111111-0000-4000-8000-000000000001", "Op1",
                                    "medium", ""),
    "m365_audit_informational_rule": ("Informational Rule", "11111111-0000-4000-8000-000000000002", "Op2",
                                      "informational", ""),
    "m365_audit_demoted_medium": ("Demoted Medium", "11111111-0000-4000-8000-000000000003", "Op3", "medium",
                                  "hunting_only: true\n"),
}


def _write(d: Path, rules: dict[str, tuple[str, str, str, str, str]]) -> Path:
    folder = d / "rules" / "m365" / "audit"
    folder.mkdir(parents=True)
    for stem, (title, rid, op, level, extra) in rules.items():
        (folder / f"{stem}.yml").write_text(RULE.format(title=title, id=rid, op=op, level=level, extra=extra),
                                            encoding="utf-8")
    return d / "rules"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("hunting_only")
    out = d / "build"
    build_pack([_write(d, RULES)], {}, out)
    return out


@pytest.mark.parametrize(("stem", "hunting"), [("m365_audit_scheduled_medium", False),
                                                ("m365_audit_informational_rule", True),
                                                ("m365_audit_demoted_medium", True)])
def test_sentinel_and_defender_ship_hunting_queries(built: Path, stem: str, hunting: bool) -> None:
    assert (built / "sentinel" / "hunting" / f"{stem}.yaml").is_file() is hunting
    assert (built / "sentinel" / f"{stem}.yaml").is_file() is not hunting
    assert (built / "defender" / "hunting" / f"{stem}.kql").is_file() is hunting
    assert (built / "defender" / f"{stem}.json").is_file() is not hunting
    arm = (built / "sentinel" / "azuredeploy.json").read_text(encoding="utf-8")
    assert (RULES[stem][0] in arm) is not hunting


def test_hunting_query_says_why(built: Path) -> None:
    doc = yaml.safe_load((built / "sentinel" / "hunting" / "m365_audit_demoted_medium.yaml")
                         .read_text(encoding="utf-8"))
    assert "hunting_only: true" in doc["description"] and "alert budget" in doc["description"]
    kql = (built / "defender" / "hunting" / "m365_audit_informational_rule.kql").read_text(encoding="utf-8")
    assert kql.startswith("// Informational Rule\n// Hunting query, not a custom detection: its level is "
                          "informational")


def test_splunk_report_has_no_schedule_and_a_30_day_range(built: Path) -> None:
    saved = parse_conf((built / "splunk" / "stormpack" / "default" / "savedsearches.conf")
                       .read_text(encoding="utf-8"))
    by_title = {name.removeprefix("stormpack - "): kv for name, kv in saved.items()}
    for title in ("Informational Rule", "Demoted Medium"):
        kv = by_title[f"{title} - Hunt"]
        assert kv["enableSched"] == "0"
        assert kv["dispatch.earliest_time"] == "-30d@d" and kv["dispatch.latest_time"] == "now"
        assert not any(k.startswith("action.") and v == "1" for k, v in kv.items())
    assert by_title["Scheduled Medium - Rule"]["enableSched"] == "1"


def test_catalogue_marks_them_h(built: Path) -> None:
    cat = (built / "catalogue.md").read_text(encoding="utf-8")
    assert "hunting query, not a scheduled rule: it carries hunting_only: true" in cat
    assert "hunting query, not a scheduled rule: its level is informational" in cat


def test_a_value_other_than_true_or_false_is_refused(tmp_path: Path) -> None:
    rules = {"m365_audit_bad": ("Bad", "11111111-0000-4000-8000-000000000004", "Op4", "medium",
                                "hunting_only: sometimes\n")}
    with pytest.raises(ArtifactError, match="hunting_only: 'sometimes' is not true or false") as exc:
        build_pack([_write(tmp_path, rules)], {}, tmp_path / "build")
    assert "m365_audit_bad.yml" in str(exc.value) and "m365_audit_bad.yml:18:" in str(exc.value)

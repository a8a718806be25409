"""`stormpack build --windows-source`: the Sentinel artifacts of the Windows rules read the chosen
table, declare its connector, map entities to columns of that table, and parse with Microsoft's
parser; rules the source cannot serve are refused with compile's reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from stormpack.artifacts import sentinel
from stormpack.artifacts.build import collect_metas
from stormpack.artifacts.entities import entity_columns
from stormpack.cli.build_cmd import per_target_sources
from stormpack.compiler import compile_rules
from stormpack.errors import ArtifactError
from stormpack.querycheck.kql import check_kql
from stormpack.ruleset import load_ruleset

ROOT = Path(__file__).resolve().parents[1]
WINDOWS = ROOT / "rules" / "windows"


def test_securityevent_artifacts_read_securityevent_and_declare_its_connectors() -> None:
    res = compile_rules([WINDOWS], "sentinel", None, ["securityevent"])
    metas = collect_metas(load_ruleset([WINDOWS]))
    rules = [sentinel.build_rule(q, metas[q.rule_id]) for q in res.queries]
    assert len(rules) == 5
    for q, r in zip(res.queries, rules, strict=True):
        assert q.tables[0] == "SecurityEvent"
        assert {c.connector_id for c in r.connectors} == {"WindowsSecurityEvents", "SecurityEvents"}
        assert {c.data_type for c in r.connectors} == {"SecurityEvent"}
        assert {c.expression for c in entity_columns(q, metas[q.rule_id])} == {"Computer"}
        sentinel.validate(r)
    reports = check_kql([r.query for r in rules], target="sentinel")
    assert [str(d) for rep in reports for d in rep.diagnostics if rep.errors] == []
    why = {lr.stem: reason for lr, reason in res.skipped}
    assert "log source windows_image_load is not available on sentinel" in why[
        "win_image_load_dll_loaded_beside_a_relocated_windows_binary"]


def test_event_table_without_a_known_connector_fails_loud() -> None:
    res = compile_rules([WINDOWS / "image_load"], "sentinel", None, ["sysmon"])
    metas = collect_metas(load_ruleset([WINDOWS / "image_load"]))
    with pytest.raises(ArtifactError, match="no Sentinel data connector is known for table Event"):
        sentinel.build_rule(res.queries[0], metas[res.queries[0].rule_id])


def test_each_target_gets_the_names_it_knows() -> None:
    assert per_target_sources(None) is None
    assert per_target_sources(["securityevent", "sysmon"]) == {"sentinel": ["securityevent", "sysmon"],
                                                               "adx": ["sysmon"]}
    assert per_target_sources(["security"]) == {"adx": ["security"]}

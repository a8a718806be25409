"""Derived fields (stormpack/derived.py): the two-column tenant list format, the matcher's reader,
and the KQL / SPL steps executed on target-shaped records (issue #10 point 11)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stormpack import derived
from stormpack.compiler.targets import kql_string, spl_string
from stormpack.errors import TaxonomyError, ValuesError
from stormpack.execute.base import Dataset
from stormpack.execute.kql import KqlExecutor
from stormpack.execute.spl import executor as spl_executor
from stormpack.execute.spl import splunk_event

OBJ, APP = "11b49e19-2326-4be6-93cb-7f37439bbd81", "5a95e683-08ad-424e-a441-1d1aec52c02c"
VALUES = {"org_app_ids_by_object_id": [f"{OBJ.upper()} {APP}", "aaaa bbbb"]}
NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _app_id() -> derived.Derivation:
    d = derived.derivation("stormpack.appId", "azure_auditlogs")
    assert d is not None
    return d


def test_pairs_are_two_columns_with_case_insensitive_keys() -> None:
    assert derived.parse_pairs("l", [f"{OBJ.upper()} {APP}", f"{OBJ}\t{APP}"]) == {OBJ: APP}
    with pytest.raises(ValuesError, match=r"two-column list 'l': item 'only-one' must be"):
        derived.parse_pairs("l", ["only-one"])
    with pytest.raises(ValuesError, match="must be '<key> <value>'"):
        derived.parse_pairs("l", ["a b c"])
    with pytest.raises(ValuesError, match="key A has two values"):
        derived.parse_pairs("l", ["a x", "A y"])


def test_a_missing_list_maps_nothing_and_a_missing_log_source_fails_loud() -> None:
    assert derived.pairs_of(_app_id(), {}) == {}
    assert derived.kql_steps(_app_id(), "sentinel", "a", {}, kql_string)[1] == 'extend a = ""'
    assert derived.spl_steps(_app_id(), "a", {}, spl_string)[1] == "eval a=null()"
    with pytest.raises(TaxonomyError, match="no derivation for log source m365_audit"):
        derived.derivation("stormpack.appId", "m365_audit")
    assert derived.derivation("ClientAppId", "m365_audit") is None
    assert derived.lists_of("stormpack.appId") == ["org_app_ids_by_object_id"]


def test_matcher_reader_looks_up_the_first_target() -> None:
    read = derived.reader(_app_id(), lambda r: r.get("ids"), VALUES)
    assert read({"ids": [OBJ, "other"]}) == APP
    assert read({"ids": OBJ.upper()}) == APP
    assert read({"ids": ["not-listed"]}) is None and read({}) is None


def test_kql_steps_compute_the_same_on_auditlogs_rows() -> None:
    steps = derived.kql_steps(_app_id(), "sentinel", "a", VALUES, kql_string)
    q = "AuditLogs\n| " + "\n| ".join(steps) + "\n| project a"
    rows = [{"TargetResources": [{"id": OBJ.upper()}, {"id": "aaaa"}]}, {"TargetResources": [{"id": "x"}]},
            {"TargetResources": []}]
    out = KqlExecutor("sentinel").run(q, Dataset(tables={"AuditLogs": rows}, now=NOW))
    assert [r["a"] for r in out] == [APP, "", ""]


def test_spl_steps_compute_the_same_on_aad_events() -> None:
    steps = derived.spl_steps(_app_id(), "a", VALUES, spl_string)
    q = "search index=*\n| " + "\n| ".join(steps) + "\n| table a"
    records = [{"time": "2026-12-06T10:00:00Z", "properties": {"targetResources": [{"id": OBJ.upper()},
                                                                                 {"id": "aaaa"}]}},
               {"time": "2026-12-06T11:00:00Z", "properties": {"targetResources": [{"id": "x"}]}}]
    events = [splunk_event("azure_auditlogs", r) for r in records]
    out = spl_executor().run(q, Dataset(tables={"test": events}, now=NOW))
    assert sorted(str(r.get("a")) for r in out) == sorted([APP, "None"])


def test_a_correlation_on_a_missing_pair_list_is_named_not_silent(tmp_path: Path) -> None:
    """Without the two-column list the same-app correlation cannot pair; `stormpack hunt` warns,
    naming the correlation and the list, and stays quiet once the list is there."""
    from stormpack.ruleset import find_base_rules, load_ruleset

    rule = Path(__file__).resolve().parents[1] / "rules" / "multi" / \
        "corr_multi_app_credential_added_then_unknown_app_reads_mail.yml"
    base = find_base_rules([str(rule)])
    rules = [lr.rule for lr in load_ruleset([str(rule), *base.added])]
    lines = derived.unfilled(rules, {})
    assert len(lines) == 1
    assert "App Credential Added Then Unknown App Reads Mail" in lines[0]
    assert "stormpack.appId" in lines[0] and "org_app_ids_by_object_id" in lines[0]
    assert derived.unfilled(rules, VALUES) == []
    assert derived.unfilled(rules, {"org_app_ids_by_object_id": []}) == lines

    events = tmp_path / "empty.jsonl"
    events.write_text("", encoding="utf-8")
    values = tmp_path / "values"
    values.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "stormpack", "hunt", "--rules", str(rule), "--values", str(values),
         "--events", str(events)], capture_output=True, text=True, check=False)
    assert "warning: correlation 'App Credential Added Then Unknown App Reads Mail'" in proc.stderr

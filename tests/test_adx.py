"""The `adx` target (issue #13, "Beyond one machine"): the pack over raw exports ingested as-is
into Azure Data Explorer / Fabric Eventhouse.

Its queries are checked like the other KQL targets (Microsoft's parser against the adx schema in
test_compile_querycheck.py, every fixture case executed in test_execute_targets.py); here: it
compiles everything Defender does and more, the tables and mappings build/adx/ writes are the
ones the queries read, Microsoft's parser accepts the management commands, and an exported record
put through the shipped JSON mapping is the row the executor evaluates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stormpack.artifacts import adx
from stormpack.artifacts.pack import build_pack
from stormpack.compiler import compile_rules
from stormpack.compiler.adx_tables import adx_tables
from stormpack.compiler.targets import load_target
from stormpack.fixtures import load_fixture_dir
from stormpack.querycheck.kql import check_kql
from stormpack.shapes.derive import derive
from stormpack.shapes.source import get_path
from stormpack.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
VALUES = ROOT / "values"


@pytest.fixture(scope="module")
def compiled() -> dict[str, set[str]]:
    return {t: {str(q.path) for q in compile_rules([RULES], t, VALUES).queries} for t in ("adx", "defender")}


def test_adx_compiles_every_rule_defender_compiles_and_more(compiled: dict[str, set[str]]) -> None:
    # every cloud rule; the Windows rules (Defender's Device* tables) have no adx table yet: their
    # log sources say so on adx (data/targets/adx.yml), and hunt reads .evtx on one machine
    windows = {p for p in compiled["defender"] if "/windows/" in p}
    assert all(load_target("adx").logsources[k].unsupported
               for k in load_target("adx").logsources if k.startswith("windows_"))
    assert compiled["defender"] - windows <= compiled["adx"]
    more = compiled["adx"] - compiled["defender"]
    # Defender has no Entra audit log table; the raw exports do
    assert any("/azure/auditlogs/" in p for p in more), more


def test_every_adx_log_source_has_its_table_and_every_table_a_log_source() -> None:
    spec = load_target("adx")
    tables = {t.name: t for t in adx_tables()}
    mapped = {lt.table: key for key, lt in spec.logsources.items() if not lt.unsupported}
    assert set(mapped) == set(tables)
    for name, key in mapped.items():
        assert tables[name].logsource == key
        assert spec.logsources[key].raw_root == "Record"


def test_mappings_read_the_event_time_the_taxonomy_names() -> None:
    taxonomy = load_taxonomy()
    for t in adx_tables():
        ls = taxonomy.logsources[t.logsource]
        assert t.json_mapping["TimeGenerated"] == f"$.{ls.timestamp}", t.name
        assert t.json_mapping["Record"] == "$"  # the whole document
        assert t.columns == {"TimeGenerated": "datetime", "Record": "dynamic"}


def test_management_commands_parse_with_microsofts_parser() -> None:
    commands = adx.commands()
    assert len(commands) == 2 * len(adx_tables())
    reports = check_kql(commands, target="adx")
    assert [(c, [str(d) for d in r.errors]) for c, r in zip(commands, reports, strict=True) if r.errors] == []
    # the check is live: a wrong column type in the same command is an error
    broken = commands[0].replace(":dynamic", ":dynamc")
    assert check_kql([broken], target="adx")[0].errors


def test_mapping_json_names_each_column_once_with_its_type() -> None:
    for t in adx_tables():
        items = json.loads(adx.mapping_json(t))
        assert [i["column"] for i in items] == list(t.columns)
        assert {i["column"]: i["datatype"] for i in items} == dict(t.columns)
        assert adx.create_mapping(t).count(adx.MAPPING_NAME) == 1


def _jsonpath(record: dict[str, Any], path: str) -> Any:
    assert path.startswith("$")
    return record if path == "$" else get_path(record, path[2:])


@pytest.mark.parametrize("stem", [
    "m365_audit_mailbox_delegation_granted_to_another_user",
    "azure_signin_storm_0558_ip_in_interactive_sign_in_any_time",
    "azure_audit_mail_read_permission_granted_to_application_in_entra",
])
def test_a_record_through_the_shipped_mapping_is_the_row_the_executor_reads(stem: str) -> None:
    taxonomy = load_taxonomy()
    tables = {t.logsource: t for t in adx_tables()}
    case = load_fixture_dir(ROOT / "fixtures" / stem)[0]
    record = dict(case.events[0].record)
    ls = taxonomy.classify(record)
    assert ls is not None
    table = tables[ls.key]
    ingested = {col: _jsonpath(record, path) for col, path in table.json_mapping.items()}
    row = derive("adx", ls.key, record).row
    assert row["Record"] == ingested["Record"]
    # ADX parses the ISO text into a datetime; the executor's row holds it as ISO text with Z
    assert str(row["TimeGenerated"]).rstrip("Z").startswith(str(ingested["TimeGenerated"]).rstrip("Z")[:19])


def test_build_writes_the_tables_and_the_guide(tmp_path: Path) -> None:
    rules = RULES / "m365" / "audit" / "m365_audit_mailbox_delegation_granted_to_another_user.yml"
    report = build_pack([rules], VALUES, tmp_path)
    tables = tmp_path / "adx" / "tables.kql"
    guide = tmp_path / "adx" / "README.md"
    assert tables in report.written and guide in report.written
    text = tables.read_text(encoding="utf-8")
    for t in adx_tables():
        assert f".create-merge table {t.name} (" in text
        assert f"table {t.name} ingestion json mapping" in text
        assert f"`{t.name}`" in guide.read_text(encoding="utf-8")

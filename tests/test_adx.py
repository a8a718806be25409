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
import re
from datetime import UTC, datetime
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
def results() -> dict[str, Any]:
    return {t: compile_rules([RULES], t, VALUES) for t in ("adx", "defender")}


@pytest.fixture(scope="module")
def compiled(results: dict[str, Any]) -> dict[str, set[str]]:
    return {t: {str(q.path) for q in r.queries} for t, r in results.items()}


def test_adx_compiles_every_rule_defender_compiles_and_more(results: dict[str, Any],
                                                             compiled: dict[str, set[str]]) -> None:
    assert [k for k, lt in load_target("adx").logsources.items() if lt.unsupported] == []
    assert compiled["defender"] <= compiled["adx"]
    # and every rule Defender refuses (no table for the log source, a field its tables lack)
    assert [(str(lr.path), why) for lr, why in results["adx"].skipped] == []
    refused = {str(lr.path) for lr, _ in results["defender"].skipped}
    inside_correlations = {str(lr.path) for lr in results["adx"].not_generated}  # compiled within them
    assert refused and refused <= compiled["adx"] | inside_correlations
    more = compiled["adx"] - compiled["defender"]
    # Defender has no Entra audit log table and no web-server request log; the raw exports do
    assert any("/azure/auditlogs/" in p for p in more), more
    assert any("/web/webserver/" in p for p in more), more
    assert any("/windows/" in p for p in compiled["adx"])


def test_every_adx_log_source_has_its_table_and_every_table_a_log_source() -> None:
    spec = load_target("adx")
    tables = {t.name: t for t in adx_tables()}
    mapped: dict[str, set[str]] = {}
    for key, lt in spec.logsources.items():
        if not lt.unsupported:
            assert lt.table is not None
            mapped.setdefault(lt.table, set()).add(key)
            assert str(lt.raw_root).split(".")[0] == "Record", key
    assert set(mapped) == set(tables)
    for name, keys in mapped.items():
        assert set(tables[name].logsources) == keys, name


def test_mappings_read_the_event_time_the_taxonomy_names() -> None:
    taxonomy = load_taxonomy()
    spec = load_target("adx")
    for t in adx_tables():
        assert t.json_mapping["Record"] == "$"  # the whole document
        assert t.columns == {"TimeGenerated": "datetime", "Record": "dynamic"}
        for key in t.logsources:
            if spec.logsources[key].raw_root == "Record":  # the record is the taxonomy's record
                assert t.json_mapping["TimeGenerated"] == f"$.{taxonomy.logsources[key].timestamp}", t.name


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
    """The subset of JSONPath ADX mappings use: ``$``, ``.name``, ``['name']``
    (https://learn.microsoft.com/en-us/kusto/query/jsonpath)."""
    assert path.startswith("$")
    steps = re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)|\['([^']*)'\]", path[1:])
    assert "".join(f".{a}" if a else f"['{b}']" for a, b in steps) == path[1:], path
    value: Any = record
    for a, b in steps:
        value = get_path(value, a or b) if isinstance(value, dict) else None
    return value


@pytest.mark.parametrize("stem", [
    "m365_audit_mailbox_delegation_granted_to_another_user",
    "azure_signin_storm_0558_ip_in_interactive_sign_in_any_time",
    "azure_audit_mail_read_permission_granted_to_application_in_entra",
])
def test_a_record_through_the_shipped_mapping_is_the_row_the_executor_reads(stem: str) -> None:
    taxonomy = load_taxonomy()
    tables = {k: t for t in adx_tables() for k in t.logsources}
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


# ------------------------------------------------------------------ Windows events (evtx JSON)
EVTX = ROOT / "tests" / "data" / "evtx"


def _evtx_events(name: str) -> list[dict[str, Any]]:
    """The events of a real .evtx file as `evtx_dump -o jsonl` writes them (the same parser)."""
    import evtx

    return [json.loads(r["data"]) for r in evtx.PyEvtxParser(str(EVTX / name)).records_json()]


def _windows_table() -> Any:
    return next(t for t in adx_tables() if "windows_process_creation" in t.logsources)


def _ingested(table: Any, doc: dict[str, Any]) -> dict[str, Any]:
    return {col: _jsonpath(doc, path) for col, path in table.json_mapping.items()}


def _leaves(obj: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    if isinstance(obj, dict):
        return {k: v for key, sub in obj.items() for k, v in _leaves(sub, (*prefix, key)).items()}
    return {prefix: obj}


@pytest.mark.parametrize("name", sorted(p.name for p in EVTX.glob("*.evtx")))
def test_a_real_evtx_event_through_the_mapping_is_the_row_derive_writes(name: str) -> None:
    from stormpack.readers.evtx import flatten_event
    from stormpack.shapes.derive import derive_kql, filter_passes

    spec = load_target("adx")
    taxonomy = load_taxonomy()
    table = _windows_table()
    checked = 0
    for doc in _evtx_events(name):
        flat = flatten_event(doc["Event"])
        row = _ingested(table, doc)
        assert row["TimeGenerated"] == flat["TimeCreated"]
        ls = taxonomy.classify(flat)
        if ls is None or ls.key not in table.logsources:
            continue  # a logon, a privilege use ...: in the table, read by no log source
        # the source whose events these are: Sysmon's (the default) or Security 4688's
        source = next((c for c in ("sysmon", "security")
                       if filter_passes(spec.with_source(c).logsources[ls.key], row)), None)
        assert source is not None, flat
        derived = derive_kql(spec.with_source(source), ls.key, flat).row
        ingested = _leaves(row["Record"])
        for path, value in _leaves(derived["Record"]).items():
            assert path in ingested, path
            assert str(ingested[path]) == str(value), path
        checked += 1
    assert checked


@pytest.mark.parametrize(("name", "stem", "source", "other"), [
    ("sigmahq_tor_browser_execution.evtx", "win_proc_creation_tor_or_softether_vpn_client_started",
     "sysmon", "Security"),
    ("lsassy_comsvcs_minidump_sysmon.evtx", "win_proc_creation_lsass_memory_dump_via_comsvcs_minidump",
     "sysmon", "Security"),
    # Security 4688 events (--windows-source security): NewProcessName, CommandLine
    ("lsassy_comsvcs_minidump_security.evtx", "win_proc_creation_lsass_memory_dump_via_comsvcs_minidump",
     "security", "Microsoft-Windows-Sysmon/Operational"),
    ("diskshadow_script_security.evtx", "win_proc_creation_volume_shadow_copy_created_from_the_command_line",
     "security", "Microsoft-Windows-Sysmon/Operational"),
])
def test_the_compiled_query_fires_on_the_ingested_evtx_rows(name: str, stem: str, source: str,
                                                            other: str) -> None:
    from stormpack.execute.base import Dataset
    from stormpack.execute.registry import executor_for

    table = _windows_table()
    rows = [_ingested(table, doc) for doc in _evtx_events(name)]
    rule = next(RULES.glob(f"windows/*/{stem}.yml"))
    queries = compile_rules([rule], "adx", VALUES, [source]).queries
    assert queries and all(q.table.startswith(table.name) for q in queries)
    executor = executor_for("adx")
    data = Dataset(tables={table.name: rows}, now=datetime.now(UTC),
                   schemas={table.name: dict(table.columns)})
    assert any(executor.run(q.query, data) for q in queries)
    # and stays silent on the same rows once they are another channel's
    for r in rows:
        r["Record"]["Event"]["System"]["Channel"] = other
    assert not any(executor.run(q.query, data) for q in queries)


def test_the_security_source_reads_4688_under_its_own_names() -> None:
    spec = load_target("adx")
    assert spec.sources is not None and spec.sources.default == "sysmon"
    security = spec.with_source("security")
    assert "4688" in str(security.logsources["windows_process_creation"].filter)
    assert all(security.logsources[k].unsupported for k in spec.sources.logsources
               if k != "windows_process_creation")
    res = compile_rules([RULES / "windows" / "process_creation"], "adx", VALUES, ["security", "sysmon"])
    by_source = {Path(q.path).stem: q.source for q in res.queries}
    # OriginalFileName is Sysmon's (PE version information): those rules fall back to sysmon
    assert by_source["win_proc_creation_lsass_dumped_with_procdump"] == "sysmon"
    assert by_source["win_proc_creation_lsass_memory_dump_via_comsvcs_minidump"] == "security"
    text = next(q.query for q in res.queries if q.source == "security")
    assert "Record.Event.EventData.NewProcessName" in text or "CommandLine" in text


# ------------------------------------------------------------------ IIS W3C logs (JSON lines)
W3C = ROOT / "tests" / "data" / "w3c"


def _w3c_lines(name: str) -> list[dict[str, Any]]:
    """The lines of an IIS log as the JSON lines docs/adx.md writes (stormpack's W3C reader)."""
    from stormpack.readers.model import Record
    from stormpack.readers.reader import read_events

    items = list(read_events(W3C / name))
    assert all(isinstance(i, Record) for i in items)
    return [json.loads(json.dumps(i.data)) for i in items if isinstance(i, Record)]


@pytest.mark.parametrize("name", sorted(p.name for p in W3C.glob("*.log")))
def test_an_iis_line_through_the_mapping_is_the_row_derive_writes(name: str) -> None:
    table = next(t for t in adx_tables() if t.logsources == ("webserver",))
    for line in _w3c_lines(name):
        row = _ingested(table, line)
        assert row["Record"] == derive("adx", "webserver", line).row["Record"]
        assert row["TimeGenerated"] == line["timestamp"]


def test_the_compiled_webserver_query_fires_on_the_ingested_iis_lines() -> None:
    from stormpack.execute.base import Dataset
    from stormpack.execute.registry import executor_for

    table = next(t for t in adx_tables() if t.logsources == ("webserver",))
    (query,) = [q for q in compile_rules([RULES / "web"], "adx", VALUES).queries]
    executor = executor_for("adx")
    fired = []
    for line in _w3c_lines("iis10_two_field_blocks.log"):
        data = Dataset(tables={table.name: [_ingested(table, line)]}, now=datetime.now(UTC),
                       schemas={table.name: dict(table.columns)})
        if executor.run(query.query, data):
            fired.append((line["cs-method"], line["cs-uri-stem"]))
    # the POSTs to the web shells the file records; not the GET, the OWA form posts, the Exchange page
    assert fired == [("POST", "/aspnet_client/system_web/Xkj2nR.aspx"), ("POST", "/owa/auth/web.aspx")]


@pytest.mark.parametrize(("key", "source"), [("webserver", None), ("windows_process_creation", None),
                                           ("windows_registry_set", None),
                                           ("windows_process_creation", "security")])
def test_every_taxonomy_field_of_the_new_tables_reads_from_record_and_parses(key: str,
                                                                             source: str | None) -> None:
    from stormpack.compiler.targets import resolve_field
    from stormpack.errors import UnmappedFieldError

    spec = load_target("adx") if source is None else load_target("adx").with_source(source)
    taxonomy = load_taxonomy()
    lt = spec.logsource(key)
    queries = []
    for fname in taxonomy.logsources[key].fields:
        try:
            ref = resolve_field(spec, lt, taxonomy.logsources[key], taxonomy, fname)
        except UnmappedFieldError as exc:  # a field the events do not have, saying why
            assert exc.unsupported, fname
            continue
        steps = "".join(f"\n| {s.text}" for s in ref.steps)
        queries.append(f"{lt.table}{steps}\n| where isnotnull({ref.name})")
        assert ref.name == "TimeGenerated" or "Record" in (ref.source + steps), fname
    reports = check_kql(queries, target="adx")
    assert [(q, [str(d) for d in r.errors]) for q, r in zip(queries, reports, strict=True) if r.errors] == []


def test_the_kql_keywords_are_the_names_microsofts_parser_wants_bracketed() -> None:
    from stormpack.compiler.targets import sanitize
    from stormpack.syntax import KQL

    words = sorted(KQL.keywords)
    # each is refused as an alias or as a path step (most as both)
    bare = check_kql([f"IisW3CLogs | extend {w} = tostring(Record.{w})" for w in words], target="adx")
    assert [w for w, r in zip(words, bare, strict=True) if not r.errors] == []
    # so the syntax brackets them in a path and never uses them as an alias
    quoted = [f"IisW3CLogs | extend {sanitize(w)} = tostring({KQL.path('Record', w)})"
              f" | where isnotnull({sanitize(w)})" for w in words]
    reports = check_kql(quoted, target="adx")
    assert [(q, r.errors) for q, r in zip(quoted, reports, strict=True) if r.errors] == []
    assert KQL.path("Record", "properties.date") == 'Record.properties["date"]'

"""Sentinel without Defender for Endpoint: ``--windows-source`` (data/targets/sentinel.yml
``windows_sources``; docs/compiler.md "Windows log sources: which table, and why").

Each Windows rule is compiled to the first named source whose table has every field it uses,
parses with Microsoft's Kusto.Language parser against the real table schema, runs in the KQL
executor on rows shaped as that table holds them with the matcher's verdict, and the compile
report names the source and why. The product shapes relied on are checked on real exported rows
(tests/data/sentinel_tables).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stormpack.compiler import CompileResult, compile_rules
from stormpack.compiler.build import report, report_text
from stormpack.compiler.targets import load_target, resolve_field
from stormpack.errors import StormpackError, UnmappedFieldError, UnmappedLogsourceError
from stormpack.execute.base import Dataset
from stormpack.execute.harness import replay_target
from stormpack.execute.kql import KqlExecutor
from stormpack.execute.kql.values import parse_xml
from stormpack.querycheck.kql import check_kql
from stormpack.ruleset import load_values
from stormpack.shapes.derive import derive_kql, event_data_xml
from stormpack.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]
WINDOWS = ROOT / "rules" / "windows"
WINDOWS_RULES = sorted(WINDOWS.rglob("*.yml"))  # every Windows rule: each one runs on Sysmon
ROWS = ROOT / "tests" / "data" / "sentinel_tables" / "otrf_goldensaml_windows_rows.jsonl"
ORIGINAL_FILE_NAME_RULES = {
    "win_proc_creation_credential_registry_hive_saved_with_reg_exe",
    "win_proc_creation_lsass_dumped_with_procdump",
    "win_proc_creation_tor_or_softether_vpn_client_started",
}


@pytest.fixture(scope="module")
def both() -> CompileResult:
    return compile_rules([WINDOWS], "sentinel", None, ["securityevent", "sysmon"])


@pytest.fixture(scope="module")
def security_only() -> CompileResult:
    return compile_rules([WINDOWS], "sentinel", None, ["securityevent"])


def real_rows() -> list[dict[str, object]]:
    return [json.loads(line) for line in ROWS.read_text(encoding="utf-8").splitlines() if line.strip()]


# ---------------------------------------------------------------- per-rule choice and report
def test_each_rule_gets_the_first_source_that_has_its_fields(both: CompileResult) -> None:
    assert both.errors == []
    by_stem = {q.stem: q for q in both.queries}
    assert len(by_stem) == len(WINDOWS_RULES)
    for stem, q in by_stem.items():
        if stem.startswith("win_proc_creation") and stem not in ORIGINAL_FILE_NAME_RULES:
            assert (q.source, q.table) == ("securityevent", "SecurityEvent (EventID == 4688)"), stem
        else:  # OriginalFileName, image loads, files, process access, registry, network: Sysmon only
            assert q.source == "sysmon", stem
            assert q.table.startswith('Event (Source == "Microsoft-Windows-Sysmon" and EventID == '), stem
            assert "securityevent: " in q.source_why, stem
    access = by_stem["win_proc_access_lsass_memory_opened_for_reading"]
    assert access.table.endswith("EventID == 10)")  # the LSASS-access gap is closed on Sentinel


def test_refusal_names_the_missing_field_or_log_source(security_only: CompileResult) -> None:
    why = {lr.stem: reason for lr, reason in security_only.skipped}
    assert set(why) == ORIGINAL_FILE_NAME_RULES | {
        "win_file_event_lsass_memory_dump_file_written",
        "win_file_event_script_file_written_into_a_web_root_by_a_web_server",
        "win_image_load_dll_loaded_beside_a_relocated_windows_binary",
        "win_proc_access_lsass_memory_opened_for_reading",
        "win_registry_set_softether_vpn_or_tor_installed_as_a_service",
        "win_net_connection_tor_or_softether_vpn_process_connects_out",
    }
    for stem in ORIGINAL_FILE_NAME_RULES:
        assert "securityevent: field 'OriginalFileName' not available" in why[stem]
        assert f"{stem}.yml:" in why[stem]  # file and line of the field
    assert "log source windows_process_access is not available" in why[
        "win_proc_access_lsass_memory_opened_for_reading"]
    assert len(security_only.errors) == len(security_only.skipped)


def test_compile_report_says_which_table_and_why(both: CompileResult) -> None:
    text = report_text({"sentinel": both})
    assert "[SecurityEvent (EventID == 4688)]" in text
    assert "table from source sysmon: first of --windows-source securityevent,sysmon" in text
    rows = report({"sentinel": both})["targets"]["sentinel"]["compiled"]
    assert {r["source"] for r in rows} == {"securityevent", "sysmon"}
    assert all(r["source_why"] for r in rows)


def test_default_is_the_defender_tables_and_says_so() -> None:
    res = compile_rules([WINDOWS / "process_creation"], "sentinel", None)
    assert {q.table for q in res.queries} == {"DeviceProcessEvents"}
    assert {q.source for q in res.queries} == {"defender"}
    assert "the default --windows-source" in report_text({"sentinel": res})


def test_unknown_source_fails_loud() -> None:
    with pytest.raises(UnmappedLogsourceError, match="known: defender, sysmon, securityevent"):
        compile_rules([WINDOWS], "sentinel", None, ["wef"])


# ---------------------------------------------------------------- Microsoft's parser
def test_every_variant_query_parses_against_the_real_schema(both: CompileResult) -> None:
    sysmon = compile_rules([WINDOWS], "sentinel", None, ["sysmon"])
    queries = [q.query for q in both.queries] + [q.query for q in sysmon.queries]
    reports = check_kql(queries, target="sentinel")
    assert [(q[:60], [str(d) for d in r.diagnostics]) for q, r in zip(queries, reports, strict=True)
            if r.errors] == []


# ---------------------------------------------------------------- executor = matcher
@pytest.mark.parametrize("sources", [["sysmon"], ["securityevent"], ["securityevent", "sysmon"]])
def test_fixture_cases_give_the_matchers_verdict(sources: list[str]) -> None:
    fixtures = ROOT / "fixtures"
    verdicts = replay_target([WINDOWS], fixtures, load_values(fixtures / "values"), "sentinel",
                             sources=sources)
    failed = [(v.stem, [str(f) for f in v.failures]) for v in verdicts if not v.passed]
    assert failed == []
    executed = {v.stem for v in verdicts if v.note is None}
    assert len(executed) == (5 if sources == ["securityevent"] else len(WINDOWS_RULES))


# ---------------------------------------------------------------- product shapes (real rows)
def test_real_event_rows_have_the_columns_and_values_the_sysmon_source_reads() -> None:
    """Event: Sysmon rows carry Source "Microsoft-Windows-Sysmon" and EventLog the channel; the raw
    EventData is the agent's <DataItem><EventData xmlns=...><Data> wrapper, read back with
    parse_xml(EventData).DataItem.EventData.Data (https://learn.microsoft.com/en-us/azure/azure-monitor/reference/tables/event)."""
    rows = real_rows()
    sysmon = next(r for r in rows if r.get("Source") == "Microsoft-Windows-Sysmon")
    lt = load_target("sentinel").with_source("sysmon").logsources["windows_process_creation"]
    assert lt.table == sysmon["Type"] == "Event"
    assert lt.filter is not None and f'Source == "{sysmon["Source"]}"' in lt.filter
    assert lt.fields["Channel"] == "EventLog" and sysmon["EventLog"] == "Microsoft-Windows-Sysmon/Operational"
    assert isinstance(sysmon["EventID"], int)
    raw = next(r for r in rows if "EventData_string" in r)
    data = (KqlExecutor().run("Event | extend D = parse_xml(EventData).DataItem.EventData.Data",
                              Dataset(tables={"Event": [{"EventData": raw["EventData_string"]}]},
                                      now=datetime(2021, 8, 2, 14, tzinfo=UTC))))
    assert str(data[0]["D"]).startswith("audit_schema_version:1 ")
    # the derived Event rows use the same wrapper (root element and its type attribute)
    ours = parse_xml(event_data_xml(lt, {"Image": "C:\\x.exe"}))
    theirs = parse_xml(str(raw["EventData_string"]))
    assert ours["DataItem"]["@type"] == theirs["DataItem"]["@type"] == "System.XmlData"
    assert set(ours["DataItem"]) == set(theirs["DataItem"])


def test_real_securityevent_row_has_the_columns_the_securityevent_source_reads() -> None:
    """SecurityEvent: the event's data fields are columns, Channel "Security", EventSourceName the
    provider (https://learn.microsoft.com/en-us/azure/azure-monitor/reference/tables/securityevent)."""
    row = next(r for r in real_rows() if r.get("Type") == "SecurityEvent")
    lt = load_target("sentinel").with_source("securityevent").logsources["windows_process_creation"]
    assert row["Channel"] == "Security" and lt.fields["Channel"] == "Channel"
    assert row["EventSourceName"] == "Microsoft-Windows-Security-Auditing"
    assert lt.fields["Provider_Name"] == "EventSourceName"


def test_every_field_of_every_choice_resolves_or_says_why() -> None:
    spec = load_target("sentinel")
    tax = load_taxonomy()
    assert spec.sources is not None
    for choice in spec.sources.choices:
        variant = spec.with_source(choice)
        assert all(u.startswith("https://learn.microsoft.com/") for u in spec.sources.choices[choice].docs)
        for key in spec.sources.logsources:
            lt = variant.logsources[key]
            if lt.unsupported:
                continue
            for fname in tax.logsources[key].fields:
                try:
                    resolve_field(variant, lt, tax.logsources[key], tax, fname)
                except UnmappedFieldError as exc:
                    assert "not available on sentinel" in exc.message, (choice, fname)
                except StormpackError as exc:  # a column the schema lacks: the data is wrong
                    pytest.fail(f"{choice} {key}.{fname}: {exc}")


def test_derived_sysmon_row_escapes_xml_and_reads_back() -> None:
    lt = load_target("sentinel").with_source("sysmon").logsources["windows_process_creation"]
    spec = load_target("sentinel").with_source("sysmon")
    record = {"EventID": 1, "Image": "C:\\a&b\\<x>.exe", "CommandLine": 'x "y" ', "Computer": "h"}
    row = derive_kql(spec, "windows_process_creation", record).row
    assert (row["Source"], row["EventID"], row["Type"]) == ("Microsoft-Windows-Sysmon", 1, "Event")
    data = parse_xml(row["EventData"])["DataItem"]["EventData"]["Data"]
    assert {d["@Name"]: d.get("#text") for d in data} == {k: record[k] for k in ("Image", "CommandLine")}
    assert lt.event_data is not None


def test_cli_names_each_rules_table_and_refuses_loudly() -> None:
    from click.testing import CliRunner

    from stormpack.cli import cli

    runner = CliRunner()
    access = str(WINDOWS / "process_access")
    ok = runner.invoke(cli, ["compile", "-t", "sentinel", "--windows-source", "securityevent,sysmon", access])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("Event\n| where Source == \"Microsoft-Windows-Sysmon\" and EventID == 10")
    assert '[Event (Source == "Microsoft-Windows-Sysmon" and EventID == 10)] from source sysmon' in ok.stderr
    bad = runner.invoke(cli, ["compile", "-t", "sentinel", "--windows-source", "securityevent", access])
    assert bad.exit_code != 0
    assert "log source windows_process_access is not available" in bad.stderr
    wrong = runner.invoke(cli, ["compile", "-t", "defender", "--windows-source", "sysmon", access])
    assert wrong.exit_code == 2 and "only sentinel and adx have alternative Windows sources" in wrong.stderr

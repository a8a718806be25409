"""The exports investigators have: Graph API JSON, Entra admin center CSV downloads,
Search-UnifiedAuditLog CSV, partial SIEM projections; read from the real files copied into
tests/data/exports and fixtures/corpus (provenance in tests/data/exports/PROVENANCE.md)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from hunt_support import hunt_file, pack_engine
from stormpack.matcher import Engine
from stormpack.readers import Record, read_events
from stormpack.readers.csvexport import unique_names
from stormpack.readers.exports import SourceShapes
from stormpack.readers.graph import from_graph

ROOT = Path(__file__).resolve().parents[1]
EXPORTS = ROOT / "tests" / "data" / "exports"
CORPUS = ROOT / "fixtures" / "corpus"
PORTAL_CSV = EXPORTS / "InteractiveSignIns_2025-03-11_2025-03-18.csv"
GRAPH_BETA = EXPORTS / "graph_signins_beta_page.json"
GRAPH_V1 = EXPORTS / "graph_signins_v1_array_bom.json"
GRAPH_AUDIT = EXPORTS / "graph_directoryaudits_v1_page.json"
IOC = "195.26.87.219"  # one of the Storm-0558 addresses of the IOC rules (rules/azure/*ip*)
IOC_SIGNIN = "Storm-0558 IP In Interactive Sign-In Any Time"
IOC_NONINTERACTIVE = "Storm-0558 IP In Non-Interactive Sign-In Any Time"
IOC_AUDIT = "Storm-0558 IP In Entra Audit Activity Any Time"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return pack_engine(values=ROOT / "values")


def _m365_files() -> list[Path]:
    files = sorted(p for p in EXPORTS.iterdir() if p.suffix in (".csv", ".json", ".jsonl"))
    files += sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in (".csv", ".json"))
    return files


# files that truly lack the columns any log source needs: what the one line must name
LACKING = {
    "demo_exchange_data.head200.csv": ("Microsoft Sentinel OfficeActivity", ["Type", "OfficeWorkload"]),
}
# the Defender file mixes one CloudAppEvents row with endpoint/identity rows no rule reads
PARTLY = {"Microsoft365DefenderEvents.json": (8, "Defender XDR advanced-hunting row"),
          # the OTRF host dataset: its events outside the Windows log sources (process creation,
          # image load, file event, process access, registry value set, network connection); its one
          # Security 4688 is evaluated (a HELK-flattened 4688 reads under Sysmon's names)
          "psh_lsass_memory_dump_comsvcs_2020-10-18T19500924.json": (67, "no log source of the pack reads")}


@pytest.mark.parametrize("path", _m365_files(), ids=lambda p: p.name)
def test_every_real_export_is_read_whole(engine: Engine, path: Path) -> None:
    _, stats = hunt_file(engine, path)
    assert stats.read > 0
    assert stats.rejected == 0 and not stats.unusable, stats.rejections
    if path.name in LACKING:
        resembles, lacks = LACKING[path.name]
        assert stats.evaluated == 0 and stats.unrecognised == stats.read
        why = stats.unrecognised_why[str(path)]
        assert "\n" not in why and resembles in why
        assert all(c in why.split("lacks", 1)[1] for c in lacks)
        assert "TimeGenerated" in why.split("lacks", 1)[0]  # the columns it has are named as had
    elif path.name in PARTLY:
        n, text = PARTLY[path.name]
        assert stats.unrecognised == n and text in stats.unrecognised_why[str(path)]
    else:
        assert stats.unrecognised == 0, stats.unrecognised_why
        assert stats.evaluated == stats.read


def test_portal_csv_duplicate_and_padded_headers_become_fields() -> None:
    records = [r for r in read_events(PORTAL_CSV) if isinstance(r, Record)]
    assert len(records) == 214
    row = records[1].data
    assert "Incoming token type #2" in row and "Application ID" in row  # trailing space trimmed
    converted, shape = SourceShapes()(row)
    assert shape.name == "Entra admin center sign-ins CSV"
    p = converted["properties"]
    assert converted["category"] == "SignInLogs" and converted["time"] == "2025-03-18T07:08:03Z"
    assert converted["callerIpAddress"] == p["ipAddress"] == row["IP address"] == "4.191.134.27"
    assert p["incomingTokenType"] == "primaryRefreshToken"  # the first of the two columns
    assert p["portalColumns"]["Incoming token type #2"] == "Primary refresh token"
    assert p["appId"] == "89bee1f7-5e6e-4d8a-9f3d-ecd601259da7"
    assert p["location"] == {"city": "Aberdeen", "state": "Hong Kong", "countryOrRegion": "HK"}
    assert p["status"]["errorCode"] == 0 and converted["resultType"] == "0"
    assert isinstance(p["autonomousSystemNumber"], int)  # "Autonomous system  number" (two spaces)
    assert p["deviceDetail"]["isCompliant"] is False


def test_non_interactive_portal_download_is_told_by_its_file_name(tmp_path: Path, engine: Engine) -> None:
    text = PORTAL_CSV.read_text(encoding="utf-8-sig")
    out = tmp_path / "NonInteractiveSignIns_2025-03-11_2025-03-18.csv"
    out.write_text(text.replace("149.34.252.80", IOC), encoding="utf-8-sig")
    sink, stats = hunt_file(engine, out)
    assert stats.converted == {"Entra admin center sign-ins CSV": 214}
    assert set(sink.titles) == {IOC_NONINTERACTIVE}


def _ioc_rows(path: Path) -> set[int]:
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))
    col = rows[0].index("IP address")
    return {i - 1 for i, r in enumerate(rows[1:], start=1) if r[col] == IOC}


def test_ioc_address_injected_into_a_real_portal_csv_fires(tmp_path: Path, engine: Engine) -> None:
    text = PORTAL_CSV.read_text(encoding="utf-8-sig")
    before, _ = hunt_file(engine, PORTAL_CSV)
    assert before.hits == []
    first_ip = "149.34.252.80"
    out = tmp_path / PORTAL_CSV.name
    out.write_text(text.replace(first_ip, IOC), encoding="utf-8-sig")
    sink, stats = hunt_file(engine, out)
    expected = _ioc_rows(out)
    assert expected  # the address occurred in the real file
    assert {r.index for h, r in sink.pairs() if h.rule.title == IOC_SIGNIN} == expected
    assert stats.rejected == 0 and stats.unrecognised == 0


@pytest.mark.parametrize("path", [GRAPH_BETA, GRAPH_V1], ids=lambda p: p.name)
def test_ioc_address_injected_into_a_graph_export_fires(tmp_path: Path, engine: Engine, path: Path) -> None:
    raw = path.read_bytes()
    assert hunt_file(engine, path)[0].hits == []
    out = tmp_path / path.name
    out.write_bytes(raw.replace(b"131.107.159.37", IOC.encode()))
    sink, stats = hunt_file(engine, out)
    assert sink.titles == [IOC_SIGNIN]
    assert sink.records[0].data["properties"]["ipAddress"] == IOC
    assert stats.converted == {"Microsoft Graph signIn": 1}


def test_ioc_address_in_a_graph_directory_audit_fires(tmp_path: Path, engine: Engine) -> None:
    out = tmp_path / GRAPH_AUDIT.name
    out.write_bytes(GRAPH_AUDIT.read_bytes().replace(b"127.0.0.1", IOC.encode()))
    sink, _ = hunt_file(engine, out)
    assert sink.titles == [IOC_AUDIT]
    rec = sink.records[0].data
    assert rec["category"] == "AuditLogs" and rec["operationName"] == "Add member to group"
    assert rec["properties"]["loggedByService"] == "Core Directory"


def _graph_record(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8-sig"))
    items = data["value"] if isinstance(data, dict) else data
    assert isinstance(items[0], dict)
    return items[0]


@pytest.mark.parametrize(("kind", "category"), [
    ("interactiveUser", "SignInLogs"), ("nonInteractiveUser", "NonInteractiveUserSignInLogs"),
    ("servicePrincipal", "ServicePrincipalSignInLogs"), ("managedIdentity", "ManagedIdentitySignInLogs"),
])
def test_graph_sign_in_event_type_names_the_category(kind: str, category: str) -> None:
    rec = dict(_graph_record(GRAPH_BETA), signInEventTypes=[kind])
    got = from_graph(rec)
    assert got is not None and got[0]["category"] == category
    assert got[0]["resultType"] == "50126" and got[0]["properties"]["status"]["errorCode"] == 50126


def test_graph_v1_without_event_types_uses_is_interactive() -> None:
    rec = _graph_record(GRAPH_V1)
    assert "signInEventTypes" not in rec
    assert from_graph(rec)[0]["category"] == "SignInLogs"  # type: ignore[index]
    assert from_graph(dict(rec, isInteractive=False))[0]["category"] == "NonInteractiveUserSignInLogs"  # type: ignore[index]


def _pascal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: _pascal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pascal(v) for v in value]
    return value


def test_pascal_case_powershell_objects_convert_like_camel_case() -> None:
    rec = _graph_record(GRAPH_BETA)
    camel, pascal = from_graph(rec), from_graph(_pascal(rec))
    assert camel is not None and pascal is not None
    assert pascal[1] == "Microsoft Graph signIn (PascalCase)"
    assert pascal[0] == camel[0]


def test_search_unifiedauditlog_csv_with_multi_line_auditdata() -> None:
    items = list(read_events(EXPORTS / "TestFormated.csv"))
    assert len(items) == 4 and all(isinstance(i, Record) for i in items)
    lines = [i.line for i in items]
    assert lines == sorted(lines) and lines[1] - lines[0] > 1  # each record spans several lines
    assert all(i.data["Operation"] and i.data["CreationTime"] for i in items if isinstance(i, Record))


def test_duplicate_column_names_are_numbered() -> None:
    assert unique_names(["a", "b", "a", "a"]) == ["a", "b", "a #2", "a #3"]


# The header row of the admin center's audit-log download (no real download is in the corpus:
# this row is written here from the column names other tools read from such files; see
# docs/hunt-exports.md). The values are made up for the test.
AUDIT_HEADER = ["Date (UTC)", "CorrelationId", "Service", "Category", "Activity", "Result", "ResultReason",
                "User Agent", "ActorType", "ActorDisplayName", "ActorObjectId", "ActorUserPrincipalName",
                "IPAddress", "ActorHomeTenantId", "ActorHomeTenantName", "ActorServicePrincipalId",
                "ActorServicePrincipalName", "Target1Type", "Target1DisplayName", "Target1ObjectId",
                "Target1UserPrincipalName", "Target1ModifiedProperty1Name",
                "Target1ModifiedProperty1OldValue", "Target1ModifiedProperty1NewValue",
                "AdditionalDetail1Key", "AdditionalDetail1Value"]


def test_portal_audit_log_download_reaches_the_audit_rules(tmp_path: Path, engine: Engine) -> None:
    row = ["2025-03-18T12:00:00Z", "c0ffee00-0000-4000-8000-000000000001", "Core Directory",
           "ApplicationManagement", "Add service principal credentials", "success", "", "", "User",
           "Alex", "0cb87915-2520-4f16-8d6c-c31877bb65cb", "alex@contoso.com", IOC, "", "", "", "",
           "ServicePrincipal", "app1", "ef7e527d-6c92-4234-8c6d-cf6fdfb57f95", "",
           "KeyDescription", "[]", '["[KeyIdentifier=1]"]', "User-Agent", "x"]
    out = tmp_path / "AuditLogs_2025-03-18.csv"
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL).writerows([AUDIT_HEADER, row])
    out.write_text(buf.getvalue(), encoding="utf-8-sig")
    sink, stats = hunt_file(engine, out)
    assert stats.converted == {"Entra admin center audit logs CSV": 1}
    assert IOC_AUDIT in set(sink.titles)
    rec = sink.records[0].data
    assert rec["operationName"] == "Add service principal credentials"
    target = rec["properties"]["targetResources"][0]
    assert target["id"] == "ef7e527d-6c92-4234-8c6d-cf6fdfb57f95"
    assert target["modifiedProperties"] == [
        {"displayName": "KeyDescription", "oldValue": "[]", "newValue": '["[KeyIdentifier=1]"]'}]

"""Derived rows against real product rows, column by column (issue 9, item 3).

The reference rows are real exports copied into tests/data/shapes/ (PROVENANCE.md there):

* **Same record, two products**: the SimuLand ``MailItemsAccessed`` event exported from Sentinel
  (``OfficeActivity``) and from Defender advanced hunting (``CloudAppEvents``, whose
  ``RawEventData`` is the unified-audit-log record). :func:`derive` of that record must give
  each product's row.
* **Round trip** (no source record was exported with them): Sentinel ``AuditLogs`` (OTRF),
  ``SigninLogs`` (msticpy, training lab), ``OfficeActivity`` ``New-InboxRule`` (training lab).
  The source record is the row converted back (:func:`to_source`, what the hunt does with an
  export); the row derived from it must be the real row again.

For every column of the real row: an empty cell must be ``""`` in our row too (a Kusto string is
never null: https://learn.microsoft.com/en-us/kusto/query/scalar-data-types/null-values) or null
for a non-string column; a filled cell must be equal after undoing the export's own formatting
(Log Analytics CSV times, dynamic values as JSON text, re-indented JSON, ``TRUE``/``FALSE`` as the
CSV holds booleans). A column we knowingly do not derive, or derive in a documented-compatible
spelling, is listed below with the reason; a listed column that starts to agree fails the test,
so the lists cannot go stale.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from stormpack.compiler.targets import load_target
from stormpack.readers import EventFile, Record
from stormpack.shapes import derive
from stormpack.shapes.inverse import recognise_export, to_source

DATA = Path(__file__).resolve().parent / "data" / "shapes"
# whole training-lab exports already in the repository (fixtures/corpus/PROVENANCE-shapes.md)
LAB = Path(__file__).resolve().parents[1] / "fixtures" / "corpus" / "azure-sentinel-training-lab"

# The SimuLand event's Defender export flattened the record's nested arrays to PowerShell text
# ("@{Value=Bind; Name=MailAccessType}", "FolderItems=System.Object[]": ConvertTo-Json's depth
# limit in the exporting script, not how Defender stores RawEventData). Derived from that record,
# OfficeActivity's Folders / OperationProperties carry the flattened text; the real Sentinel row
# has the JSON. Our forms for these columns are checked on the training-lab row instead.
EXPORTER_FLATTENED = {"Folders", "OperationProperties"}

# Columns Sentinel fills from outside the UAL record, which derive() cannot know.
NOT_IN_THE_RECORD = {
    "TenantId": "the Log Analytics workspace id, not a value of the record",
    "OfficeTenantId": "ingestion-side tenant id (the lab exports hold the placeholder $RestApiTenantId$)",
    "ElevationTime": "set by Sentinel's Office connector, not in the UAL record (= Start_Time here)",
    "Start_Time": "set by Sentinel's Office connector, not in the UAL record",
}

# Columns present in an export but not columns of the table in the Kusto backend's schema (the
# schema this pack compiles against): duplicates Log Analytics keeps for renamed columns
# (UserId_, ...), the export query's own projections, and advanced hunting's union renames.
EXPORT_ONLY = {
    "OfficeActivity": {"UserId_", "OrganizationId_", "OfficeTenantId_", "ClientIP_", "Site_Url_",
                       "SourceFileName_", "SourceRelativeUrl_", "Scope"},
    "AuditLogs": {"TenantId", "UserAgent", "target", "targetDisplayName", "targetId", "targetType",
                  "keyEvents", "InitiatingUserOrApp", "InitiatingUser", "ModifiedApplication",
                  "ModifiedApplicationObjectId", "ModifiedPropertyName", "ResourceAppId", "DisplayName",
                  "Permissions", "PermissionsAddedTo", "keyUsage", "keyType", "keyIdentifier",
                  "keyDisplayName", "InitiatingIpAddress", "IPCustomEntity", "AccountCustomEntity"},
    # sign-in_adelete.csv was exported from a union with AuditLogs (its InitiatedBy and
    # AdditionalDetails columns are empty)
    "SigninLogs": {"TenantId", "Result", "Latitude", "Longitude", "InitiatedBy", "AdditionalDetails"},
    # the export is a union of CloudAppEvents with device and identity tables: their columns
    # are empty here, and UserAgent became UserAgent_string / UserAgent_dynamic (union of two
    # types), rawData is a copy of RawEventData, ISP is the older spelling of Isp
    "CloudAppEvents": {"UserAgent_string", "UserAgent_dynamic", "rawData", "ISP", "AccountDomain",
                       "AccountName", "AccountSid", "AccountUpn", "DestinationDeviceName",
                       "DestinationIPAddress", "DestinationPort", "DeviceName", "Location",
                       "Permissions", "PermissionsAddedTo", "Port", "Protocol", "TargetAccountDisplayName",
                       "TargetAccountUpn", "TargetDeviceName", "UserId", "spnID", "AppId"},
}

# Defender's enrichment of CloudAppEvents (geo-IP, device, the portal's activity model): not
# values of the audit record, documented as Defender's own on
# https://learn.microsoft.com/en-us/defender-xdr/advanced-hunting-cloudappevents-table
DEFENDER_ENRICHMENT = {
    "AccountObjectId": "Defender's account resolution (here the app's id, not a record field)",
    "AccountDisplayName": "Defender's account resolution",
    "ActivityType": "Defender's activity model (\"Run\")",
    "ActivityObjects": "Defender's activity model",
    "ObjectName": "Defender's activity model", "ObjectType": "Defender's activity model",
    "ReportId": "Defender's own event id",
    "AdditionalFields": "Defender's enrichment", "DeviceType": "Defender's enrichment",
    "OSPlatform": "Defender's enrichment", "CountryCode": "geo-IP enrichment",
    "City": "geo-IP enrichment", "IsAnonymousProxy": "IP enrichment",
    "IsAdminOperation": "Defender's classification",
}


def _rows(path: Path) -> list[dict[str, Any]]:
    with EventFile(path) as f:
        return [i.data for i in f if isinstance(i, Record)]


def _when(text: str) -> datetime | None:
    for fmt in ("%m/%d/%Y, %I:%M:%S.%f %p", "%m/%d/%Y, %I:%M:%S %p"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass
    try:
        d = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return d.astimezone(UTC).replace(tzinfo=None) if d.tzinfo else d


def _plain(value: Any, ctype: str | None) -> Any:
    """A cell without its export formatting: times as datetimes, JSON text parsed, numbers and
    booleans as text (CSV cells are text; Log Analytics' CSV writes TRUE / FALSE)."""
    if isinstance(value, str):
        text = value.strip()
        if ctype == "datetime" and (d := _when(text)) is not None:
            return d
        if text[:1] in "[{":
            try:
                return json.loads(text)
            except ValueError:
                return value
        if text.lower() in ("true", "false"):
            return text.lower()
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _header(column: str) -> str:
    return column.removesuffix(" [UTC]").removesuffix("_dynamic")


def compare(real: Mapping[str, Any], derived: Mapping[str, Any], columns: Mapping[str, str],
            table: str, skip: Mapping[str, str],
            compatible: Mapping[str, Callable[[Any, Any], bool]] | None = None) -> list[str]:
    """Problems, column by column. ``skip``: columns not derived (reason); ``compatible``:
    columns whose real and derived values differ in a documented, compatible way."""
    problems: list[str] = []
    compatible = compatible or {}
    export_only = EXPORT_ONLY.get(table, set())
    for key, value in real.items():
        column = key if key in export_only else _header(key)
        if key.endswith("_string") and key[:-7] in columns and key not in export_only:
            continue  # CSV: the _dynamic twin holds the value
        if column in export_only:
            if column in columns:
                problems.append(f"{column}: listed as export-only but is a column of {table}")
            continue
        if column not in columns:
            problems.append(f"{column}: in the real row, not a column of {table} in the schema")
            continue
        ctype = columns[column]
        want, got = _plain(value, ctype), _plain(derived.get(column), ctype)
        if column in skip:
            if want not in ("", None) and want == got:
                problems.append(f"{column}: now derived equal, remove it from the skip list ({skip[column]})")
            continue
        if column in compatible:
            if not compatible[column](value, derived.get(column)):
                problems.append(f"{column}: real {value!r}, derived {derived.get(column)!r} not compatible")
            continue
        if want in ("", None):
            ok = got == "" if ctype == "string" else column not in derived or derived[column] in (None, "")
            if not ok:
                problems.append(f"{column}: empty in the real row, derived {derived.get(column)!r}")
        elif want != got:
            problems.append(f"{column}: real {value!r}, derived {derived.get(column)!r}")
    for column in derived:
        if column not in columns:
            problems.append(f"{column}: derived but not a column of {table}")
    return problems


def _spellings(target: str, logsource: str, field: str) -> Callable[[Any, Any], bool]:
    """Both values are spellings of one source value in the data's value map (the compiled
    query accepts every spelling: ``RecordType in~ ("ExchangeItemAggregated", "50")``)."""
    form = load_target(target).logsource(logsource).fields[field]
    groups = [{s.lower() for s in (v if isinstance(v, list) else [v])} | {str(k).lower()}
              for k, v in form["values"].items()]
    return lambda real, ours: (str(real) == str(ours)
                               or any({str(real).lower(), str(ours).lower()} <= g for g in groups))


# ------------------------------------------------------------------------------ one record, two products
RAW_ROW = _rows(DATA / "otrf_Microsoft365DefenderEvents.cloudappevents.json")[0]
UAL_RECORD = RAW_ROW["RawEventData"]


def test_officeactivity_row_of_the_real_record_is_the_real_sentinel_row() -> None:
    real = _rows(DATA / "otrf_OfficeActivityEvents.json")[0]
    target = load_target("sentinel")
    columns = target.columns(target.logsource("m365_audit"))
    row = derive("sentinel", "m365_audit", UAL_RECORD).row
    skip = {**NOT_IN_THE_RECORD, **dict.fromkeys(EXPORTER_FLATTENED, "flattened by the exporter")}
    problems = compare(real, row, columns, "OfficeActivity", skip,
                       {"RecordType": _spellings("sentinel", "m365_audit", "RecordType")})
    assert problems == []
    # the columns the rules read, spelled as Sentinel spells them
    assert (row["Logon_Type"], row["UserType"], row["ExternalAccess"]) == ("Owner", "Regular", "False")
    assert row["Client_IPAddress"] == real["Client_IPAddress"] and row["OfficeId"] == real["OfficeId"]
    # what the NDJSON export leaves out is an empty string in our row, never a missing column
    assert row["Parameters"] == "" and row["ClientIP"] == "" and row["Item"] == ""


def test_officeactivity_differs_from_the_real_row_only_where_documented() -> None:
    """The OTRF NDJSON export omits empty cells (and InternalLogonType); every other column our
    row fills is in the real row."""
    real = _rows(DATA / "otrf_OfficeActivityEvents.json")[0]
    row = derive("sentinel", "m365_audit", UAL_RECORD).row
    extra = {c for c, v in row.items() if c not in real and v not in ("", None)}
    assert extra == {"InternalLogonType"}  # the training-lab CSV row has it ("0") for the same operation


def test_cloudappevents_row_of_the_real_record_is_the_real_defender_row() -> None:
    target = load_target("defender")
    columns = target.columns(target.logsource("m365_audit"))
    row = derive("defender", "m365_audit", UAL_RECORD).row
    assert compare(RAW_ROW, row, columns, "CloudAppEvents", DEFENDER_ENRICHMENT) == []
    assert row["RawEventData"] == UAL_RECORD
    assert (row["IPAddress"], row["Application"]) == ("1.2.3.4", "Microsoft Exchange Online")
    assert row["ApplicationId"] == 20893
    assert row["UserAgent"] == RAW_ROW["UserAgent_string"]  # the union export's name for UserAgent


def test_cloudappevents_address_has_no_port() -> None:
    """IPAddress is an address; the record's ClientIP keeps its port ([addr]:port in UAL)."""
    row = derive("defender", "m365_audit", {**UAL_RECORD, "ClientIPAddress": "",
                                            "ClientIP": "[2a01:110:8068:7::1f]:36185"}).row
    assert row["IPAddress"] == "2a01:110:8068:7::1f"


# ------------------------------------------------------------------------------ round trips
ROUND_TRIPS = [
    ("otrf_AADAuditEvents.json", "AuditLogs", {}),
    ("msticpy_aad_logons.head3.jsonl", "SigninLogs", {}),
    ("training_lab_disable_accounts.csv", "SigninLogs", {}),
    ("training_lab_office_activity.mailitemsaccessed.csv", "OfficeActivity",
     {"_ResourceId": "Log Analytics' own column (the Azure resource the data came through)",
      "TenantId": NOT_IN_THE_RECORD["TenantId"]}),
    ("training_lab_office_activity_inbox_rule.csv", "OfficeActivity",
     {"_ResourceId": "Log Analytics' own column (the Azure resource the data came through)"}),
    # every row of the lab's exports: 266 OfficeActivity rows (SharePoint, Teams, Exchange ...),
    # 56 SigninLogs rows, 5 AuditLogs rows
    (str(LAB / "office_activity.csv"), "OfficeActivity",
     {"_ResourceId": "Log Analytics' own column (the Azure resource the data came through)",
      "TenantId": NOT_IN_THE_RECORD["TenantId"]}),
    (str(LAB / "sign-in_adelete.csv"), "SigninLogs", {}),
    (str(LAB / "AuditLogs_Hunting.csv"), "AuditLogs", {}),
]


@pytest.mark.parametrize(("name", "table", "skip"), ROUND_TRIPS, ids=[Path(r[0]).name for r in ROUND_TRIPS])
def test_the_row_derived_from_a_converted_real_row_is_that_row(name: str, table: str,
                                                               skip: dict[str, str]) -> None:
    rows = _rows(DATA / name)
    assert rows
    for real in rows:
        shape = recognise_export(real)
        assert shape is not None and shape.table == table
        target = load_target(shape.target)
        columns = target.columns(target.logsource(shape.logsource))
        row = derive(shape.target, shape.logsource, to_source(real, shape)).row
        compatible = {"Type": _table_type(table)}
        if table == "OfficeActivity":  # Sentinel wrote RecordType 50 as "50" in 2021
            compatible["RecordType"] = _spellings("sentinel", "m365_audit", "RecordType")
        problems = compare(real, row, columns, table, skip, compatible)
        assert problems == [], real.get("Id") or real.get("OfficeId")


def _table_type(table: str) -> Callable[[Any, Any], bool]:
    """Type is the table name; the OTRF AuditLogs export query overwrote it on some rows with
    the target's type ('Application', 'ServicePrincipal'), which no table row holds."""
    return lambda real, ours: ours == table and real in (table, "Application", "ServicePrincipal")


def test_officeactivity_json_columns_are_json_text_and_addresses_keep_their_port() -> None:
    real = _rows(DATA / "training_lab_office_activity_inbox_rule.csv")[0]
    shape = recognise_export(real)
    assert shape is not None
    row = derive("sentinel", "m365_audit", to_source(real, shape)).row
    assert isinstance(row["Parameters"], str)
    assert json.loads(row["Parameters"]) == json.loads(real["Parameters"])
    assert row["ClientIP"] == real["ClientIP"] == "[2a01:110:8068:7:9bf8:aa87:e00a:5f1f]:36185"
    names = (row["RecordType"], row["UserType"])
    assert names == ("ExchangeAdmin", "Admin") == (real["RecordType"], real["UserType"])
    assert row["Client_IPAddress"] == row["Logon_Type"] == "" == real["Logon_Type"]


def test_a_listed_column_that_starts_to_agree_fails() -> None:
    columns = {"A": "string", "B": "string"}
    assert compare({"A": "x"}, {"A": "x"}, columns, "T", {"A": "why"}) == [
        "A: now derived equal, remove it from the skip list (why)"]
    assert compare({"B": ""}, {}, columns, "T", {}) == ["B: empty in the real row, derived None"]
    assert compare({"B": ""}, {"B": ""}, columns, "T", {}) == []

"""Record shapes per target (stormpack.shapes): derivation from the targets data, conversion of
SIEM export rows back to the source shape, and the target semantics the agreement test relies on."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from stormpack.compiler.targets import load_target
from stormpack.fixtures import load_fixture_dir
from stormpack.matcher import Engine, parse_timestamp
from stormpack.readers import EventFile, Record
from stormpack.ruleset import LoadedRule, load_ruleset, load_values
from stormpack.shapes import derive, splunk_event
from stormpack.shapes.agreement import target_rule
from stormpack.shapes.derive import filter_passes
from stormpack.shapes.inverse import export_shapes, normalise, recognise_export, to_source
from stormpack.shapes.kqlexpr import Uninterpretable, evaluate, parse_condition, parse_expr
from stormpack.shapes.source import get_path
from stormpack.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
CORPUS = FIXTURES / "corpus"

MAIL_READ: dict[str, Any] = {
    "CreationTime": "2023-06-14T02:41:07", "Id": "b1c2", "Operation": "MailItemsAccessed",
    "RecordType": 50, "UserType": 0, "LogonType": 0, "Workload": "Exchange",
    "ClientIPAddress": "[2001:db8::7]:443", "ClientIP": "203.0.113.5:50123", "ExternalAccess": False,
    "ClientInfoString": "Client=REST;Client=RESTSystem;;",
    "OperationProperties": [{"Name": "MailAccessType", "Value": "Bind"}],
    "Folders": [{"Path": "\\Inbox", "FolderItems": [{"InternetMessageId": "<a@b>"}]}],
    "Item": {"Subject": "budget"}, "AppAccessContext": {"ClientAppId": "c0ffee"},
}
SIGN_IN: dict[str, Any] = {
    "time": "2023-06-14T02:41:07.1234567Z", "category": "NonInteractiveUserSignInLogs", "resultType": "0",
    "callerIpAddress": "68.168.210.181",
    "properties": {"id": "s1", "ipAddress": "68.168.210.181", "isInteractive": False,
                   "status": {"errorCode": 0}, "tokenIssuerType": "AzureAD",
                   "deviceDetail": {"browser": "Edge 106", "isCompliant": True},
                   "riskEventTypes_v2": ["anomalousToken"]},
}


def _probe_text(n: int, detection: str) -> str:
    """The text of probe rule ``n`` (its own id) on the M365 audit log with ``detection``."""
    return ("title: Probe\n"
            f"id: 0b7a8f4e-1f0c-4a3e-9d55-2b1f8c3e6a0{n}\n"
            "logsource: {product: m365, service: audit}\n"
            "detection:\n" + detection)


def _rule(tmp_path: Path, body: str) -> LoadedRule:
    path = tmp_path / "probe.yml"
    path.write_text(body, encoding="utf-8")
    return next(iter(load_ruleset([path])))


def _probe_engine(tmp_path: Path) -> Engine:
    """The matcher's engine of the probe rule written by :func:`_rule`."""
    return Engine.build(load_ruleset([tmp_path / "probe.yml"]), {})


# ------------------------------------------------------------------------------ derivation
def test_officeactivity_row_renames_names_and_json_columns() -> None:
    row = derive("sentinel", "m365_audit", MAIL_READ).row
    assert row["Client_IPAddress"] == "[2001:db8::7]:443" and "ClientIPAddress" not in row
    assert row["ClientIP"] == "203.0.113.5:50123"  # the port is kept, as Sentinel stores it
    names = (row["RecordType"], row["UserType"], row["Logon_Type"])
    assert names == ("ExchangeItemAggregated", "Regular", "Owner")
    assert row["OfficeId"] == "b1c2" and row["OfficeWorkload"] == "Exchange"
    assert row["TimeGenerated"] == "2023-06-14T02:41:07Z"
    assert row["ExternalAccess"] == "False"
    assert json.loads(row["OperationProperties"]) == MAIL_READ["OperationProperties"]
    assert json.loads(row["Folders"]) == MAIL_READ["Folders"] and json.loads(row["Item"]) == MAIL_READ["Item"]
    assert row["Type"] == "OfficeActivity"
    assert "AppAccessContext" not in row  # OfficeActivity has no such column


def test_a_value_the_map_lacks_keeps_its_number_as_text() -> None:
    assert derive("sentinel", "m365_audit", {**MAIL_READ, "RecordType": 999}).row["RecordType"] == "999"


def test_cloudappevents_row_carries_the_record_as_raw_event_data() -> None:
    row = derive("defender", "m365_audit", MAIL_READ).row
    assert row["RawEventData"] == MAIL_READ and row["RawEventData"] is not MAIL_READ
    assert (row["ActionType"], row["Timestamp"]) == ("MailItemsAccessed", "2023-06-14T02:41:07Z")


def test_splunk_event_is_what_spath_extracts() -> None:
    ev = splunk_event({**MAIL_READ, "Parameters": [{"Name": "A", "Value": "1"}, {"Name": "B", "Value": None}],
                       "Empty": None})
    assert ev["Parameters{}.Name"] == ["A", "B"] and ev["Parameters{}.Value"] == "1"
    assert ev["Folders{}.FolderItems{}.InternetMessageId"] == "<a@b>"
    assert ev["AppAccessContext.ClientAppId"] == "c0ffee"
    assert (ev["RecordType"], ev["ExternalAccess"]) == ("50", "false")
    assert "Empty" not in ev


def test_device_detail_is_an_object_in_signinlogs_and_text_in_the_non_interactive_table() -> None:
    interactive = derive("sentinel", "azure_signinlogs", {**SIGN_IN, "category": "SignInLogs"}).row
    non_interactive = derive("sentinel", "azure_noninteractivesigninlogs", SIGN_IN).row
    assert interactive["DeviceDetail"] == SIGN_IN["properties"]["deviceDetail"]
    assert json.loads(non_interactive["DeviceDetail"]) == SIGN_IN["properties"]["deviceDetail"]
    assert non_interactive["Type"] == "AADNonInteractiveUserSignInLogs"
    assert non_interactive["IsInteractive"] is False


def test_entra_sign_in_events_rows_satisfy_the_data_expressions_and_filter() -> None:
    target = load_target("defender")
    row = derive("defender", "azure_noninteractivesigninlogs", SIGN_IN).row
    assert filter_passes(target.logsources["azure_noninteractivesigninlogs"], row)
    assert not filter_passes(target.logsources["azure_signinlogs"], row)
    form = target.logsources["azure_signinlogs"].fields["properties.isInteractive"]
    is_interactive = parse_expr(str(form["expr"]))
    assert evaluate(is_interactive, row) == "false"
    assert (row["IsCompliant"], row["ErrorCode"], row["TokenIssuerType"]) == (1, 0, 0)


# ------------------------------------------------------------------------------ kql interpreter
def test_has_matches_whole_terms_only() -> None:
    row = {"LogonType": '["nonInteractiveUser"]'}
    assert evaluate(parse_condition('LogonType has "nonInteractiveUser"'), row) is True
    assert evaluate(parse_condition('LogonType has "interactiveUser"'), row) is False


def test_an_expression_outside_the_grammar_is_named() -> None:
    with pytest.raises(Uninterpretable, match="strcat"):
        parse_expr("strcat(a, b)")


# ------------------------------------------------------------------------------ target -> source
def _fixture_records() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for folder in sorted(p for p in FIXTURES.iterdir() if p.is_dir() and p.name not in ("corpus", "values")):
        for case in load_fixture_dir(folder):
            out.extend(ev.record for ev in case.events)
    return out


RECORDS = _fixture_records()


def test_no_raw_fixture_record_is_mistaken_for_an_export() -> None:
    assert RECORDS
    assert [r for r in RECORDS if recognise_export(r) is not None] == []


def test_derived_rows_convert_back_to_their_source_values() -> None:
    tax = load_taxonomy()
    checked = 0
    for shape in export_shapes():
        for record in RECORDS:
            spec = tax.classify(record)
            if spec is None or spec.key != shape.logsource:
                continue
            row = derive(shape.target, shape.logsource, record).row
            assert recognise_export(row) == shape
            back = to_source(row, shape)
            assert tax.classify(back) == spec
            for form in shape.forms:
                if form.kind not in ("column", "container"):
                    continue
                want, got = get_path(record, form.source), get_path(back, form.source)
                if want is None or want == "":
                    continue  # documented loss: an export cannot tell null, "" and missing apart
                field = spec.field(form.field)
                if field is not None and field.type == "datetime":
                    assert parse_timestamp(str(got)) == parse_timestamp(str(want)), (shape.name, form)
                elif field is not None and field.type == "int":  # Sysmon's "443" is the column's 443
                    assert str(got) == str(want), (shape.name, form.field, record)
                else:
                    assert got == want, (shape.name, form.field, record)
                checked += 1
    assert checked > 500


def _rows(path: Path) -> list[dict[str, Any]]:
    """Every record of an export file, read by the hunt's reader (none may be rejected)."""
    with EventFile(path) as f:
        items = list(f)
    assert all(isinstance(i, Record) for i in items)
    return [i.data for i in items if isinstance(i, Record)]


def test_a_sentinel_officeactivity_export_is_judged_on_source_field_names() -> None:
    """Before conversion the rules on UserType / LogonType / ClientIPAddress miss the row."""
    engine = Engine.build(load_ruleset([ROOT / "rules"]), load_values(ROOT / "values"))
    rows = {i: r for i, r in enumerate(_rows(CORPUS / "azure-sentinel-training-lab" / "office_activity.csv"))}
    rest_rule = "m365_audit_rest_system_client_string_under_delegated_owner_logon"
    assert rest_rule not in {r.loaded.stem for r in engine.matching_rules(rows[2])}
    record, shape = normalise(rows[2])
    assert shape is not None and shape.name == "Microsoft Sentinel OfficeActivity"
    assert (record["UserType"], record["LogonType"], record["RecordType"]) == (0, 0, 50)
    assert record["ClientIPAddress"] == "2603:10b6:5:345::11"
    assert record["OperationProperties"][0] == {"Value": "Bind", "Name": "MailAccessType"}
    assert rest_rule in {r.loaded.stem for r in engine.matching_rules(record)}


def test_log_analytics_csv_times_and_dynamic_columns_come_back() -> None:
    row = _rows(CORPUS / "azure-sentinel-training-lab" / "sign-in_adelete.csv")[0]
    record, shape = normalise(row)
    assert shape is not None and shape.logsource == "azure_signinlogs"
    assert record["properties"]["createdDateTime"] == "2021-04-28T14:08:45.221000Z"
    assert record["properties"]["deviceDetail"]["browser"] == "Edge 90.0.818"
    assert record["category"] == "SignInLogs"


def test_a_cloudappevents_row_is_its_raw_event_data() -> None:
    rows = _rows(CORPUS / "otrf-security-datasets" / "Microsoft365DefenderEvents.json")
    converted = [(r, normalise(r)) for r in rows]
    apps = [(r, rec) for r, (rec, shape) in converted if shape is not None]
    assert len(apps) == 1 and apps[0][1] == apps[0][0]["RawEventData"]
    assert all(rec is r for r, (rec, shape) in converted if shape is None)


def test_a_rule_reading_a_field_the_table_lacks_is_not_admitted() -> None:
    rules = {lr.stem: lr for lr in load_ruleset([ROOT / "rules" / "m365"])}
    office = next(s for s in export_shapes() if s.table == "OfficeActivity")
    cloud = next(s for s in export_shapes() if s.table == "CloudAppEvents")
    no_token = rules["m365_audit_delegated_mailbox_access_without_entra_token_id"].rule
    assert not office.admits(no_token) and cloud.admits(no_token)
    assert office.admits(rules["m365_audit_rest_system_client_string_under_delegated_owner_logon"].rule)


# ------------------------------------------------------------------------------ documented differences
def test_kusto_treats_an_empty_string_as_null(tmp_path: Path) -> None:
    lr = _rule(tmp_path, _probe_text(1, """\
  sel:
    Operation: MailItemsAccessed
    AppAccessContext.UniqueTokenId: null
  condition: sel
"""))
    record = {**MAIL_READ, "AppAccessContext": {"UniqueTokenId": ""}}
    engine = _probe_engine(tmp_path)
    assert engine.matching_rules(record) == []  # Sigma: "" is a value
    assert target_rule(lr, "defender", {}).verdict(record) is True  # KQL: isempty("")


def test_splunk_name_value_positions_drift_when_an_element_has_no_value(tmp_path: Path) -> None:
    lr = _rule(tmp_path, _probe_text(2, """\
  sel:
    Operation: New-InboxRule
    Parameters.ForwardTo: x@evil.example
  condition: sel
"""))
    record = {"CreationTime": "2023-06-14T02:41:07", "Operation": "New-InboxRule", "RecordType": 1,
              "Parameters": [{"Name": "Force"}, {"Name": "ForwardTo", "Value": "x@evil.example"}]}
    engine = _probe_engine(tmp_path)
    assert [r.loaded.title for r in engine.matching_rules(record)] == ["Probe"]
    assert target_rule(lr, "splunk", {}).verdict(record) is False
    assert target_rule(lr, "sentinel", {}).verdict(record) is True


def test_a_rule_on_a_data_form_the_interpreter_cannot_read_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stormpack.shapes import agreement

    real = load_target("sentinel")
    lt = real.logsources["m365_audit"]
    odd = {**lt.fields, "Item.Subject": {"expr": "strcat(parse_json(Item).Subject, 'x')", "type": "string"}}
    fake = dataclasses.replace(real, logsources={**real.logsources,
                                                 "m365_audit": dataclasses.replace(lt, fields=odd)})
    monkeypatch.setattr(agreement, "load_target", lambda name: fake)
    lr = _rule(tmp_path, _probe_text(3, """\
  sel:
    Item.Subject: budget
  condition: sel
"""))
    with pytest.raises(Uninterpretable, match=r"Item\.Subject.*strcat"):
        target_rule(lr, "sentinel", {})


# ------------------------------------------------------------------------------ Kusto has no null strings
_PARAM_RULE = _probe_text(4, """\
  sel:
    Operation: Add-MailboxPermission
  cleared:
    Parameters.User: ''
  condition: sel and not cleared
""")


def _permission(params: list[dict[str, Any]]) -> dict[str, Any]:
    return {"CreationTime": "2023-06-14T02:41:07", "Operation": "Add-MailboxPermission", "RecordType": 1,
            "Parameters": params}


@pytest.mark.parametrize("target", ["sentinel", "defender"])
def test_a_kql_alias_of_a_missing_element_is_an_empty_string(tmp_path: Path, target: str) -> None:
    """tostring(bag["User"]) is "" when the bag lacks the key: the row holds "", not nothing."""
    tr = target_rule(_rule(tmp_path, _PARAM_RULE), target, {})
    row = tr.row(_permission([{"Name": "Identity", "Value": "x"}]))
    assert row["Parameters_User"] == ""


@pytest.mark.parametrize("target", ["sentinel", "defender", "splunk"])
@pytest.mark.parametrize(("params", "fires"), [
    ([{"Name": "Identity", "Value": "x"}], True),                      # parameter missing
    ([{"Name": "User", "Value": ""}], False),                          # present and empty
    ([{"Name": "User", "Value": "eve@contoso.example"}], True),        # present
], ids=["missing", "present-and-empty", "present"])
def test_an_empty_value_filter_is_present_and_empty_on_every_target(
    tmp_path: Path, target: str, params: list[dict[str, Any]], fires: bool
) -> None:
    """Regression (issue 9): `Parameters.X: ''` must not drop the records that lack X. With the
    alias "" (as Kusto holds it) the old `not(X =~ "")` rendering would drop them; the compiled
    `(bag_has_key(bag, "X") and X == "")` keeps them, and the agreement reads '' that way."""
    lr = _rule(tmp_path, _PARAM_RULE)
    record = _permission(params)
    engine = _probe_engine(tmp_path)
    assert bool(engine.matching_rules(record)) is fires
    assert target_rule(lr, target, {}).verdict(record) is fires


def test_kusto_compares_a_column_the_record_lacks_as_empty(tmp_path: Path) -> None:
    """A string column the record does not fill is "" in the table, so `ClientAppId =~ ""` holds
    on it (Sigma: a missing field is not ''); the derived row says so."""
    lr = _rule(tmp_path, _probe_text(5, """\
  sel:
    Operation: MailItemsAccessed
    ClientAppId: ''
  condition: sel
"""))
    record = {k: v for k, v in MAIL_READ.items() if k != "ClientAppId"}
    assert derive("sentinel", "m365_audit", record).row["ClientAppId"] == ""
    engine = _probe_engine(tmp_path)
    assert engine.matching_rules(record) == []
    assert target_rule(lr, "sentinel", {}).verdict(record) is True


# ------------------------------------------------------------------------------ product-filled columns
def test_a_ual_key_naming_an_officeactivity_column_fills_it_and_others_are_not_columns() -> None:
    row = derive("sentinel", "m365_audit", {**MAIL_READ, "ClientMachineName": "WS01", "Version": 1,
                                            "OperationCount": 7}).row
    assert row["ClientMachineName"] == "WS01"  # same-name rule (no taxonomy field maps it)
    assert "Version" not in row and "OperationCount" not in row  # not columns of OfficeActivity
    assert row["SourceRecordId"] == row["OfficeId"] == "b1c2"
    assert row["SourceSystem"] == "OfficeActivityManager"


def test_entra_properties_fill_the_capitalised_column() -> None:
    record = {**SIGN_IN, "category": "SignInLogs",
              "properties": {**SIGN_IN["properties"], "riskDetail": "none", "mfaDetail": {"authMethod": "x"}}}
    row = derive("sentinel", "azure_signinlogs", record).row
    assert row["RiskDetail"] == "none" and row["MfaDetail"] == {"authMethod": "x"}  # MfaDetail is dynamic
    non_interactive = derive("sentinel", "azure_noninteractivesigninlogs", record).row
    assert json.loads(non_interactive["MfaDetail"]) == {"authMethod": "x"}  # a string column there


@pytest.mark.parametrize(("text", "message"), [
    ("tables: {T: {columns: {C: {from: a, value: b}}}}", "T.C: needs exactly one of from / address / value"),
    ("tables: {T: {columns: {C: {address: a}}}}", "T.C: address must be a list"),
    ("tables: {T: {same_name: yes please}}", "T.same_name must be true or 'properties'"),
    ("nothing: here", "no 'tables' mapping"),
])
def test_a_malformed_native_entry_is_an_error_naming_it(text: str, message: str) -> None:
    from stormpack.errors import StormpackError
    from stormpack.shapes.native import parse_native

    with pytest.raises(StormpackError, match="shapes/native.yml") as info:
        parse_native(text)
    assert message in str(info.value)

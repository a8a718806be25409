"""The KQL checker's schema is exported from the Kusto backend's own table data (no node here)."""

from __future__ import annotations

import json
import re

import pytest
from sigma.pipelines.azuremonitor.tables import AZURE_MONITOR_TABLES
from sigma.pipelines.microsoftxdr.tables import MICROSOFT_XDR_TABLES

from stormpack.errors import StormpackError
from stormpack.querycheck import SchemaExportError, kql_schema
from stormpack.querycheck.schema import (
    TYPE_MAP,
    WATCHLIST_FUNCTION,
    clean_column_name,
    convert_tables,
    main,
)

KUSTO_TYPES = {"string", "int", "long", "real", "bool", "datetime", "dynamic", "guid", "timespan", "decimal"}
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@pytest.mark.parametrize(
    ("target", "backend"), [("sentinel", AZURE_MONITOR_TABLES), ("defender", MICROSOFT_XDR_TABLES)]
)
def test_every_backend_table_and_column_is_exported(target: str, backend: dict) -> None:  # type: ignore[type-arg]
    schema = kql_schema("sentinel" if target == "sentinel" else "defender")
    assert set(backend) <= set(schema.tables)
    for table, columns in backend.items():
        exported = schema.tables[table]
        for raw, spec in columns.items():
            name = clean_column_name(table, raw)
            assert exported[name] == TYPE_MAP[spec["data_type"]]
        assert len(exported) == len({clean_column_name(table, raw) for raw in columns})


@pytest.mark.parametrize("target", ["sentinel", "defender"])
def test_exported_names_and_types_are_valid_kusto(target: str) -> None:
    schema = kql_schema("sentinel" if target == "sentinel" else "defender")
    for table, columns in schema.tables.items():
        assert IDENTIFIER.fullmatch(table)
        for column, kusto_type in columns.items():
            assert IDENTIFIER.fullmatch(column), (table, column)
            assert kusto_type in KUSTO_TYPES, (table, column, kusto_type)


def test_the_packs_sentinel_columns_have_their_real_types() -> None:
    tables = kql_schema("sentinel").tables
    assert tables["OfficeActivity"]["Client_IPAddress"] == "string"
    assert tables["OfficeActivity"]["OfficeWorkload"] == "string"
    assert tables["OfficeActivity"]["RecordType"] == "string"  # names, not the UAL ints
    assert tables["OfficeActivity"]["Parameters"] == "string"  # a JSON string
    assert tables["SigninLogs"]["ResultType"] == "string"
    assert tables["SigninLogs"]["DeviceDetail"] == "dynamic"
    assert tables["AADNonInteractiveUserSignInLogs"]["DeviceDetail"] == "string"
    assert tables["AuditLogs"]["TargetResources"] == "dynamic"


def test_entraid_signin_events_is_the_renamed_beta_table() -> None:
    tables = kql_schema("defender").tables
    assert tables["EntraIdSignInEvents"] == tables["AADSignInEventsBeta"]
    assert tables["EntraIdSignInEvents"]["AccountUpn"] == "string"
    assert "EntraIdSignInEvents" not in kql_schema("sentinel").tables


def test_scraped_footnote_markers_are_removed_from_column_names() -> None:
    raw = [c for c in MICROSOFT_XDR_TABLES["IdentityInfo"] if "`" in c]
    assert raw, "the backend data no longer carries footnote markers; drop clean_column_name's special case"
    exported = kql_schema("defender").tables["IdentityInfo"]
    for column in raw:
        assert column.split("`")[0] in exported
    assert " InitiatingProcessVersionInfoInternalFileName" in MICROSOFT_XDR_TABLES["DeviceEvents"]
    assert "InitiatingProcessVersionInfoInternalFileName" in kql_schema("defender").tables["DeviceEvents"]


def test_watchlist_function_is_declared_for_sentinel_only() -> None:
    assert kql_schema("sentinel").functions == (WATCHLIST_FUNCTION,)
    assert kql_schema("defender").functions == ()
    request = kql_schema("sentinel").to_request()
    assert request["functions"] == {
        "_GetWatchlist": {
            "parameters": "(alias:string)",
            "body": WATCHLIST_FUNCTION.body,
            "description": WATCHLIST_FUNCTION.description,
        }
    }


def test_unknown_backend_type_is_an_error_naming_table_and_column() -> None:
    with pytest.raises(SchemaExportError, match=r"'Tbl\.Col' has data_type 'Decimal128'") as exc:
        convert_tables("test", {"Tbl": {"Col": {"data_type": "Decimal128", "description": ""}}})
    assert isinstance(exc.value, StormpackError)


def test_conflicting_duplicate_column_is_an_error() -> None:
    with pytest.raises(SchemaExportError, match="lists column 'A' twice"):
        convert_tables(
            "test", {"T": {"A": {"data_type": "string"}, " A": {"data_type": "long"}}}
        )


def test_column_that_is_not_an_identifier_is_an_error() -> None:
    with pytest.raises(SchemaExportError, match="not a Kusto identifier"):
        clean_column_name("T", "has space")


def test_unknown_target_is_an_error() -> None:
    with pytest.raises(SchemaExportError, match="unknown KQL target"):
        kql_schema("splunk")  # type: ignore[arg-type]


def test_schema_export_command_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["defender"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"]["EntraIdSignInEvents"] == kql_schema("defender").tables["EntraIdSignInEvents"]
    assert main(["nope"]) == 2
    assert "usage" in capsys.readouterr().err

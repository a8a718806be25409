"""The target data is right: every mapped column exists in the Kusto backend's table schema with the
declared type, every taxonomy field is mapped or explicitly unavailable, aliases never shadow a
real column, and Sentinel's value spellings agree with a real Sentinel export."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from stormpack.compiler.pipeline_gen import field_table
from stormpack.compiler.schema import table_columns
from stormpack.compiler.targets import TARGETS, FieldRef, load_target
from stormpack.taxonomy import load_taxonomy

KQL_TARGETS = [t for t in TARGETS if load_target(t).is_kql]
DATA = Path(__file__).parent / "data" / "compile"


# Kusto column types a taxonomy type may be read from (text columns only with a conversion)
COMPATIBLE = {
    "string": {"string"},
    "int": {"int", "long"},
    "bool": {"bool", "string"},
    "ip": {"string"},
    "datetime": {"datetime"},
}


@pytest.mark.parametrize("target", KQL_TARGETS)
def test_every_mapped_column_exists_with_a_compatible_type(target: str) -> None:
    spec = load_target(target)
    checked = 0
    for key, row in field_table(target).items():
        lt = spec.logsources[key]
        if lt.unsupported:
            continue
        columns = table_columns(spec.schema or "", lt.schema_table or lt.table or "")
        assert lt.time in columns and columns[lt.time] == "datetime"
        for fname, ref in row.items():
            if not isinstance(ref, FieldRef) or ref.kind != "column":
                continue
            assert ref.name in columns, f"{target} {key}.{fname} -> {ref.name}"
            kusto_type = columns[ref.name]
            ok = kusto_type in COMPATIBLE[ref.taxonomy_type] or (
                kusto_type == "string" and ref.taxonomy_type == "int" and (ref.as_string or ref.values)
            )
            assert ok, f"{target} {key}.{fname} ({ref.taxonomy_type}) -> {ref.name} ({kusto_type})"
            checked += 1
    # adx reads every field from the raw record (raw_root): its only columns are the time ones
    assert checked > (3 if spec.name == "adx" else 20)


@pytest.mark.parametrize("target", TARGETS)
def test_every_taxonomy_field_is_mapped_or_explicitly_unavailable(target: str) -> None:
    spec = load_target(target)
    tax = load_taxonomy()
    for key, ls in tax.logsources.items():
        lt = spec.logsources.get(key)
        assert lt is not None, f"{target}: no entry for log source {key}"
        if lt.unsupported:
            continue
        row = field_table(target)[key]
        for fname in ls.fields:
            ref = row[fname]
            if isinstance(ref, str):  # unavailable: must be an explicit decision with a reason
                raw = lt.fields.get(fname)
                assert isinstance(raw, dict) and raw.get("unsupported"), f"{target} {key}.{fname}: {ref}"
        for pat in ls.patterns:
            assert pat.name in lt.fields, f"{target} {key}: no name/value mapping for {pat.name}"


@pytest.mark.parametrize("target", KQL_TARGETS)
def test_aliases_never_shadow_a_real_column(target: str) -> None:
    spec = load_target(target)
    for key, row in field_table(target).items():
        lt = spec.logsources[key]
        if lt.unsupported:
            continue
        columns = table_columns(spec.schema or "", lt.schema_table or lt.table or "")
        for ref in row.values():
            if isinstance(ref, FieldRef) and ref.kind != "column":
                assert ref.name not in columns, f"{target} {key}: alias {ref.name} is a column"


def test_defender_sign_in_schema_is_the_beta_table() -> None:
    spec = load_target("defender")
    for key in ("azure_signinlogs", "azure_noninteractivesigninlogs"):
        lt = spec.logsources[key]
        assert (lt.table, lt.schema_table) == ("EntraIdSignInEvents", "AADSignInEventsBeta")


def test_sentinel_type_traps() -> None:
    cols = table_columns("azure_monitor", "SigninLogs")
    non = table_columns("azure_monitor", "AADNonInteractiveUserSignInLogs")
    assert (
        cols["ResultType"] == "string"
        and cols["DeviceDetail"] == "dynamic"
        and non["DeviceDetail"] == "string"
    )
    row = field_table("sentinel")
    sig = row["azure_signinlogs"]["properties.deviceDetail.operatingSystem"]
    nsig = row["azure_noninteractivesigninlogs"]["properties.deviceDetail.operatingSystem"]
    assert isinstance(sig, FieldRef) and "parse_json" not in sig.source
    assert isinstance(nsig, FieldRef) and "parse_json(DeviceDetail)" in nsig.source
    err = row["azure_signinlogs"]["properties.status.errorCode"]
    assert isinstance(err, FieldRef) and err.name == "ResultType" and err.as_string


def test_sentinel_value_spellings_match_a_real_export() -> None:
    """Every RecordType / UserType / Logon_Type value in a real OfficeActivity export (see
    tests/data/compile/PROVENANCE.md) is one of the spellings our map produces."""
    row = field_table("sentinel")["m365_audit"]
    spellings = {}
    for fname in ("RecordType", "UserType", "LogonType"):
        ref = row[fname]
        assert isinstance(ref, FieldRef)
        spellings[ref.name] = {s for v in ref.values.values() for s in v}
    with (DATA / "office_activity_sample.csv").open(encoding="utf-8", newline="") as fh:
        records = list(csv.DictReader(fh))
    assert len(records) >= 5
    exchange = [r for r in records if r["OfficeWorkload"] == "Exchange"]
    assert exchange
    for r in exchange:
        for col, allowed in spellings.items():
            if r[col]:
                assert r[col] in allowed, f"{col}={r[col]!r} not produced by the value map"

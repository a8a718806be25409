"""Entra ID Protection risk detections in every shape the hunt reads: Microsoft's documented Graph
riskDetection example (tests/data/exports/graph_riskdetections_v1_page.json, CC-BY-4.0), the same
object as PowerShell writes it (PascalCase), the diagnostic-settings record of category
UserRiskEvents (Event Hub batch) and a Sentinel AADUserRiskEvents row, all brought to the one
shape the azure/riskdetection rules read (docs/hunt-exports.md, "Graph riskDetection")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hunt_support import hunt_file, pack_engine
from stormpack.compiler.targets import load_target
from stormpack.matcher import Engine
from stormpack.readers import Record, read_events
from stormpack.readers.exports import SourceShapes
from stormpack.readers.graph import from_graph
from stormpack.shapes.derive import derive_kql
from stormpack.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "tests" / "data" / "exports" / "graph_riskdetections_v1_page.json"
RULES = ROOT / "rules" / "azure" / "riskdetection"
POSITIVE = (ROOT / "fixtures" / "azure_riskdetection_token_issuer_anomaly_risk_detection"
            / "positive_offline_detection_open.yml")
ANOMALOUS = "Anomalous Token Risk Detection"
ISSUER = "Token Issuer Anomaly Risk Detection"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return pack_engine(RULES, ROOT / "values")


def _documented() -> dict[str, Any]:
    page = json.loads(PAGE.read_text(encoding="utf-8"))
    obj = page["value"][0]
    assert isinstance(obj, dict)
    return obj


def _pascal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k if k.startswith("@") else k[:1].upper() + k[1:]: _pascal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pascal(v) for v in value]
    return value


def test_documented_graph_page_becomes_the_diagnostic_record(engine: Engine) -> None:
    items = [i for i in read_events(PAGE) if isinstance(i, Record)]
    assert len(items) == 1
    rec, shape = SourceShapes()(items[0].data)
    assert shape.name == "Microsoft Graph riskDetection"
    assert rec["category"] == "UserRiskEvents" and rec["operationName"] == "User Risk Detection"
    assert rec["time"] == "2018-09-05T00:11:27.773602Z"  # lastUpdatedDateTime, not the activity
    assert rec["correlationId"] == rec["properties"]["id"] == "6a5874ca-abcd-9d82-5ad39bd71600"
    assert rec["identity"] == "Olivia Lack" and rec["callerIpAddress"] == "123.456.7.89"
    assert "@odata.type" not in rec["properties"]
    assert rec["properties"]["riskEventType"] == "unfamiliarFeatures"
    assert load_taxonomy().classify(rec) is load_taxonomy().logsources["azure_riskdetection"]
    sink, stats = hunt_file(engine, PAGE)  # a remediated unfamiliarFeatures detection: no rule's
    assert stats.converted == {"Microsoft Graph riskDetection": 1}
    assert stats.evaluated == stats.read == 1 and sink.titles == []


@pytest.mark.parametrize(("state", "fires"), [("atRisk", True), ("dismissed", False)])
def test_anomalous_token_written_into_the_documented_export(tmp_path: Path, engine: Engine,
                                                            state: str, fires: bool) -> None:
    text = PAGE.read_text(encoding="utf-8")
    out = tmp_path / PAGE.name
    out.write_text(text.replace('"unfamiliarFeatures"', '"anomalousToken"')
                   .replace('"remediated"', f'"{state}"'), encoding="utf-8")
    sink, _ = hunt_file(engine, out)
    assert sink.titles == ([ANOMALOUS] if fires else [])


def test_pascal_case_powershell_object_converts_like_camel_case() -> None:
    obj = _documented()
    pascal = _pascal(obj)
    pascal["IPAddress"] = pascal.pop("IpAddress")  # Get-MgRiskDetection's spelling (-IPAddress)
    camel, got = from_graph(obj), from_graph(pascal)
    assert camel is not None and got is not None
    assert got[1] == "Microsoft Graph riskDetection (PascalCase)"
    assert got[0] == camel[0]


def test_pascal_case_object_is_not_taken_for_a_sentinel_row(tmp_path: Path, engine: Engine) -> None:
    """Get-MgRiskDetection objects carry the AADUserRiskEvents column names (RiskEventType,
    DetectionTimingType...) but no TimeGenerated, and PascalCase nested keys (Location.City)."""
    pascal = _pascal(dict(_documented(), riskEventType="tokenIssuerAnomaly", riskState="atRisk"))
    pascal["IPAddress"] = pascal.pop("IpAddress")
    out = tmp_path / "Get-MgRiskDetection.json"
    out.write_text(json.dumps([pascal]), encoding="utf-8")
    sink, stats = hunt_file(engine, out)
    assert stats.converted == {"Microsoft Graph riskDetection (PascalCase)": 1}
    assert sink.titles == [ISSUER]
    props = sink.records[0].data["properties"]
    assert props["ipAddress"] == "123.456.7.89" and props["location"]["countryOrRegion"] == "US"


def test_event_hub_batch_of_user_risk_events_is_read_as_is(tmp_path: Path, engine: Engine) -> None:
    record = yaml.safe_load(POSITIVE.read_text(encoding="utf-8"))["events"][0]
    out = tmp_path / "userriskevents.json"
    out.write_text(json.dumps({"records": [record]}), encoding="utf-8")
    sink, stats = hunt_file(engine, out)
    assert sink.titles == [ISSUER] and stats.converted == {}


def test_sentinel_aaduserriskevents_row_comes_back_and_fires(tmp_path: Path, engine: Engine) -> None:
    record = yaml.safe_load(POSITIVE.read_text(encoding="utf-8"))["events"][0]
    row = derive_kql(load_target("sentinel"), "azure_riskdetection", record).row
    assert row["Type"] == "AADUserRiskEvents" and row["RiskEventType"] == "tokenIssuerAnomaly"
    assert row["TimeGenerated"] == "2023-06-15T23:14:02Z"
    out = tmp_path / "AADUserRiskEvents.json"
    out.write_text(json.dumps([row]), encoding="utf-8")
    sink, stats = hunt_file(engine, out)
    assert stats.converted == {"Microsoft Sentinel AADUserRiskEvents": 1}
    assert sink.titles == [ISSUER]
    back = sink.records[0].data
    assert back["category"] == "UserRiskEvents"
    assert back["properties"]["userPrincipalName"] == "alice@contoso.onmicrosoft.com"
    assert back["properties"]["location"]["countryOrRegion"] == "US"

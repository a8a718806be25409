"""Defender XDR custom detections: Microsoft Graph detectionRule shape, allowed values, valid KQL."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from sigma.pipelines.microsoftxdr.tables import MICROSOFT_XDR_TABLES

from artifacts_support import TEST_RULES, TEST_VALUES, attribute_refusal
from stormpack.artifacts import build_pack, settings
from stormpack.artifacts.build import collect_metas
from stormpack.artifacts.defender import DefenderRule, problems
from stormpack.compiler import compile_rules
from stormpack.errors import Location
from stormpack.querycheck import check_kql
from stormpack.ruleset import load_ruleset, load_values

ROOT = Path(__file__).resolve().parents[1]
PACK_RULES = ROOT / "rules"
PACK_VALUES = ROOT / "values"

# Graph documents these (ruleSchedule.period, alertTemplate.severity, impactedUserAsset.identifier)
ALLOWED_PERIODS = {"0", "1H", "3H", "12H", "24H"}
ALLOWED_SEVERITIES = {"informational", "low", "medium", "high"}
ALLOWED_USER_IDENTIFIERS = {"accountObjectId", "accountSid", "accountUpn", "accountName", "accountDomain",
                            "servicePrincipalId", "targetAccountUpn"}
ALLOWED_DEVICE_IDENTIFIERS = {"deviceId", "deviceName"}
# advanced-hunting tables a custom detection of this pack may run on; the schema knows
# EntraIdSignInEvents under its former name
DETECTION_TABLES = {"CloudAppEvents": "CloudAppEvents", "EntraIdSignInEvents": "AADSignInEventsBeta",
                    "DeviceProcessEvents": "DeviceProcessEvents",
                    "DeviceImageLoadEvents": "DeviceImageLoadEvents", "DeviceFileEvents": "DeviceFileEvents",
                    "DeviceRegistryEvents": "DeviceRegistryEvents",
                    "DeviceNetworkEvents": "DeviceNetworkEvents"}
# the impacted asset of a custom detection: the user on the cloud tables, the device on the
# Defender for Endpoint tables (Graph impactedUserAsset / impactedDeviceAsset)
ASSET = {"CloudAppEvents": ("impactedUserAsset", "AccountObjectId"),
         "EntraIdSignInEvents": ("impactedUserAsset", "AccountObjectId"),
         "DeviceProcessEvents": ("impactedDeviceAsset", "DeviceId"),
         "DeviceImageLoadEvents": ("impactedDeviceAsset", "DeviceId"),
         "DeviceFileEvents": ("impactedDeviceAsset", "DeviceId"),
         "DeviceRegistryEvents": ("impactedDeviceAsset", "DeviceId"),
         "DeviceNetworkEvents": ("impactedDeviceAsset", "DeviceId")}


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pack")
    build_pack([PACK_RULES], PACK_VALUES, out)
    return out / "defender"


def _with_placeholders() -> set[str]:
    """Ids of the rules reading a tenant list whose shipped default (values/) is a stand-in:
    an address in the reserved .invalid domain or the nil GUID."""
    values = load_values(PACK_VALUES)
    nil = "00000000-0000-0000-0000-000000000000"
    stand_ins = {k for k, vs in values.items() if any(str(v).endswith(".invalid") or v == nil for v in vs)}
    out = set()
    for lr in load_ruleset([PACK_RULES]).rules:
        if any(f"%{name}%" in lr.text for name in stand_ins):
            out.add(lr.id)
    assert out, "the shipped values hold stand-ins"
    return out


def _detections(folder: Path) -> dict[str, dict[str, object]]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}


def test_one_detection_per_single_event_rule_on_a_detection_table(pack: Path) -> None:
    compiled = compile_rules([PACK_RULES], "defender", load_values(PACK_VALUES))
    metas = collect_metas(list(load_ruleset([PACK_RULES])))
    runnable = {metas[q.rule_id].stem: metas[q.rule_id] for q in compiled.queries
                if not q.is_correlation and q.table.split(" ")[0] in DETECTION_TABLES}
    expected = {stem for stem, m in runnable.items() if not m.is_hunting}
    assert expected, "the pack has rules a custom detection can run"
    assert set(_detections(pack)) == expected
    # a time-bounded rule is an advanced hunting query, not a custom detection
    hunts = {p.stem for p in (pack / "hunting").glob("*.kql")}
    assert hunts == {stem for stem, m in runnable.items() if m.is_hunting}
    assert hunts and all(s.endswith("_during_campaign") for s in hunts if runnable[s].time_bound)


def test_graph_shape_and_allowed_values(pack: Path) -> None:
    metas = {m.title: m for m in collect_metas(list(load_ruleset([PACK_RULES]))).values()}
    for stem, d in _detections(pack).items():
        assert set(d) == {"displayName", "isEnabled", "queryCondition", "schedule", "detectionAction"}, stem
        meta = metas[str(d["displayName"])]
        # enabled unless a tenant list it reads still holds a shipped placeholder
        assert d["isEnabled"] is (meta.id not in _with_placeholders()), stem
        schedule = d["schedule"]
        assert isinstance(schedule, dict) and schedule["period"] in ALLOWED_PERIODS
        # never more often than the level asks; raised until the lookback holds the slice
        order = ["1H", "3H", "12H", "24H"]
        assert order.index(schedule["period"]) >= order.index(
            settings.SCHEDULE_BY_LEVEL[meta.level].defender_period)
        action = d["detectionAction"]
        assert isinstance(action, dict)
        assert action["organizationalScope"] is None and action["responseActions"] == []
        alert = action["alertTemplate"]
        assert alert["title"] == meta.title
        assert alert["description"]
        assert alert["severity"] in ALLOWED_SEVERITIES
        assert alert["mitreTechniques"] == list(meta.attack.techniques)
        assert alert["category"] in (*settings.SENTINEL_TACTICS, "SuspiciousActivity")
        [asset] = alert["impactedAssets"]
        table = str(d["queryCondition"]["queryText"]).split("\n", 1)[0].strip()  # type: ignore[index]
        kind = ASSET[table][0]
        assert asset["@odata.type"] == f"#microsoft.graph.security.{kind}"
        allowed = ALLOWED_USER_IDENTIFIERS if kind == "impactedUserAsset" else ALLOWED_DEVICE_IDENTIFIERS
        assert asset["identifier"] in allowed


def test_query_returns_timestamp_reportid_and_the_asset_column(pack: Path) -> None:
    for stem, d in _detections(pack).items():
        text = d["queryCondition"]["queryText"]  # type: ignore[index]
        table = text.split("\n", 1)[0].strip()
        assert table in DETECTION_TABLES, stem
        last = text.rstrip().splitlines()[-1]
        assert last.startswith(f"| project Timestamp, ReportId, {ASSET[table][1]}"), stem
        columns = [c.strip() for c in last.removeprefix("| project").split(",")]
        schema = MICROSOFT_XDR_TABLES[DETECTION_TABLES[table]]
        extended = set(re.findall(r"\| extend (\w+) =", text))
        for col in columns:
            assert col in schema or col in extended, (stem, col)


def test_every_query_parses_against_the_defender_schema(pack: Path) -> None:
    detections = _detections(pack)
    reports = check_kql([str(d["queryCondition"]["queryText"]) for d in detections.values()],  # type: ignore[index]
                        target="defender")
    bad = [(stem, r.errors) for stem, r in zip(detections, reports, strict=True) if r.errors]
    assert bad == []


def test_schedule_override_and_correlations_not_applicable(tmp_path: Path) -> None:
    report = build_pack([TEST_RULES], TEST_VALUES, tmp_path)
    detections = _detections(tmp_path / "defender")
    assert detections["m365_audit_test_mail_read_by_unlisted_app"]["schedule"] == {"period": "3H"}
    # medium runs every 3 hours, whose 12-hour lookback cannot hold a 24-hour ingestion delay
    # plus one run: raised to every 12 hours (48-hour lookback)
    assert settings.SCHEDULE_BY_LEVEL["medium"].defender_period == "3H"
    assert detections["azure_signin_test_python_user_agent"]["schedule"] == {"period": "12H"}
    reasons = {(stem, target): why for stem, target, why in report.not_built}
    corr = "corr_m365_audit_test_mail_read_from_several_addresses__test_mail_read_from_several_addresses"
    assert "ReportId" in reasons[(corr, "defender")]
    assert corr not in detections


def test_bad_period_override_names_the_line(tmp_path: Path) -> None:
    error, where = attribute_refusal(tmp_path, "defender_schedule_period: 2H")
    assert f"{where}: custom attribute defender_schedule_period: '2H' is not one of 0, 1H, 3H" in error


def _rule(**over: object) -> DefenderRule:
    base = DefenderRule(
        display_name="X", query="CloudAppEvents\n| project Timestamp, ReportId, AccountObjectId", period="1H",
        title="X", description="d", severity="high", category="Collection", techniques=("T1114.002",),
        asset_identifier="accountObjectId", stem="x", source=Location("r.yml"),
    )
    return replace(base, **over)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"period": "2H"}, "schedule.period '2H' is not one of"),
        ({"severity": "critical"}, "severity 'critical' is not one of"),
        ({"asset_identifier": "mailbox"}, "impacted-asset identifier 'mailbox' is not allowed"),
        ({"query": "CloudAppEvents\n| project Timestamp, AccountObjectId"}, "does not return ReportId"),
        ({"display_name": "x" * 257}, "displayName must be 1 to 256 characters"),
    ],
)
def test_invalid_detection_is_reported(over: dict[str, object], message: str) -> None:
    assert problems(_rule()) == []
    found = problems(_rule(**over))
    assert any(message in p for p in found), found

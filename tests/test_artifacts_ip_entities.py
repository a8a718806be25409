"""Issue 10 point 7 (single-event part): every built Sentinel and Defender XDR alert has an IP
entity whenever its record carries an address, read back from the built files and run through
the KQL executor as the product schedules the rule (stormpack.execute.timeline).

Mailbox records (MailItemsAccessed ...) carry their address in ``ClientIPAddress`` (OfficeActivity
``Client_IPAddress``), admin and cmdlet records in ``ClientIP``, Entra records in
``ActorIpAddress`` (Office 365 Management Activity API schema); sign-in records in
``properties.ipAddress``, audit records in ``properties.initiatedBy.user.ipAddress``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from stormpack.artifacts import settings
from stormpack.artifacts.pack import build_pack
from stormpack.execute.timeline import Timeline, arrival, load_defender, load_sentinel, sentinel_watchlists
from stormpack.fixtures import load_fixture_dir
from stormpack.ruleset import load_values

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
FIXTURES = ROOT / "fixtures"
ANCHOR = datetime(2023, 1, 1, tzinfo=UTC)
#: where each log source's records carry the client address (written independently of the pack)
ADDRESS_FIELDS = ("ClientIP", "ClientIPAddress", "ActorIpAddress", "properties.ipAddress", "callerIpAddress",
                  "properties.initiatedBy.user.ipAddress")


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ip")
    build_pack([RULES], load_values(FIXTURES / "values"), out)
    return out


def _get(record: dict[str, Any], path: str) -> Any:
    cur: Any = record
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _addresses(record: dict[str, Any]) -> list[str]:
    return [str(v) for f in ADDRESS_FIELDS if isinstance(v := _get(record, f), str) and v.strip()]


def _positives(stem: str) -> list[dict[str, Any]]:
    out = []
    if not (FIXTURES / stem).is_dir():
        return out
    for case in load_fixture_dir(FIXTURES / stem):
        out += [case.events[i].record for i in sorted(case.expected_indices())]
    return out


def test_sentinel_single_event_alerts_carry_the_records_address(build: Path) -> None:
    tl = Timeline("sentinel", watchlists=sentinel_watchlists(build / "sentinel"))
    rules = load_sentinel(build / "sentinel", ANCHOR)
    checked, mailbox, failures = 0, 0, []
    for stem, rule in sorted(rules.items()):
        if stem.startswith("corr_"):
            continue
        d = yaml.safe_load((build / "sentinel" / f"{stem}.yaml").read_text(encoding="utf-8"))
        ip_columns = [fm["columnName"] for em in d.get("entityMappings", []) if em["entityType"] == "IP"
                      for fm in em["fieldMappings"]]
        for rec in _positives(stem):
            addresses = _addresses(rec)
            if not addresses:
                continue
            arr = arrival(rec, timedelta(0))
            assert arr is not None
            alerts = tl.simulate(rule, [arr])
            assert len(alerts) == 1, stem
            checked += 1
            mailbox += "ClientIPAddress" in rec and not rec.get("ClientIP")
            if len(ip_columns) != 1:
                failures.append(f"{stem}: IP entity mappings {ip_columns}")
                continue
            got = str(alerts[0].rows[0].get(ip_columns[0]) or "")
            if not got or not any(got in a for a in addresses):
                failures.append(f"{stem}: IP entity {got!r}, record addresses {addresses}")
    assert not failures, "\n".join(failures)
    assert checked > 50 and mailbox > 10  # mailbox records (address only in ClientIPAddress) included


def test_defender_detections_map_the_ip_entity_and_fill_it(build: Path) -> None:
    tl = Timeline("defender")
    rules = load_defender(build / "defender", ANCHOR)
    checked, failures = 0, []
    for stem, rule in sorted(rules.items()):
        d = json.loads((build / "defender" / f"{stem}.json").read_text(encoding="utf-8"))
        table = d["queryCondition"]["queryText"].split("\n", 1)[0].strip()
        if settings.DEFENDER_TABLES[table].ip_column is None:
            # the Device* tables of the Windows rules hold no client address: no IP entity
            assert "entityMappings" not in d["detectionAction"]["alertTemplate"], stem
            continue
        ips = d["detectionAction"]["alertTemplate"]["entityMappings"]["ips"]
        assert [m["@odata.type"] for m in ips] == ["#microsoft.graph.security.ipEntityMapping"]
        column = ips[0]["addressColumn"]
        assert column in d["queryCondition"]["queryText"].rsplit("| project ", 1)[1].split(", ")
        for rec in _positives(stem):
            addresses = _addresses(rec)
            arr = arrival(rec, timedelta(0))
            if not addresses or arr is None or tl.rows(arr) is None:
                continue
            alerts = tl.simulate(rule, [arr])
            assert len(alerts) == 1, stem
            checked += 1
            got = str(alerts[0].rows[0].get(column) or "")
            if not got or not any(got in a or a in got for a in addresses):
                failures.append(f"{stem}: {column} {got!r}, record addresses {addresses}")
    assert not failures, "\n".join(failures)
    assert checked > 30

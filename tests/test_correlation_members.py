"""Issue 10 point 7 (second half): every correlation alert lists its members - the addresses and
apps of the first window that fires, and its first / last event time - on every target.

From the built files (Sentinel custom details and entities, Splunk saved searches) and from the
compiled queries executed on a fixture case (the KQL and SPL executors)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from stormpack.artifacts import settings
from stormpack.artifacts.pack import build_pack
from stormpack.execute.harness import TargetReplayer
from stormpack.execute.spl.app import read_layered
from stormpack.fixtures import load_fixture_dir
from stormpack.ruleset import find_base_rules, load_values

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
FIXTURES = ROOT / "fixtures"
STEM = "corr_m365_audit_mailbox_read_from_several_client_addresses"
RULE = RULES / "m365" / "audit" / f"{STEM}.yml"
MEMBERS = ["first_time", "last_time", "addresses", "apps"]


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("members")
    build_pack([RULES], load_values(FIXTURES / "values"), out)
    return out


def test_every_sentinel_correlation_carries_its_members(build: Path) -> None:
    files = sorted((build / "sentinel").glob("corr_*.yaml"))
    assert len(files) >= 10
    arm = json.loads((build / "sentinel" / "azuredeploy.json").read_text(encoding="utf-8"))
    arm_details = [r["properties"].get("customDetails") for r in arm["resources"]
                   if r.get("kind") == "Scheduled"]
    for f in files:
        d = yaml.safe_load(f.read_text(encoding="utf-8"))
        assert d["customDetails"] == dict(settings.CORRELATION_DETAILS), f.name
        for column in d["customDetails"].values():  # every detail column is output by the query
            assert f" {column} = " in d["query"].split("| join kind=leftanti")[0], (f.name, column)
        types = [e["entityType"] for e in d["entityMappings"]]
        assert "IP" in types and "CloudApplication" in types, f.name
    assert arm_details.count(dict(settings.CORRELATION_DETAILS)) == len(files)


def test_every_splunk_correlation_outputs_its_members(build: Path) -> None:
    stanzas = read_layered(build / "splunk" / settings.SPLUNK_APP_ID, "savedsearches.conf")
    searches = [kv["search"] for kv in stanzas.values()
                if "search" in kv and "streamstats time_window=" in kv["search"]]
    assert len(searches) >= 10
    for s in searches:
        table = next(line for line in s.splitlines() if line.startswith("| table "))
        assert table.split()[-4:] == MEMBERS, table


@pytest.mark.parametrize("target", ["sentinel", "defender", "splunk"])
def test_executed_correlation_lists_the_windows_addresses_apps_and_times(target: str) -> None:
    """Alice's mailbox read from 198.51.100.24 (OWA) at 02:35:12 and from 51.89.156.153 by another
    app at 02:41:07: the alert row holds both addresses, both apps and those two times (Bob's
    reads, a different group, are not members)."""
    rep = TargetReplayer([RULE], load_values(FIXTURES / "values"), target, FIXTURES,
                         base_rules=find_base_rules([RULE]).added)
    (query,) = rep.queries[RULE]
    case = next(c for c in load_fixture_dir(FIXTURES / STEM)
                if c.path.name == "positive_owner_and_attacker_within_minutes.yml")
    rows = [r for ev in case.events if (r := rep._row(ev.record)) is not None]
    now = datetime(2023, 6, 14, 4, tzinfo=UTC)
    (out,) = rep.executor.run(query.query, rep._dataset(rows, now))
    assert str(out["MailboxOwnerUPN"]) == "alice@contoso.onmicrosoft.com"

    def as_set(v: object) -> set[str]:
        return {str(x) for x in v} if isinstance(v, list) else {str(v)}

    assert as_set(out["addresses"]) == {"198.51.100.24", "51.89.156.153"}
    assert as_set(out["apps"]) == {"9199bf20-a13f-4107-85dc-02114787ef48",
                                   "2d3563c1-f1ed-41c9-b679-f690cc03411a"}

    def epoch(v: object) -> float:
        return v.timestamp() if isinstance(v, datetime) else float(str(v))

    assert epoch(out["first_time"]) == datetime(2023, 6, 14, 2, 35, 12, tzinfo=UTC).timestamp()
    assert epoch(out["last_time"]) == datetime(2023, 6, 14, 2, 41, 7, tzinfo=UTC).timestamp()


def test_member_fields_are_the_ip_and_app_entity_fields() -> None:
    from stormpack.compiler.kql_correlation import MEMBER_FIELDS

    def of(entity: str) -> set[str]:
        return {s.field for s in settings.ENTITY_SOURCES if s.entity_type == entity}

    assert set(MEMBER_FIELDS["address"]) == of("IP")
    assert set(MEMBER_FIELDS["app"]) == of("CloudApplication")

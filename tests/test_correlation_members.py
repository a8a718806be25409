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
from stormpack.compiler.registry import ARTIFACT_TARGETS
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
        # every detail column is output by the query (before the previous-run cut; a first-seen
        # query's own leftanti join is its learning window, not that cut)
        first_seen = d["query"].startswith("let stormpack_learning")
        body = d["query"] if first_seen else d["query"].split("| join kind=leftanti")[0]
        for column in d["customDetails"].values():
            assert f" {column} = " in body, (f.name, column)
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


@pytest.mark.parametrize("target", ARTIFACT_TARGETS)
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
    """Same fields in the same preference order (both are the taxonomy's ip / app roles)."""
    from stormpack.compiler.kql_correlation import MEMBER_FIELDS

    def of(entity: str) -> tuple[str, ...]:
        return tuple(s.field for s in settings.ENTITY_SOURCES if s.entity_type == entity)

    assert MEMBER_FIELDS["address"] == of("IP")
    assert MEMBER_FIELDS["app"] == of("CloudApplication")


# ------------------------------------------------------------------------------ group-by case
SIGN_IN = {  # a SignInLogs diagnostic-settings record (shape of fixtures/azure_signin_*)
    "time": "2023-07-12T12:10:00.0000000Z", "operationName": "Sign-in activity", "category": "SignInLogs",
    "tenantId": "2ad3fc79-1859-42fa-9011-6f8df2251b22", "resultType": "0", "callerIpAddress": "203.0.113.9",
    "properties": {"id": "94a69790-5bb8-4d63-a81c-a87941bd5901",
                   "createdDateTime": "2023-07-12T12:10:00+00:00",
                   "userPrincipalName": "Adele.Vance@Contoso.com",
                   "appId": "00000002-0000-0ff1-ce00-000000000000",
                   "ipAddress": "203.0.113.9", "status": {"errorCode": 0}, "isInteractive": True,
                   "userAgent": "python-requests/2.28.2"}}
INBOX_RULE = {  # a UAL New-InboxRule record (shape of fixtures/m365_audit_inbox_rule_*)
    "CreationTime": "2023-07-12T12:20:00", "Id": "5b1f8f5e-0000-4000-8000-000000000001",
    "Operation": "New-InboxRule",
    "OrganizationId": "2ad3fc79-1859-42fa-9011-6f8df2251b22", "RecordType": 1, "ResultStatus": "True",
    "UserKey": "10032000A1B2C3D4", "UserType": 2, "Workload": "Exchange", "ClientIP": "203.0.113.9:4431",
    "ObjectId": "adele.vance@contoso.com\\fwd", "UserId": "adele.vance@contoso.com",
    "Parameters": [{"Name": "Name", "Value": "fwd"}, {"Name": "ForwardTo", "Value": "drop@evil.example"}]}


def test_cross_source_group_by_ignores_case_on_every_target_and_the_matcher(tmp_path: Path) -> None:
    """The sign-in spells the user 'Adele.Vance@Contoso.com' (UserPrincipalName), the audit record
    'adele.vance@contoso.com' (UserId): one group on the matcher, Sentinel, Defender and Splunk
    (tests/data/compile/correlations/temporal.yml: risky sign-in, then a forwarding rule, 30m).
    A different user in the second half is no group anywhere."""
    import copy

    from stormpack.execute.harness import replay_target
    from stormpack.replay import replay

    rules = tmp_path / "rules"
    rules.mkdir()
    rule = rules / "temporal.yml"
    rule.write_text((ROOT / "tests" / "data" / "compile" / "correlations" / "temporal.yml")
                    .read_text(encoding="utf-8"), encoding="utf-8")
    cases = tmp_path / "fixtures" / "temporal"
    cases.mkdir(parents=True)
    other = copy.deepcopy(INBOX_RULE)
    other["UserId"] = other["ObjectId"] = "bob@contoso.com"
    for name, second, expect in (("positive_user_spelled_in_two_cases.yml", INBOX_RULE, "match"),
                                 ("negative_other_user.yml", other, "no_match")):
        doc = {"description": name, "expect": expect, "provenance": "synthetic, shapes of the pack fixtures",
               "events": [SIGN_IN, second]}
        if expect == "match":
            doc["groups"] = [{"user": "adele.vance@contoso.com"}]
        (cases / name).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    local = replay([rule], tmp_path / "fixtures", {})
    assert all(v.passed for v in local), [f.message for v in local for f in v.failures]
    for target in ARTIFACT_TARGETS:
        (v,) = replay_target([rule], tmp_path / "fixtures", {}, target)
        assert v.passed and v.note is None and not v.differences, (target, [f.message for f in v.failures])
        assert len(v.cases) == 2

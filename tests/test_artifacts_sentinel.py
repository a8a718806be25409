"""Sentinel analytics rules: YAML per rule, one ARM template, product limits enforced."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from artifacts_support import attribute_refusal
from stormpack.artifacts import build_pack, settings
from stormpack.artifacts.build import collect_metas
from stormpack.artifacts.durations import parse_duration, to_iso, to_short
from stormpack.artifacts.lists import WATCHLIST_COLUMN, tenant_lists
from stormpack.artifacts.model import parse_attack
from stormpack.artifacts.sentinel import (
    EntityMapping,
    FieldMapping,
    SentinelRule,
    build_rule,
    problems,
    validate,
)
from stormpack.compiler import compile_rules
from stormpack.errors import ArtifactError, Location
from stormpack.querycheck import check_kql
from stormpack.ruleset import load_ruleset, load_values

DATA = Path(__file__).parent / "data" / "artifacts"
RULES = DATA / "rules"
VALUES = DATA / "values"


ROOT = Path(__file__).resolve().parents[1]
PACK_RULES = ROOT / "rules"
PACK_VALUES = ROOT / "values"


@pytest.fixture(scope="module", params=["test-rules", "pack"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """The artifacts of the test rules and of the shipped pack, compiled by the real compiler."""
    rules_dir, values = (RULES, VALUES) if request.param == "test-rules" else (PACK_RULES, PACK_VALUES)
    out = tmp_path_factory.mktemp(request.param)
    build_pack([rules_dir], values, out)
    return out, list(load_ruleset([rules_dir]))


@pytest.fixture(scope="module")
def test_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    out = tmp_path_factory.mktemp("test-rules")
    build_pack([RULES], VALUES, out)
    return out, list(load_ruleset([RULES]))


def _sentinel_titles(out: Path) -> set[str]:
    return {yaml.safe_load(p.read_text(encoding="utf-8"))["name"] for p in (out / "sentinel").glob("*.yaml")}


# ------------------------------------------------------------------------------- durations
@pytest.mark.parametrize(
    ("text", "td", "short", "iso"),
    [
        ("5m", timedelta(minutes=5), "5m", "PT5M"),
        ("90m", timedelta(minutes=90), "90m", "PT1H30M"),
        ("2h", timedelta(hours=2), "2h", "PT2H"),
        ("1d", timedelta(days=1), "1d", "P1D"),
        ("PT30M", timedelta(minutes=30), "30m", "PT30M"),
        ("P1DT6H", timedelta(days=1, hours=6), "30h", "P1DT6H"),
        ("14d", timedelta(days=14), "14d", "P14D"),
    ],
)
def test_durations_round_trip(text: str, td: timedelta, short: str, iso: str) -> None:
    assert parse_duration(text) == td
    assert to_short(td) == short
    assert to_iso(td) == iso
    assert parse_duration(to_iso(td)) == td
    assert parse_duration(to_short(td)) == td


@pytest.mark.parametrize("bad", ["", "1w", "h", "P", "PT", "soon", "-5m"])
def test_bad_duration_is_an_error(bad: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(bad)


# ------------------------------------------------------------------------------- ATT&CK
def test_attack_tags_become_sentinel_tactics_and_parent_techniques() -> None:
    a = parse_attack([("attack", "credential_access"), ("attack", "t1114.002"), ("attack", "stealth"),
                      ("attack", "t1114"), ("attack", "g0016"), ("cve", "2023-1")], Location("r.yml"))
    assert a.tactics == ("CredentialAccess", "DefenseEvasion")
    assert a.techniques == ("T1114.002", "T1114")
    assert a.parent_techniques == ("T1114",)


def test_unknown_attack_tag_is_an_error() -> None:
    with pytest.raises(ArtifactError, match=r"r\.yml:3: tag 'attack\.lateral_moves'"):
        parse_attack([("attack", "lateral_moves")], Location("r.yml", 3))


# ------------------------------------------------------------------------------- artifacts
def test_one_yaml_per_compiled_rule_within_limits(built: tuple[Path, list]) -> None:
    out, rules = built
    metas = collect_metas(rules)
    compiled = compile_rules([r.path for r in rules], "sentinel", _values_of(out))
    files = sorted((out / "sentinel").glob("*.yaml"))
    built = {metas[q.rule_id].stem: metas[q.rule_id] for q in compiled.queries}
    assert {f.stem for f in files} == {stem for stem, m in built.items() if not m.is_hunting}
    # time-bounded rules are hunting queries (no schedule, no ingestion slice), not analytics rules
    hunts = sorted((out / "sentinel" / "hunting").glob("*.yaml"))
    assert {f.stem for f in hunts} == {stem for stem, m in built.items() if m.is_hunting}
    for f in hunts:
        d = yaml.safe_load(f.read_text(encoding="utf-8"))
        assert "queryFrequency" not in d and "kind" not in d and "ingestion_time()" not in d["query"]
        tables = ("OfficeActivity", "SigninLogs", "AADNonInteractiveUserSignInLogs", "AuditLogs")
        assert d["query"].split("\n", 1)[0] in tables
        time_bound = built[f.stem].time_bound is not None
        note = ("Hunting query: matches only events from 2023-03-01 to 2023-08-31" if time_bound
                else "Hunting query: shipped as a hunting query, not a scheduled rule:")
        assert note in " ".join(d["description"].split())
    arm = json.loads((out / "sentinel" / "azuredeploy.json").read_text(encoding="utf-8"))
    assert {r["properties"]["displayName"] for r in arm["resources"]}.isdisjoint(
        {metas[m.id].title for m in built.values() if m.is_hunting})
    for f in files:
        d = yaml.safe_load(f.read_text(encoding="utf-8"))
        meta = metas[d["id"]]
        assert d["name"] == meta.title
        assert d["kind"] == "Scheduled"
        assert d["severity"] == settings.SEVERITY_BY_LEVEL[meta.level]
        assert d["triggerOperator"] == "gt" and d["triggerThreshold"] == 0
        assert len(d["name"]) <= settings.SENTINEL_NAME_MAX
        assert 0 < len(d["description"]) <= settings.SENTINEL_DESCRIPTION_MAX
        assert len(d["query"]) <= settings.SENTINEL_QUERY_MAX
        freq, period = parse_duration(d["queryFrequency"]), parse_duration(d["queryPeriod"])
        assert settings.SENTINEL_PERIOD_MIN <= freq <= period <= settings.SENTINEL_PERIOD_MAX
        assert set(d["tactics"]) <= set(settings.SENTINEL_TACTICS)
        assert d["relevantTechniques"] == list(meta.attack.techniques)
        # every single-event rule returns a whole record, so at least an Account; a correlation
        # only its groups (a tenant id is no entity)
        if not meta.is_correlation or any(
            meta.group_column_for(src.field) for src in settings.ENTITY_SOURCES
        ):
            assert 1 <= len(d["entityMappings"]) <= settings.SENTINEL_ENTITIES_MAX, f.name
        for em in d.get("entityMappings", []):
            assert 1 <= len(em["fieldMappings"]) <= settings.SENTINEL_FIELD_MAPPINGS_MAX
            for fm in em["fieldMappings"]:
                assert re.search(rf"\| extend .*\b{fm['columnName']} = ", d["query"])
        conns = {c["connectorId"]: c["dataTypes"] for c in d["requiredDataConnectors"]}
        for key in meta.logsources:
            c = settings.SENTINEL_CONNECTORS[key]
            assert c.data_type in conns[c.connector_id]


def test_schedule_defaults_overrides_and_correlation_lookback(test_build: tuple[Path, list]) -> None:
    out, rules = test_build
    metas = {m.title: m for m in collect_metas(rules).values()}

    def load(title: str) -> dict[str, str]:
        d: dict[str, str] = yaml.safe_load((out / "sentinel" / f"{metas[title].stem}.yaml").read_text())
        return d

    over = load("Test Mail Read By Unlisted App")  # sentinel_query_frequency/period: 30m / 2h
    assert (over["queryFrequency"], over["queryPeriod"]) == ("30m", "2h")
    medium = settings.SCHEDULE_BY_LEVEL["medium"]
    plain = load("Test Python User Agent Sign-In")
    assert parse_duration(plain["queryFrequency"]) == medium.sentinel_frequency
    # one run interval plus the 24 hours of ingestion delay the pack covers (docs/deploy.md)
    assert parse_duration(plain["queryPeriod"]) == medium.sentinel_frequency + timedelta(hours=24)
    assert "\n| where ingestion_time() > ago(1h)\n" in plain["query"]
    corr = load("Test Mail Read From Several Addresses")  # medium, 2h window
    assert parse_duration(corr["queryFrequency"]) == medium.sentinel_frequency
    assert parse_duration(corr["queryPeriod"]) == (timedelta(hours=2) + medium.sentinel_frequency
                                                   + timedelta(hours=24))
    # a correlation returns its group-by columns and its members: the grouped mailbox, and the
    # first address / app of the window (the whole sets and first/last time: custom details)
    assert [e["entityType"] for e in corr["entityMappings"]] == ["Mailbox", "IP", "CloudApplication"]
    assert corr["query"].rstrip().endswith(
        "| extend MailboxCustomEntity = MailboxOwnerUPN, IPCustomEntity = tostring(addresses[0]), "
        "CloudAppCustomEntity = tostring(apps[0])")
    assert corr["customDetails"] == {"Addresses": "addresses", "Apps": "apps", "FirstTime": "first_time",
                                     "LastTime": "last_time"}
    assert "customDetails" not in plain


def test_arm_template_holds_every_rule_with_required_properties(built: tuple[Path, list]) -> None:
    out, rules = built
    metas = collect_metas(rules)
    arm = json.loads((out / "sentinel" / "azuredeploy.json").read_text(encoding="utf-8"))
    assert arm["$schema"].endswith("deploymentTemplate.json#")
    assert arm["parameters"]["workspace"]["type"] == "String"
    ids = [r["name"].rsplit("/", 1)[-1].rstrip("')]") for r in arm["resources"]]
    yaml_ids = [yaml.safe_load(p.read_text())["id"] for p in (out / "sentinel").glob("*.yaml")]
    assert len(ids) >= 3 and sorted(ids) == sorted(yaml_ids)
    iso = re.compile(r"^P(\d+D)?(T(\d+H)?(\d+M)?)?$")
    for res in arm["resources"]:
        rid = res["name"].rsplit("/", 1)[-1].rstrip("')]")
        meta = metas[rid]
        assert res["type"] == "Microsoft.OperationalInsights/workspaces/providers/alertRules"
        assert res["kind"] == "Scheduled"
        assert res["apiVersion"] == settings.SENTINEL_ARM_API_VERSION
        assert res["id"].endswith(f"/alertRules/{rid}')]")
        p = res["properties"]
        required = {"displayName", "description", "severity", "enabled", "query", "queryFrequency",
                    "queryPeriod", "triggerOperator", "triggerThreshold", "suppressionDuration",
                    "suppressionEnabled", "tactics", "techniques"}
        assert required <= set(p)
        assert p["displayName"] == meta.title
        assert p["triggerOperator"] == "GreaterThan"
        for key in ("queryFrequency", "queryPeriod", "suppressionDuration"):
            assert iso.match(p[key]), (key, p[key])
        yaml_rule = yaml.safe_load((out / "sentinel" / f"{meta.stem}.yaml").read_text())
        assert parse_duration(p["queryPeriod"]) == parse_duration(yaml_rule["queryPeriod"])
        assert p["query"] == yaml_rule["query"]
        # apiVersion 2023-02-01: parent techniques only
        assert p["techniques"] == list(meta.attack.parent_techniques)
        assert all("." not in t for t in p["techniques"])
        assert p.get("entityMappings") == yaml_rule.get("entityMappings")


# ------------------------------------------------------------------------------- limits
def _valid() -> SentinelRule:
    rules = list(load_ruleset([RULES]))
    metas = collect_metas(rules)
    compiled = compile_rules([RULES], "sentinel", load_values(VALUES))
    q = next(q for q in compiled.queries if q.title == "Test Python User Agent Sign-In")
    rule = build_rule(q, metas[q.rule_id])
    assert problems(rule) == []
    return rule


ONE = (FieldMapping("FullName", "AccountCustomEntity"),)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "n" * 257}, "name is 257 characters, more than 256"),
        ({"description": "d" * 5001}, "description is 5001 characters, more than 5000"),
        ({"description": "  "}, "description is empty"),
        ({"frequency": timedelta(minutes=4), "period": timedelta(minutes=4)}, "queryFrequency 4m is outside"),
        ({"period": timedelta(days=15)}, "queryPeriod 15d is outside 5m .. 14d"),
        ({"frequency": timedelta(hours=2), "period": timedelta(hours=1)},
         "queryPeriod 1h is shorter than queryFrequency 2h"),
        ({"entity_mappings": tuple(EntityMapping("Account", ONE) for _ in range(6))},
         "6 entity mappings; Sentinel takes 1 to 5"),
        ({"entity_mappings": (EntityMapping("Account", ONE * 4),)}, "entity Account has 4 field mappings"),
        ({"entity_mappings": (EntityMapping("Account", ()),)}, "entity Account has 0 field mappings"),
        ({"entity_mappings": (EntityMapping("IP", (FieldMapping("Address", "NoSuchColumn"),)),)},
         "maps column NoSuchColumn, which the query does not return"),
        ({"tactics": ("Stealth",)}, "tactic 'Stealth' is not a Sentinel tactic"),
        ({"severity": "Critical"}, "severity 'Critical' is not one of"),
        ({"trigger_threshold": 10001}, "triggerThreshold 10001 is outside 0 .. 10000"),
        ({"id": "not-a-guid"}, "id 'not-a-guid' is not a GUID"),
        ({"version": "1.0"}, "version '1.0' is not semantic"),
    ],
)
def test_each_limit_violation_fails_with_a_clear_message(change: dict[str, object], message: str) -> None:
    rule = replace(_valid(), **change)  # type: ignore[arg-type]
    with pytest.raises(ArtifactError) as exc:
        validate(rule)
    text = str(exc.value)
    assert message in text
    assert text.startswith(f"{RULES / 'azure_signin_test_python_user_agent.yml'}: ")


@pytest.mark.parametrize(
    "change",
    [
        {"name": "n" * 256},
        {"description": "d" * 5000},
        {"frequency": timedelta(minutes=5), "period": timedelta(minutes=5)},
        {"frequency": timedelta(days=14), "period": timedelta(days=14)},
        {"entity_mappings": tuple(EntityMapping("Account", ONE * 3) for _ in range(5))},
    ],
)
def test_values_on_the_limit_are_accepted(change: dict[str, object]) -> None:
    assert problems(replace(_valid(), **change)) == []  # type: ignore[arg-type]


def test_query_of_exactly_the_limit_is_accepted() -> None:
    rule = _valid()
    padded = rule.query + "\n//" + "x" * (settings.SENTINEL_QUERY_MAX - len(rule.query) - 3)
    assert len(padded) == settings.SENTINEL_QUERY_MAX
    assert problems(replace(rule, query=padded)) == []
    assert problems(replace(rule, query=padded + "x")) == ["query is 10001 characters, more than 10000"]


def test_a_rule_breaking_a_limit_fails_the_build(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    src = (RULES / "azure_signin_test_python_user_agent.yml").read_text(encoding="utf-8")
    (rules / "azure_signin_test_python_user_agent.yml").write_text(
        src + "sentinel_query_period: 15d\n", encoding="utf-8")
    out = tmp_path / "build"
    with pytest.raises(ArtifactError) as exc:
        build_pack([rules], VALUES, out)
    assert "queryPeriod 15d is outside 5m .. 14d" in str(exc.value)
    assert "azure_signin_test_python_user_agent.yml" in str(exc.value)
    assert not (out / "sentinel").exists()


def test_bad_schedule_attribute_names_the_line(tmp_path: Path) -> None:
    error, where = attribute_refusal(tmp_path, "sentinel_query_frequency: often")
    assert f"{where}: custom attribute sentinel_query_frequency: 'often' is not a duration" in error


def test_arm_expression_lookalikes_are_escaped() -> None:
    rule = replace(_valid(), name="[concat('a','b')]")
    res = rule.to_arm_resource()
    assert res["properties"]["displayName"] == "[[concat('a','b')]"


def _values_of(out: Path) -> dict[str, list[str]]:
    return load_values(VALUES if out.name.startswith("test-rules") else PACK_VALUES)


def test_every_query_parses_against_the_sentinel_schema(built: tuple[Path, list]) -> None:
    out, _ = built
    files = sorted((out / "sentinel").glob("*.yaml"))
    queries = [yaml.safe_load(p.read_text(encoding="utf-8"))["query"] for p in files]
    reports = check_kql(queries, target="sentinel")
    assert [(p.name, r.errors) for p, r in zip(files, reports, strict=True) if r.errors] == []


def test_tenant_lists_become_watchlists_filled_from_values(built: tuple[Path, list]) -> None:
    out, rules = built
    values = _values_of(out)
    lists = [tl for tl in tenant_lists(rules, values) if tl.is_list]
    assert lists
    shipped = {p.stem: p for p in (out / "sentinel" / "watchlists").glob("*.csv")}
    assert set(shipped) == {tl.watchlist for tl in lists}
    docs = [yaml.safe_load(p.read_text()) for p in (out / "sentinel").glob("*.yaml")]
    queries = "\n".join(d["query"] for d in docs)
    built_titles = {d["name"] for d in docs}
    for tl in lists:
        with shipped[tl.watchlist].open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows == [[WATCHLIST_COLUMN], *([v] for v in values[tl.name])]
        if not built_titles & set(tl.rule_titles):
            # read only by rules not built on Sentinel (e.g. the eDiscovery rule: OfficeActivity
            # holds no eDiscovery records, data/collection.yml); the watchlist ships all the same
            continue
        assert f"_GetWatchlist('{tl.watchlist}') | project SearchKey" in queries
        for v in values[tl.name]:
            assert f'"{v}"' not in queries, f"{v} of list {tl.name} is inlined"

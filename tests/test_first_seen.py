"""The first-seen extension (stormpack/firstseen.py, docs/writing-rules.md "First-seen rules"):
plain Sigma tools reject it by name, stormpack validates its parameters with file and line, the
matcher's state over the hunt, and the SPL eval functions its query needs. The compiled queries
are executed against the matcher on the rule's fixtures by tests/test_execute_targets.py and, on
their schedule with late records, by tests/test_schedule_simulation.py."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaCorrelationTypeError

from stormpack import firstseen
from stormpack.errors import RuleLoadError
from stormpack.execute.base import Dataset
from stormpack.execute.spl import executor as spl_executor
from stormpack.matcher import Engine, EventRef
from stormpack.matcher.results import CorrelationHit
from stormpack.ruleset import find_line, load_ruleset
from stormpack.validate.loading import load_files

ROOT = Path(__file__).resolve().parents[1]
AUDIT = ROOT / "rules" / "m365" / "audit"
RULE = AUDIT / "corr_m365_audit_client_app_id_reads_mail_not_seen_in_the_tenant_in_the_last_14_days.yml"
BASE = AUDIT / "m365_audit_delegated_mail_read_by_a_client_app.yml"
PLAIN_ERROR = "'stormpack_first_seen' is no valid Sigma correlation type"


# ------------------------------------------------------------------------------ syntax
def test_plain_pysigma_rejects_the_extension_by_name() -> None:
    doc = yaml.safe_load(RULE.read_text(encoding="utf-8"))
    with pytest.raises(SigmaCorrelationTypeError, match=PLAIN_ERROR):
        SigmaCollection.from_dicts([doc])


def test_the_alternatives_pysigma_errors_as_documented() -> None:
    """docs/writing-rules.md, "Why a correlation type": an unknown modifier is rejected by name
    too, and a first-seen condition without an operator would hide the type error."""
    doc = yaml.safe_load(BASE.read_text(encoding="utf-8"))
    doc["detection"]["selection"]["ClientAppId|stormpack_first_seen"] = "14d"
    coll = SigmaCollection.from_dicts([doc], collect_errors=True)
    errors = [str(e) for r in coll.rules for e in r.errors] + [str(e) for e in coll.errors]
    assert any("Unknown modifier 'stormpack_first_seen'" in e for e in errors), errors
    corr = yaml.safe_load(RULE.read_text(encoding="utf-8"))
    del corr["correlation"]["condition"]["eq"]
    with pytest.raises(Exception, match="must have exactly one condition item"):
        SigmaCollection.from_dicts([corr])


def test_plain_sigma_cli_rejects_the_extension_with_a_clear_message(tmp_path: Path) -> None:
    for f in (RULE, BASE):
        (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    sigma = Path(sys.executable).parent / "sigma"
    out = subprocess.run([str(sigma), "convert", "-t", "kusto", "--without-pipeline", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert PLAIN_ERROR in out.stdout + out.stderr


def test_stormpack_reads_the_spec_and_hands_pysigma_a_carrier() -> None:
    rs = load_ruleset([RULE, BASE])
    corr = next(lr for lr in rs if lr.path == RULE)
    spec = firstseen.spec_of(corr.rule)
    assert spec == firstseen.FirstSeen("delegated_mail_read_by_client_app", "ClientAppId",
                                       ("OrganizationId",), timedelta(days=14))
    assert spec.keys == ("OrganizationId", "ClientAppId")
    assert firstseen.spec_of(rs.referenced_by(corr)[0].rule) is None
    assert corr.rule.type.name == "VALUE_COUNT"  # the carrier, never evaluated as such


BAD = [
    ("    eq: 0", "    eq: 1", "only eq: 0 (first seen) is", "eq: 1"),
    ("  timespan: 14d", "  timespan: 30m", "shorter than the smallest learning window", "timespan:"),
    ("  timespan: 14d", "  timespan: 14x", "is not a Sigma timespan", "timespan:"),
    ("    eq: 0\n", "", "'condition' must be exactly {field: <field>, eq: 0}", "condition:"),
    ("    - OrganizationId", "    - ClientAppId", "also a group-by field", "    field:"),
    ("  generate: false", "  generate: false\n  aliases: {}", "unknown key(s) aliases", "aliases:"),
    ("    - delegated_mail_read_by_client_app",
     "    - delegated_mail_read_by_client_app\n    - mail_unsanctioned_client_app_read",
     "'rules' must list exactly one base rule", "  rules:"),
]


@pytest.mark.parametrize(("old", "new", "message", "needle"), BAD, ids=[b[2][:30] for b in BAD])
def test_bad_parameters_fail_loud_with_file_and_line(tmp_path: Path, old: str, new: str,
                                                     message: str, needle: str) -> None:
    text = RULE.read_text(encoding="utf-8")
    assert old in text
    bad = tmp_path / RULE.name
    bad.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(RuleLoadError) as info:
        load_ruleset([bad, BASE])
    err = info.value
    assert message in err.message and err.message.startswith("stormpack_first_seen: ")
    assert err.location is not None and Path(str(err.location.path)) == bad
    assert err.location.line == find_line(bad.read_text(encoding="utf-8"), needle)
    # the validator reports the same problem as a finding, with file and line
    findings = [f for f in load_files([bad]).findings if f.check == "stormpack.first_seen"]
    assert len(findings) == 1 and message in findings[0].message
    assert findings[0].line == err.location.line


# ------------------------------------------------------------------------------ matcher
ORG_A = "b201948d-8505-46e4-8b1f-6cef8ba3b8ea"
ORG_B = "0e2f6a4c-1111-4d2a-9c3b-2f1e0d9c8b7a"
OWA = "9199bf20-a13f-4107-85dc-02114787ef48"
APP = "2d3563c1-f1ed-41c9-b679-f690cc03411a"
T0 = datetime(2023, 5, 1, 9, 0, 0, tzinfo=UTC)


def rec(t: datetime, app: str, org: str = ORG_A) -> dict[str, Any]:
    return {"CreationTime": t.strftime("%Y-%m-%dT%H:%M:%S"), "RecordType": 50, "Workload": "Exchange",
            "Operation": "MailItemsAccessed", "ResultStatus": "Succeeded", "UserType": 0,
            "UserId": "alice@contoso.onmicrosoft.com", "OrganizationId": org, "ClientAppId": app}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.build(load_ruleset([RULE, BASE]), {})


def hunt(engine: Engine, records: list[dict[str, Any]], disorder: float | None = None,
         settle_every: int = 1024) -> list[CorrelationHit]:
    engine.reset()
    engine.set_max_disorder(disorder, settle_every=settle_every)
    out: list[CorrelationHit] = []
    try:
        for i, r in enumerate(records):
            engine.process(r, EventRef("t", i))
            out.extend(engine.drain())
        out.extend(engine.finish())
    finally:
        engine.set_max_disorder(None)
    return out


def fired(hits: list[CorrelationHit]) -> list[tuple[str, str, int]]:
    return [(str(h.group["OrganizationId"]), str(h.group["ClientAppId"]), h.refs[0].index) for h in hits]


def daily(days: int, app: str = OWA) -> list[dict[str, Any]]:
    return [rec(T0 + timedelta(days=d), app) for d in range(days)]


def test_a_value_new_after_a_full_learning_window_fires_once(engine: Engine) -> None:
    records = [*daily(16), rec(T0 + timedelta(days=15, hours=3), APP),
               rec(T0 + timedelta(days=15, hours=4), APP)]
    hits = hunt(engine, records)
    assert fired(hits) == [(ORG_A, APP, 16)]  # the second read of the app is not new
    assert hits[0].metric == 0.0 and hits[0].first_seen == "2023-05-16T12:00:00Z"


def test_nothing_fires_before_one_learning_window_of_history(engine: Engine) -> None:
    early = [rec(T0, OWA), rec(T0 + timedelta(days=14) - timedelta(seconds=1), APP)]
    assert fired(hunt(engine, early)) == []
    armed = [rec(T0, OWA), rec(T0 + timedelta(days=14), APP)]
    assert fired(hunt(engine, armed)) == [(ORG_A, APP, 1)]


def test_seen_exactly_n_days_earlier_is_seen_one_second_more_is_new(engine: Engine) -> None:
    """[t - N, t): a sighting exactly N days earlier counts; one second older does not."""
    first = T0 + timedelta(hours=1)
    seen = [rec(T0, OWA), rec(first, APP), rec(first + timedelta(days=14), APP)]
    assert fired(hunt(engine, seen)) == []
    new = [rec(T0, OWA), rec(first, APP), rec(first + timedelta(days=14, seconds=1), APP)]
    hits = hunt(engine, new)
    assert fired(hits) == [(ORG_A, APP, 2)]
    assert hits[0].metric == pytest.approx(14 + 1 / 86400)


def test_first_seen_is_per_group_and_case_insensitive(engine: Engine) -> None:
    records = [rec(T0, OWA, ORG_A), rec(T0, OWA, ORG_B), rec(T0 + timedelta(days=1), APP, ORG_A),
               rec(T0 + timedelta(days=15), APP.upper(), ORG_A),  # seen in A (other case)
               rec(T0 + timedelta(days=15, hours=1), APP, ORG_B)]  # never seen in B
    assert fired(hunt(engine, records)) == [(ORG_B, APP, 4)]


def test_the_result_follows_time_not_input_order(engine: Engine) -> None:
    records = [*daily(16), rec(T0 + timedelta(days=15, hours=3), APP)]
    assert fired(hunt(engine, list(reversed(records)))) == [(ORG_A, APP, 0)]


def test_bounded_hunt_state_gives_the_unbounded_result_with_less_memory(engine: Engine) -> None:
    """A 120-day stream of hourly reads by apps drawn from a heavy-tailed pool (a few common, many
    rare: gaps from hours to months): the hunt's bounded mode (fold records past the watermark,
    forget sightings older than one learning window) reports the same hits."""
    rnd = random.Random(11)
    records: list[dict[str, Any]] = []
    for h in range(120 * 24):
        t = T0 + timedelta(hours=h, minutes=rnd.randrange(60))
        app = min(int(rnd.paretovariate(0.8)), 500)
        records.append(rec(t, f"00000000-0000-4000-8000-{app:012d}"))
    evaluator = engine.correlations[0]
    exact = hunt(engine, records)
    assert evaluator.kept_peak == len(records)
    evaluator.kept_peak = 0
    bounded = hunt(engine, records, disorder=3600.0, settle_every=64)
    assert len(exact) > 10
    assert fired(bounded) == fired(exact)
    assert evaluator.kept_peak < len(records) // 10


# ------------------------------------------------------------------------------ SPL clock
NOW = datetime(2023, 6, 15, 3, 41, 7, tzinfo=UTC)


def spl_value(expr: str) -> Any:
    row = {"_time": NOW.timestamp(), "index": "main", "sourcetype": "test", "_raw": json.dumps({})}
    out = spl_executor().run(f"index=* | eval out={expr}", Dataset(tables={"test": [row]}, now=NOW))
    return out[0].get("out")


def test_spl_now_is_the_search_start_time() -> None:
    """now(): "the time that the search was started", epoch seconds (Search Reference,
    DateandTimeFunctions)."""
    assert spl_value("now()") == int(NOW.timestamp())


def test_spl_relative_time_takes_the_time_modifier_syntax() -> None:
    """relative_time(X, Y): X shifted by the relative time specifier Y (Search Reference,
    DateandTimeFunctions; specifier syntax as the search time modifiers)."""
    assert spl_value('relative_time(now(), "-3600s")') == int(NOW.timestamp()) - 3600
    assert spl_value('relative_time(now(), "-1d@d")') == int(datetime(2023, 6, 14, tzinfo=UTC).timestamp())
    assert spl_value('relative_time(null(), "-1d")') is None


# ------------------------------------------------------------------------------ hunt
def test_hunt_reports_the_new_app_once_with_group_and_value(tmp_path: Path) -> None:
    """``stormpack hunt`` over the positive case's records (read in reverse: the hunt orders them
    by time) reports the forged-token app once, after 15 days of OWA reads."""
    from click.testing import CliRunner

    from stormpack.cli import cli

    case = ROOT / "fixtures" / RULE.stem / "positive_unseen_app_after_fifteen_days_of_history.yml"
    events = yaml.safe_load(case.read_text(encoding="utf-8"))["events"]
    log = tmp_path / "export.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in reversed(events)), encoding="utf-8")
    out = CliRunner().invoke(cli, ["hunt", "--rules", str(RULE), "--rules", str(BASE),
                                   "--events", str(log), "--format", "jsonl"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    first_seen_rows = [r for r in rows if r.get("rule_title") == str(yaml.safe_load(
        RULE.read_text(encoding="utf-8"))["title"])]
    assert [r["group"] for r in first_seen_rows] == [{"OrganizationId": ORG_A, "ClientAppId": APP}]
    assert first_seen_rows[0]["first_seen"] == "2023-06-15T02:41:07.000Z"

"""Correlation rules in the local matcher: sliding windows, thresholds, group-by, aliases, generate."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from stormpack.matcher import Engine, EventRef, TimestampError
from stormpack.ruleset import load_ruleset

M365 = {"product": "m365", "service": "audit"}
SIGNIN = {"product": "azure", "service": "signinlogs"}


def base(name: str, operation: str, logsource: dict[str, str] | None = None,
         field: str = "Operation") -> dict[str, Any]:
    return {"title": f"base {name}", "name": name, "status": "test", "logsource": logsource or M365,
            "detection": {"sel": {field: operation}, "condition": "sel"}, "level": "low"}


def corr(ctype: str, rules: list[str], timespan: str, *, group_by: list[str] | None = None,
         condition: dict[str, Any] | None = None, generate: bool | None = None,
         aliases: dict[str, Any] | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"type": ctype, "rules": rules, "timespan": timespan}
    if group_by:
        c["group-by"] = group_by
    if condition is not None:
        c["condition"] = condition
    if generate is not None:
        c["generate"] = generate
    if aliases:
        c["aliases"] = aliases
    return {"title": f"corr {ctype}", "status": "test", "correlation": c, "level": "high"}


def engine(tmp_path: Path, docs: list[dict[str, Any]]) -> Engine:
    path = tmp_path / "corr.yml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    return Engine.build(load_ruleset([path]), {})


T0 = datetime(2023, 6, 14, 10, 58, 0)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S")


def ual(op: str, minutes: float, user: str = "alice@contoso.com", **kw: Any) -> dict[str, Any]:
    return {"CreationTime": at(minutes), "RecordType": 15, "Operation": op, "UserId": user, **kw}


def run(eng: Engine, records: list[dict[str, Any]]) -> list[Any]:
    for i, r in enumerate(records):
        eng.process(r, EventRef("case", i))
    return eng.finish()


FAIL5 = [base("fail", "UserLoginFailed"),
         corr("event_count", ["fail"], "10m", group_by=["UserId"], condition={"gte": 5})]


def test_burst_straddling_an_hour_boundary_is_found(tmp_path: Path) -> None:
    eng = engine(tmp_path, FAIL5)
    # 10:58, 10:59, 11:00, 11:01, 11:02 - a tumbling hourly bucket would split it 2 + 3
    hits = run(eng, [ual("UserLoginFailed", m) for m in (0, 1, 2, 3, 4)])
    assert len(hits) == 1
    h = hits[0]
    assert h.group == {"UserId": "alice@contoso.com"}
    assert [r.index for r in h.refs] == [0, 1, 2, 3, 4]
    assert (h.first_seen, h.last_seen) == ("2023-06-14T10:58:00Z", "2023-06-14T11:02:00Z")


def test_event_count_threshold_both_sides(tmp_path: Path) -> None:
    eng = engine(tmp_path, FAIL5)
    assert run(eng, [ual("UserLoginFailed", m) for m in (0, 1, 2, 3)]) == []
    assert len(run(eng, [ual("UserLoginFailed", m) for m in (0, 1, 2, 3, 3.5)])) == 1


def test_event_count_window_both_sides(tmp_path: Path) -> None:
    eng = engine(tmp_path, FAIL5)
    # 5 events over 12 minutes: no 10-minute window holds 5
    assert run(eng, [ual("UserLoginFailed", m) for m in (0, 3, 6, 9, 12)]) == []
    # the window is half-open: an event exactly 10 minutes after the first is outside it
    assert run(eng, [ual("UserLoginFailed", m) for m in (0, 1, 2, 3, 10)]) == []
    assert len(run(eng, [ual("UserLoginFailed", m) for m in (0, 1, 2, 3, 9.9)])) == 1


def test_only_base_rule_matches_count(tmp_path: Path) -> None:
    eng = engine(tmp_path, FAIL5)
    recs = [ual("UserLoginFailed", m) for m in (0, 1, 2, 3)] + [ual("UserLoggedIn", 4)]
    assert run(eng, recs) == []


def test_group_by_is_case_insensitive_and_separates_groups(tmp_path: Path) -> None:
    eng = engine(tmp_path, FAIL5)
    recs = [ual("UserLoginFailed", m, user=u) for m, u in
            [(0, "Alice@Contoso.com"), (1, "alice@contoso.com"), (2, "ALICE@contoso.com"),
             (3, "alice@CONTOSO.com"), (4, "alice@contoso.com"),
             (0, "bob@contoso.com"), (1, "bob@contoso.com")]]
    hits = run(eng, recs)
    assert len(hits) == 1
    assert str(hits[0].group["UserId"]).lower() == "alice@contoso.com"
    assert len(hits[0].refs) == 5


def test_one_burst_is_one_hit_and_a_later_burst_another(tmp_path: Path) -> None:
    eng = engine(tmp_path, FAIL5)
    minutes = [0, 1, 2, 3, 4, 5, 6] + [60, 61, 62, 63, 64]
    hits = run(eng, [ual("UserLoginFailed", m) for m in minutes])
    assert [len(h.refs) for h in hits] == [7, 5]


def test_value_count(tmp_path: Path) -> None:
    docs = [base("acc", "MailItemsAccessed"),
            corr("value_count", ["acc"], "1h", group_by=["UserId"],
                 condition={"gte": 3, "field": "ClientIPAddress"})]
    eng = engine(tmp_path, docs)
    three = [ual("MailItemsAccessed", m, ClientIPAddress=ip)
             for m, ip in [(0, "1.1.1.1"), (5, "2.2.2.2"), (10, "3.3.3.3")]]
    hits = run(eng, three)
    assert len(hits) == 1 and hits[0].metric == 3
    repeated = [ual("MailItemsAccessed", m, ClientIPAddress=ip)
                for m, ip in [(0, "1.1.1.1"), (5, "2.2.2.2"), (10, "2.2.2.2"), (15, "1.1.1.1")]]
    assert run(eng, repeated) == []


def test_temporal_needs_every_rule_within_the_window(tmp_path: Path) -> None:
    docs = [base("rule_new", "New-InboxRule"), base("rule_fwd", "Set-Mailbox"),
            corr("temporal", ["rule_new", "rule_fwd"], "5m", group_by=["UserId"])]
    eng = engine(tmp_path, docs)
    hits = run(eng, [ual("Set-Mailbox", 0), ual("New-InboxRule", 4)])
    assert len(hits) == 1 and [r.index for r in hits[0].refs] == [0, 1]
    assert run(eng, [ual("Set-Mailbox", 0), ual("New-InboxRule", 6)]) == []
    assert run(eng, [ual("Set-Mailbox", 0), ual("Set-Mailbox", 1)]) == []


def test_temporal_ordered_needs_the_rule_order(tmp_path: Path) -> None:
    docs = [base("first", "UserLoggedIn"), base("second", "New-InboxRule"),
            corr("temporal_ordered", ["first", "second"], "10m", group_by=["UserId"])]
    eng = engine(tmp_path, docs)
    hits = run(eng, [ual("UserLoggedIn", 0), ual("New-InboxRule", 3)])
    assert len(hits) == 1 and [r.index for r in hits[0].refs] == [0, 1]
    assert run(eng, [ual("New-InboxRule", 0), ual("UserLoggedIn", 3)]) == []


def test_aliases_join_fields_of_different_log_sources(tmp_path: Path) -> None:
    docs = [base("signin", "SignInLogs", SIGNIN, field="category"),
            base("rule", "New-InboxRule"),
            corr("temporal", ["signin", "rule"], "30m", group_by=["user"],
                 aliases={"user": {"signin": "properties.userPrincipalName", "rule": "UserId"}})]
    eng = engine(tmp_path, docs)
    signin = {"category": "SignInLogs", "time": "2023-06-14T10:50:00.1234567Z",
              "properties": {"userPrincipalName": "Alice@contoso.com"}}
    hits = run(eng, [signin, ual("New-InboxRule", 0)])
    assert len(hits) == 1 and str(hits[0].group["user"]).lower() == "alice@contoso.com"
    other = {**signin, "properties": {"userPrincipalName": "bob@contoso.com"}}
    assert run(eng, [other, ual("New-InboxRule", 0)]) == []


@pytest.mark.parametrize(("generate", "emitted"), [(False, 0), (True, 1)])
def test_generate_controls_base_rule_hits(tmp_path: Path, generate: bool, emitted: int) -> None:
    docs = [base("fail", "UserLoginFailed"),
            corr("event_count", ["fail"], "10m", group_by=["UserId"], condition={"gte": 5},
                 generate=generate)]
    eng = engine(tmp_path, docs)
    assert len(eng.process(ual("UserLoginFailed", 0), EventRef("x", 0))) == emitted


def test_missing_timestamp_is_reported_with_the_single_event_hits(tmp_path: Path) -> None:
    docs = [base("fail", "UserLoginFailed"),
            corr("event_count", ["fail"], "10m", group_by=["UserId"], condition={"gte": 1},
                 generate=True)]
    eng = engine(tmp_path, docs)
    rec = ual("UserLoginFailed", 0)
    rec["CreationTime"] = "yesterday"
    with pytest.raises(TimestampError) as exc:
        eng.process(rec, EventRef("f.jsonl", 7))
    assert exc.value.ref == EventRef("f.jsonl", 7) and len(exc.value.hits) == 1
    assert "CreationTime" in str(exc.value) and "f.jsonl" in str(exc.value)
    assert eng.finish() == []


def test_finish_clears_the_state(tmp_path: Path) -> None:
    eng = engine(tmp_path, FAIL5)
    assert len(run(eng, [ual("UserLoginFailed", m) for m in (0, 1, 2, 3, 4)])) == 1
    assert run(eng, [ual("UserLoginFailed", 5)]) == []


def test_temporal_ordered_three_rules(tmp_path: Path) -> None:
    docs = [base("r1", "UserLoggedIn"), base("r2", "New-InboxRule"), base("r3", "Set-Mailbox"),
            corr("temporal_ordered", ["r1", "r2", "r3"], "10m", group_by=["UserId"])]
    eng = engine(tmp_path, docs)
    hits = run(eng, [ual("Set-Mailbox", 0), ual("UserLoggedIn", 1), ual("New-InboxRule", 2),
                     ual("UserLoggedIn", 3), ual("Set-Mailbox", 4)])
    assert len(hits) == 1 and [r.index for r in hits[0].refs] == [1, 2, 4]
    assert run(eng, [ual("UserLoggedIn", 0), ual("Set-Mailbox", 1), ual("New-InboxRule", 2)]) == []
    assert run(eng, [ual("UserLoggedIn", 0), ual("New-InboxRule", 2), ual("Set-Mailbox", 10)]) == []


def test_temporal_extended_condition(tmp_path: Path) -> None:
    docs = [base("login", "UserLoggedIn"), base("mfa", "MfaCompleted"),
            {"title": "login without mfa", "status": "test", "level": "high",
             "correlation": {"type": "temporal", "rules": ["login", "mfa"], "group-by": ["UserId"],
                             "timespan": "5m", "condition": "login and not mfa"}}]
    eng = engine(tmp_path, docs)
    assert len(run(eng, [ual("UserLoggedIn", 0)])) == 1
    assert run(eng, [ual("UserLoggedIn", 0), ual("MfaCompleted", 1)]) == []


@pytest.mark.parametrize(
    ("ctype", "condition", "counts", "fires"),
    [
        ("value_sum", {"gte": 100}, [40, 30, 30], True),
        ("value_sum", {"gte": 100}, [40, 30, 29], False),
        ("value_avg", {"gt": 20}, [10, 40], True),
        ("value_avg", {"gt": 25}, [30, 10, 20], False),  # no window (from any event) averages > 25
        ("value_median", {"gte": 30}, [1, 30, 50], True),
        ("value_median", {"gte": 31}, [50, 30, 1], False),
        ("value_percentile", {"gte": 50, "percentile": 100}, [1, 2, 50], True),
        ("value_percentile", {"gte": 3, "percentile": 50}, [50, 2, 1], False),
    ],
)
def test_value_statistics(tmp_path: Path, ctype: str, condition: dict[str, Any], counts: list[int],
                          fires: bool) -> None:
    docs = [base("bind", "MailItemsAccessed"),
            corr(ctype, ["bind"], "1h", group_by=["UserId"],
                 condition={**condition, "field": "OperationCount"})]
    eng = engine(tmp_path, docs)
    recs = [ual("MailItemsAccessed", m, OperationCount=c) for m, c in enumerate(counts)]
    recs.append(ual("MailItemsAccessed", 90, OperationCount=1000))  # outside the window
    hits = run(eng, recs)
    assert [r.index for h in hits for r in h.refs if r.index < len(counts)] == (
        list(range(len(counts))) if fires else [])


def test_value_count_slides_past_a_window_that_does_not_fire(tmp_path: Path) -> None:
    docs = [base("acc", "MailItemsAccessed"),
            corr("value_count", ["acc"], "10m", group_by=["UserId"],
                 condition={"gte": 3, "field": "ClientIPAddress"})]
    eng = engine(tmp_path, docs)
    # the window from minute 0 holds one address; the one from minute 5 holds three
    recs = [ual("MailItemsAccessed", m, ClientIPAddress=ip)
            for m, ip in [(0, "1.1.1.1"), (5, "1.1.1.1"), (11, "2.2.2.2"), (13, "3.3.3.3"), (15, "4.4.4.4")]]
    hits = run(eng, recs)
    assert len(hits) == 1 and [r.index for r in hits[0].refs] == [1, 2, 3]

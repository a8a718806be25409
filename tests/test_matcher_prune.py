"""Bounded correlation state (``Engine.set_max_disorder``): the pruning engine gives exactly the
hits of the whole-input evaluation on input in time order (ascending or descending) with disorder
within the bound, and reports (never silently drops) records that arrive later than that."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stormpack.matcher import CorrelationHit, Engine, EventRef
from stormpack.ruleset import load_ruleset

M365 = {"product": "m365", "service": "audit"}
T0 = datetime(2023, 6, 14, 10, 0, 0)


def base(name: str, operation: str) -> dict[str, Any]:
    return {"title": f"base {name}", "name": name, "status": "test", "logsource": M365,
            "detection": {"sel": {"Operation": operation}, "condition": "sel"}, "level": "low"}


def corr(title: str, ctype: str, rules: list[str], timespan: str,
         condition: dict[str, Any]) -> dict[str, Any]:
    return {"title": title, "status": "test", "level": "high",
            "correlation": {"type": ctype, "rules": rules, "timespan": timespan,
                            "group-by": ["UserId"], "condition": condition}}


RULES = [
    base("a", "OpA"), base("b", "OpB"), base("c", "OpC"),
    corr("count a", "event_count", ["a"], "10m", {"gte": 3}),
    corr("ips b", "value_count", ["b"], "15m", {"gte": 2, "field": "ClientIP"}),
    corr("a with b", "temporal", ["a", "b"], "10m", {"gte": 2}),
    corr("a then c", "temporal_ordered", ["a", "c"], "20m", {"gte": 2}),
]
DISORDER = 300.0  # seconds allowed out of place in the tests below


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prune") / "rules.yml"
    path.write_text(yaml.safe_dump_all(RULES, sort_keys=False), encoding="utf-8")
    return path


def make_engine(rules_file: Path, disorder: float | None, settle_every: int = 1) -> Engine:
    eng = Engine.build(load_ruleset([rules_file]), {})
    eng.set_max_disorder(disorder, settle_every=settle_every)
    return eng


def record(seconds: int, op: str, user: str, ip: str) -> dict[str, Any]:
    return {"CreationTime": (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S"),
            "RecordType": 2, "Operation": op, "UserId": user, "ClientIP": ip}


def replay(eng: Engine, records: list[dict[str, Any]]) -> list[CorrelationHit]:
    out: list[CorrelationHit] = []
    for i, r in enumerate(records):
        eng.process(r, EventRef("f", i))
        if i % 7 == 0:
            out.extend(eng.drain())
    return out + eng.finish()


def key(h: CorrelationHit) -> tuple[Any, ...]:
    return (h.rule.title, tuple(sorted(h.group.items())), tuple(r.index for r in h.refs),
            h.first_seen, h.last_seen, h.metric)


events = st.lists(
    st.tuples(st.integers(0, 4 * 3600), st.sampled_from(["OpA", "OpB", "OpC", "Other"]),
              st.sampled_from(["alice@x", "ALICE@x", "bob@x", "carol@x"]),
              st.sampled_from(["1.1.1.1", "2.2.2.2", "3.3.3.3"])),
    max_size=250,
)


def arrange(evs: list[tuple[int, str, str, str]], direction: int, jitter: float, seed: int
            ) -> list[dict[str, Any]]:
    """Time order (direction +1 / -1), each record displaced by at most ``jitter`` seconds."""
    rnd = random.Random(seed)
    keyed = [(direction * t + rnd.uniform(0, jitter), i) for i, (t, *_rest) in enumerate(evs)]
    keyed.sort()
    return [record(*evs[i]) for _k, i in keyed]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(evs=events, direction=st.sampled_from([1, -1]), shuffled=st.booleans(), seed=st.integers(0, 999),
       every=st.sampled_from([1, 4, 50]))
def test_within_the_bound_pruning_gives_identical_hits(
    rules_file: Path, evs: list[tuple[int, str, str, str]], direction: int, shuffled: bool, seed: int,
    every: int,
) -> None:
    records = arrange(evs, direction, DISORDER if shuffled else 0.0, seed)
    whole = replay(make_engine(rules_file, None), records)
    pruning = make_engine(rules_file, DISORDER, every)
    pruned = replay(pruning, records)
    assert pruning.late_records == 0
    assert sorted(map(key, pruned)) == sorted(map(key, whole))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(evs=events, direction=st.sampled_from([1, -1]), seed=st.integers(0, 999))
def test_beyond_the_bound_late_records_are_reported_and_hits_stay_true(
    rules_file: Path, evs: list[tuple[int, str, str, str]], direction: int, seed: int
) -> None:
    records = arrange(evs, direction, 6 * DISORDER, seed)
    whole = replay(make_engine(rules_file, None), records)
    pruning = make_engine(rules_file, DISORDER)
    pruned = replay(pruning, records)
    if pruning.late_records == 0:
        assert sorted(map(key, pruned)) == sorted(map(key, whole))
        return
    assert len(pruning.late_samples) == pruning.late_records
    # every hit reported is a real one: its records alone make the same rule fire with them all
    for h in pruned:
        alone = make_engine(rules_file, None)
        again = replay(alone, [records[r.index] for r in h.refs])
        mine = [g for g in again if g.rule.title == h.rule.title]
        assert [len(g.refs) for g in mine] == [len(h.refs)], (h, mine)


def steady(n: int, step: int) -> list[dict[str, Any]]:
    users = ["alice@x", "bob@x", "carol@x"]
    return [record(i * step, "OpA" if i % 2 else "OpB", users[i % 3], f"10.0.0.{i % 5}") for i in range(n)]


@pytest.mark.parametrize("direction", [1, -1])
def test_memory_is_bounded_on_time_ordered_input(rules_file: Path, direction: int) -> None:
    # one record a minute for ~8 days; descending needs gaps >= timespan, so pause every 50 records
    records = steady(12000, 60)
    if direction < 0:
        records = [dict(r, CreationTime=(T0 + timedelta(seconds=i * 60 + (i // 50) * 3600)).strftime(
            "%Y-%m-%dT%H:%M:%S")) for i, r in enumerate(records)][::-1]
    whole_engine = make_engine(rules_file, None)
    whole = replay(whole_engine, records)
    pruning = make_engine(rules_file, DISORDER, 1024)
    pruned = replay(pruning, records)
    assert sorted(map(key, pruned)) == sorted(map(key, whole))
    peak_whole = max(e.kept_peak for e in whole_engine.correlations)
    peak = max(e.kept_peak for e in pruning.correlations)
    assert peak_whole > 5000
    assert peak < 2500


def test_a_late_record_is_reported_not_used(rules_file: Path) -> None:
    records = [record(i * 60, "OpA", "alice@x", "1.1.1.1") for i in range(0, 3000, 20)]
    assert not any(records[0] == r for r in records[1:])
    late = record(5, "OpA", "alice@x", "1.1.1.1")  # three days behind the newest record
    eng = make_engine(rules_file, DISORDER)
    for i, r in enumerate([*records, late]):
        eng.process(r, EventRef("f.jsonl", i))
    eng.finish()
    assert eng.late_records == 1
    assert eng.late_samples[0].startswith(f"f.jsonl: record {len(records)} (time 2023-06-14T10:00:05)")
    assert "'count a'" in eng.late_samples[0] and "'a with b'" in eng.late_samples[0]


def test_unbounded_engine_never_reports_late(rules_file: Path) -> None:
    records = [record(t, "OpA", "alice@x", "1.1.1.1") for t in (9000, 10, 5000, 20, 30)]
    eng = make_engine(rules_file, None)
    hits = replay(eng, records)
    assert eng.late_records == 0
    assert [[r.index for r in h.refs] for h in hits if h.rule.title == "count a"] == [[1, 3, 4]]


def test_negative_disorder_is_refused(rules_file: Path) -> None:
    from stormpack.errors import MatcherError

    with pytest.raises(MatcherError, match="disorder"):
        make_engine(rules_file, -1.0)

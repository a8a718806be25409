"""Issue 10 acceptance: the BUILT rules, run as each product schedules them over consecutive runs,
with records ingested late (compiler/stormpack/execute/timeline.py holds the product side).

Single-event rules, every target: each fixture event alone on a timeline, ingested 0 minutes,
37 minutes and 2 hours after its event time (first case) and 24 hours after it (second case),
with the first run at several phases of the schedule: a positive event alerts in exactly one
run, a negative event in none. What makes it exactly once is the schedule model
(docs/deploy.md, "Schedule, ingestion delay and duplicates"), not suppression.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stormpack import firstseen
from stormpack.artifacts import settings
from stormpack.artifacts.build import collect_metas
from stormpack.artifacts.pack import build_pack
from stormpack.artifacts.schedule import rule_delay
from stormpack.compiler.registry import ARTIFACT_TARGETS
from stormpack.execute.timeline import (
    Alert,
    Arrival,
    Deployed,
    Timeline,
    arrival,
    load_defender,
    load_sentinel,
    load_splunk,
    sentinel_watchlists,
)
from stormpack.fixtures import FixtureCase, load_fixture_dir
from stormpack.ruleset import load_ruleset, load_values

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
FIXTURES = ROOT / "fixtures"
#: the rules are enabled at these instants: runs fall at different phases of the records' times
ANCHORS = (datetime(2023, 1, 1, 0, 0, tzinfo=UTC), datetime(2023, 1, 1, 0, 23, 17, tzinfo=UTC))
UP_TO_2H = (timedelta(0), timedelta(minutes=37), timedelta(hours=2))
DAY_LATE = (timedelta(hours=24),)


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    build_pack([RULES], load_values(FIXTURES / "values"), out)
    return out


@pytest.fixture(scope="module")
def stems() -> dict[str, tuple[str, bool]]:
    """title -> (rule file stem, is a correlation)."""
    out: dict[str, tuple[str, bool]] = {}
    for lr in load_ruleset([RULES]).rules:
        out[str(lr.rule.title)] = (lr.path.stem, lr.rule.__class__.__name__ == "SigmaCorrelationRule")
    return out


def _deployed(build: Path, target: str, anchor: datetime,
              stems: dict[str, tuple[str, bool]]) -> dict[str, Deployed]:
    """rule file stem -> the built rule."""
    if target == "sentinel":
        return load_sentinel(build / "sentinel", anchor)
    if target == "defender":
        return load_defender(build / "defender", anchor)
    by_stanza = load_splunk(build / "splunk" / settings.SPLUNK_APP_ID)
    return {stems[name.removeprefix("stormpack - ").removesuffix(" - Rule")][0]: d
            for name, d in by_stanza.items()}


def _timeline(build: Path, target: str) -> Timeline:
    if target == "splunk":
        return Timeline("splunk", splunk_app=build / "splunk" / settings.SPLUNK_APP_ID)
    watch = sentinel_watchlists(build / "sentinel") if target == "sentinel" else {}
    return Timeline(target, watchlists=watch)


def _single_cases(stem: str) -> Iterator[tuple[FixtureCase, int, bool]]:
    for case in load_fixture_dir(FIXTURES / stem):
        expected = case.expected_indices()
        for i in range(len(case.events)):
            yield case, i, i in expected


def _covered() -> dict[str, timedelta]:
    """rule file stem -> the ingestion delay its schedule covers (24 h cloud, 2 h Windows)."""
    return {m.stem: rule_delay(m) for m in collect_metas(list(load_ruleset([RULES]))).values()}


def _run_single(build: Path, target: str, delays: tuple[timedelta, ...],
                stems: dict[str, tuple[str, bool]]) -> tuple[list[str], int, int]:
    tl = _timeline(build, target)
    covered = _covered()
    singles = {s for s, corr in stems.values() if not corr}
    failures: list[str] = []
    positives = negatives = 0
    for anchor in ANCHORS:
        rules = _deployed(build, target, anchor, stems)
        for stem, rule in sorted(rules.items()):
            if stem not in singles:
                continue
            for case, i, positive in _single_cases(stem):
                for delay in delays:
                    if delay > covered[stem]:
                        continue  # beyond what the rule covers: missed, never duplicated (below)
                    arr = arrival(case.events[i].record, delay)
                    assert arr is not None, f"{case.path} event {i}: no log source"
                    if tl.rows(arr) is None:  # not collected by this product: nothing to run
                        continue
                    alerts = tl.simulate(rule, [arr])
                    want = 1 if positive else 0
                    positives += positive
                    negatives += not positive
                    if len(alerts) != want:
                        runs = ", ".join(a.run_at.strftime("%m-%d %H:%M") for a in alerts)
                        failures.append(f"{target} {stem}/{case.path.name} event {i} delay {delay} "
                                        f"anchor {anchor:%H:%M:%S}: {len(alerts)} alerts (want {want})"
                                        f" at [{runs}]")
    return failures, positives, negatives


@pytest.mark.parametrize(("delays", "least"), [(UP_TO_2H, 100), (DAY_LATE, 30)], ids=["up_to_2h", "24h"])
@pytest.mark.parametrize("target", ARTIFACT_TARGETS)
def test_single_event_rules_alert_exactly_once_with_ingestion_delay(
        build: Path, stems: dict[str, tuple[str, bool]], target: str, delays: tuple[timedelta, ...],
        least: int) -> None:
    """With each delay of ``delays``, every positive case alerts once and every negative never,
    over more than ``least`` of each."""
    failures, positives, negatives = _run_single(build, target, delays, stems)
    assert not failures, "\n".join(failures[:40]) + f"\n... {len(failures)} in all"
    assert positives > least and negatives > least


def test_a_record_later_than_the_covered_delay_is_missed_not_duplicated(
        build: Path, stems: dict[str, tuple[str, bool]]) -> None:
    """The bound is real: 30 hours late (beyond the 24 hours covered) a Sentinel hourly rule's
    record has left its 25-hour lookback when it arrives; it never alerts twice."""
    tl = _timeline(build, "sentinel")
    rules = _deployed(build, "sentinel", ANCHORS[0], stems)
    stem = "m365_audit_mail_items_accessed_by_unsanctioned_client_app"
    case, i, positive = next(c for c in _single_cases(stem) if c[2])
    on_time = arrival(case.events[i].record, timedelta(0))
    late = arrival(case.events[i].record, timedelta(hours=30))
    assert on_time is not None and late is not None
    assert len(tl.simulate(rules[stem], [on_time])) == 1
    assert tl.simulate(rules[stem], [late]) == []


def test_without_the_ingestion_slice_the_same_schedule_alerts_many_times(
        build: Path, stems: dict[str, tuple[str, bool]]) -> None:
    """The simulation can fail: the same Sentinel rule with its ``ingestion_time()`` line
    removed alerts on every run whose 25-hour lookback holds the record."""
    tl = _timeline(build, "sentinel")
    stem = "m365_audit_mail_items_accessed_by_unsanctioned_client_app"
    rule = _deployed(build, "sentinel", ANCHORS[0], stems)[stem]
    lines = rule.query.splitlines()
    assert lines[1].startswith("| where ingestion_time() > ago(")
    bare = Deployed(rule.target, rule.name, "\n".join(lines[:1] + lines[2:]), rule.frequency,
                    rule.lookback, rule.runs_at)
    case, i, _ = next(c for c in _single_cases(stem) if c[2])
    arr = arrival(case.events[i].record, timedelta(minutes=37))
    assert arr is not None
    alerts: list[Alert] = tl.simulate(bare, [arr])
    assert len(alerts) >= 20
    assert len(tl.simulate(rule, [arr])) == 1


def test_arrival_uses_the_log_source_timestamp() -> None:
    rec = {"CreationTime": "2023-06-01T10:00:00", "RecordType": 50, "Workload": "Exchange",
           "Operation": "MailItemsAccessed"}
    arr = arrival(rec, timedelta(hours=2))
    assert isinstance(arr, Arrival) and arr.logsource == "m365_audit"
    assert arr.event_time == datetime(2023, 6, 1, 10, tzinfo=UTC)
    assert arr.arrived == datetime(2023, 6, 1, 12, tzinfo=UTC)


# ------------------------------------------------------------------------------- correlations
#: delay of the k-th record of a case: every other record late, so late halves must still pair
CORR_DELAYS = {"on time": lambda k: timedelta(0),
               "every other 2h late": lambda k: timedelta(hours=2 * (k % 2)),
               "every other 24h late": lambda k: timedelta(hours=24 * (k % 2))}


def _corr_alerts(build: Path, target: str, stems: dict[str, tuple[str, bool]]
                 ) -> Iterator[tuple[str, FixtureCase, str, set[str], dict[str, int], Deployed]]:
    """(rule, case, delay mode, expected groups, alerts per group, rule) for every correlation
    case. A group is its group-by values, as the output rows carry them."""
    tl = _timeline(build, target)
    rules = _deployed(build, target, ANCHORS[1], stems)
    group_by = {lr.path.stem: [str(g) for g in (getattr(lr.rule, "group_by", None) or [])]
                for lr in load_ruleset([RULES]).rules
                if stems[str(lr.rule.title)][1] and firstseen.spec_of(lr.rule) is None}
    for stem, rule in sorted(rules.items()):
        if stem not in group_by:
            continue
        keys = group_by[stem]
        for case in load_fixture_dir(FIXTURES / stem):
            named: set[str] | None = set()  # None: a positive case that names no groups
            if case.expect != "no_match":
                named = (None if case.groups is None else
                         {"|".join(str(g.get(k)).lower() for k in keys) for g in case.groups})
            for mode, delay in CORR_DELAYS.items():
                arrivals = [a for k, e in enumerate(case.events)
                            if (a := arrival(e.record, delay(k))) is not None]
                per_group: dict[str, int] = {}
                for alert in tl.simulate(rule, arrivals):
                    for g in {"|".join(str(r.get(k)).lower() for k in keys) for r in alert.rows}:
                        per_group[g] = per_group.get(g, 0) + 1
                # a case naming no groups wants at least one (whichever the query reports)
                want = named if named is not None else (set(per_group) or {"(any group)"})
                yield stem, case, mode, want, per_group, rule


def _splunk_suppresses_per_group(rule: Deployed, stem: str) -> None:
    """Splunk: the dispatch window covers window + interval + delay, and alert.suppress on the
    group-by fields for that long keeps each group to one alert. Windows slide (sort +
    streamstats time_window), so a pair across a clock-hour or day edge alerts too."""
    assert rule.suppression is not None and rule.suppression.duration == rule.lookback, stem
    assert rule.suppression.fields, stem  # per group (per-result alerts), not the whole rule


def _sentinel_leaves_out_prior_groups(rule: Deployed, stem: str) -> None:
    """Sentinel: queryPeriod covers window + interval + delay, and the query leaves out (leftanti
    join on the group-by columns) the groups it already finds over the records ingested up to
    the previous run, so each group alerts in the run that completes it. Windows slide, so a
    pair across a bucket edge (23:30 / 00:10) alerts too."""
    assert rule.suppression is None, stem  # rule-wide suppression would hide other groups
    assert "| join kind=leftanti (stormpack_prior) on " in rule.query, stem


@pytest.mark.parametrize(("target", "deployed_so"), [("splunk", _splunk_suppresses_per_group),
                                                      ("sentinel", _sentinel_leaves_out_prior_groups)])
def test_correlations_alert_once_per_group_with_late_halves(
        build: Path, stems: dict[str, tuple[str, bool]], target: str,
        deployed_so: Callable[[Deployed, str], None]) -> None:
    """Each correlation group alerts exactly once, however late its second half arrives; how the
    target's deployed rule makes it so is ``deployed_so``'s docstring."""
    failures, exact = [], 0
    for stem, case, mode, want, per_group, rule in _corr_alerts(build, target, stems):
        deployed_so(rule, stem)
        extra = set(per_group) - want
        twice = {g: n for g, n in per_group.items() if n > 1}
        missing = want - set(per_group)
        if extra or twice or missing:
            failures.append(f"{stem}/{case.path.name} [{mode}]: alerts {per_group}, want {sorted(want)}")
        exact += not missing and bool(want)
    assert not failures, "\n".join(failures)
    assert exact >= 12  # positive cases x delay modes alerting exactly once


def test_without_the_cut_a_sentinel_correlation_alerts_on_every_run(
        build: Path, stems: dict[str, tuple[str, bool]]) -> None:
    """The simulation can fail: the same correlation without its previous-run cut re-alerts on
    every run whose lookback still holds the group (the review's finding, issue 10 point 3)."""
    stem = "corr_m365_audit_owa_resource_token_issuance_burst"
    rule = _deployed(build, "sentinel", ANCHORS[1], stems)[stem]
    head, _, tail = rule.query.partition("\n| join kind=leftanti (stormpack_prior) on UserId")
    bare_query = head.split(";\n")[-1] + tail
    assert bare_query.startswith("OfficeActivity\n")
    bare = Deployed(rule.target, rule.name, bare_query, rule.frequency, rule.lookback, rule.runs_at)
    case = next(c for c in load_fixture_dir(FIXTURES / stem) if c.expect == "match")
    arrivals = [a for e in case.events if (a := arrival(e.record, timedelta(0))) is not None]
    tl = _timeline(build, "sentinel")
    assert len(tl.simulate(rule, arrivals)) == 1
    assert len(tl.simulate(bare, arrivals)) >= 20


# ------------------------------------------------------------------------------- hunting queries
def test_hunting_queries_find_the_campaign_positives_when_run_over_2023(
        build: Path, stems: dict[str, tuple[str, bool]]) -> None:
    """The time-bounded rules are shipped as hunting queries (never scheduled: no loader above
    finds them). Run once by an analyst over the campaign, each finds its positives and no
    negative, on Sentinel (hunting YAML) and Defender XDR (advanced hunting .kql)."""
    import yaml

    from stormpack.execute.kql import KqlExecutor
    from stormpack.execute.timeline import Deployed

    checked = 0
    for target in ("sentinel", "defender"):
        tl = _timeline(build, target)
        folder = build / target / "hunting"
        # the time-bounded ones (hunting-only rules of the alert budget are not campaign-bound)
        files = sorted(f for f in folder.glob("*.yaml" if target == "sentinel" else "*.kql")
                       if f.stem.endswith("_during_campaign"))
        assert len(files) == (4 if target == "sentinel" else 3)
        scheduled = _deployed(build, target, ANCHORS[0], stems)
        for f in files:
            assert f.stem.endswith("_during_campaign") and f.stem not in scheduled
            text = f.read_text(encoding="utf-8")
            query = str(yaml.safe_load(text)["query"]) if target == "sentinel" else text
            assert isinstance(tl.kql, KqlExecutor)
            for case, i, positive in _single_cases(f.stem):
                arr = arrival(case.events[i].record, timedelta(0))
                assert arr is not None
                if tl.rows(arr) is None:
                    continue
                once = Deployed(target, f.stem, query, timedelta(days=1), timedelta(days=3650),
                                lambda s, e: iter([e]))
                rows = tl.run_once(once, arr.event_time + timedelta(hours=1), [arr])
                assert bool(rows) is positive, (target, f.stem, case.path.name, i)
                checked += 1
    assert checked > 40


# ------------------------------------------------------------------------------- the product side
def test_cron_runs_of_the_forms_the_pack_uses() -> None:
    from stormpack.execute.timeline import TimelineError, cron_runs

    day = datetime(2024, 5, 1, tzinfo=UTC)
    step, runs = cron_runs("5 * * * *")
    assert step == timedelta(hours=1)
    assert list(runs(day, day + timedelta(hours=2))) == [day + timedelta(minutes=m) for m in (5, 65)]
    step, runs = cron_runs("*/15 * * * *")
    assert list(runs(day, day + timedelta(minutes=31))) == [day + timedelta(minutes=m) for m in (0, 15, 30)]
    step, runs = cron_runs("15 2 * * *")
    assert step == timedelta(days=1)
    assert list(runs(day, day + timedelta(days=1))) == [day + timedelta(hours=2, minutes=15)]
    for bad in ("0 0 * * 1", "*/15 3 * * *", "hourly"):
        with pytest.raises(TimelineError, match="not a form the simulation schedules"):
            cron_runs(bad)


def test_suppression_per_group_and_whole_rule() -> None:
    from stormpack.execute.timeline import Suppression

    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    quiet: dict[tuple[str, ...], datetime] = {}
    per_user = Suppression(timedelta(hours=2), ("UserId",))
    rows = [{"UserId": "A"}, {"UserId": "b"}]
    assert Timeline._unsuppressed(per_user, t0, rows, quiet) == rows
    later = [{"UserId": "a"}, {"UserId": "C"}]  # A again (case-insensitive), C new
    assert Timeline._unsuppressed(per_user, t0 + timedelta(hours=1), later, quiet) == [{"UserId": "C"}]
    assert Timeline._unsuppressed(per_user, t0 + timedelta(hours=2), later, quiet) == [{"UserId": "a"}]
    whole: dict[tuple[str, ...], datetime] = {}
    rule = Suppression(timedelta(hours=2))
    assert Timeline._unsuppressed(rule, t0, rows, whole)
    assert Timeline._unsuppressed(rule, t0 + timedelta(hours=1), later, whole) == []


def test_unschedulable_splunk_cron_names_the_stanza(tmp_path: Path) -> None:
    from stormpack.execute.timeline import TimelineError

    app = tmp_path / "app"
    (app / "default").mkdir(parents=True)
    (app / "default" / "savedsearches.conf").write_text(
        "[weekly]\nsearch = index=* a=1\nenableSched = 1\ncron_schedule = 0 0 * * 1\n"
        "dispatch.earliest_time = -7d@d\ndispatch.latest_time = @d\n", encoding="utf-8")
    with pytest.raises(TimelineError, match=r"savedsearches.conf \[weekly\]: cron_schedule '0 0 \* \* 1'"):
        load_splunk(app)


# ------------------------------------------------------------------------------- first seen
@pytest.mark.parametrize("target", ["sentinel", "splunk"])
def test_first_seen_rules_alert_once_per_new_value_after_the_learning_window(
        build: Path, stems: dict[str, tuple[str, bool]], target: str) -> None:
    """A first-seen rule (docs/deploy.md, "First-seen rules"), run on its schedule over its
    cases with late halves: after one learning window of history, each new (group, value) alerts
    in exactly one run and nothing else alerts. Sentinel: the slice is the records ingested since
    the previous run; Splunk: the slice is interval + delay back, suppressed per group and value.
    Before one learning window has passed every value is new: those runs are the deployment's
    learning period (the matcher does not alert in it either)."""
    specs = {lr.path.stem: spec for lr in load_ruleset([RULES]).rules
             if (spec := firstseen.spec_of(lr.rule)) is not None}
    assert specs
    tl = _timeline(build, target)
    rules = _deployed(build, target, ANCHORS[1], stems)
    failures, exact = [], 0
    for stem, spec in sorted(specs.items()):
        rule = rules[stem]
        assert "stormpack_prior" not in rule.query, stem  # the slice, not the previous-run cut
        if target == "splunk":
            assert rule.suppression is not None and rule.suppression.fields == spec.keys, stem
        for case in load_fixture_dir(FIXTURES / stem):
            want = ({"|".join(str(g.get(k)).lower() for k in spec.keys) for g in case.groups or []}
                    if case.expect == "match" else set())
            for mode, delay in CORR_DELAYS.items():
                arrivals = [a for k, e in enumerate(case.events)
                            if (a := arrival(e.record, delay(k))) is not None]
                armed = min(a.event_time for a in arrivals) + spec.learning
                per_group: dict[str, int] = {}
                for alert in tl.simulate(rule, arrivals):
                    if alert.run_at < armed:
                        continue
                    for g in {"|".join(str(r.get(k)).lower() for k in spec.keys) for r in alert.rows}:
                        per_group[g] = per_group.get(g, 0) + 1
                if set(per_group) != want or any(n > 1 for n in per_group.values()):
                    failures.append(f"{stem}/{case.path.name} [{mode}]: alerts {per_group}, "
                                    f"want {sorted(want)}")
                exact += bool(want) and set(per_group) == want
    assert not failures, "\n".join(failures)
    assert exact >= 6  # 2 positive cases x 3 delay modes

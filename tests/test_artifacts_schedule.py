"""The schedule model, read back from the BUILT files of the pack (issue 10, points 1-3).

Each product behaviour relied on is in docs/deploy.md with its source; the numbers the tests
compare with are the products' documented values, written here independently of settings.py:

* Sentinel: queryPeriod and queryFrequency 5 minutes .. 14 days; a rule keeps the records
  ingested since the previous run (``ingestion_time() > ago(frequency)``) and looks back by
  TimeGenerated over the run interval plus the ingestion delay.
* Defender XDR: every hour reads 4 hours, every 3 hours 12, every 12 hours 48, every 24 hours
  30 days (custom-detection-rules, "Rule frequency").
* Splunk: dispatch.earliest_time/latest_time bound _time, ``_index_earliest``/``_index_latest``
  bound _indextime (time modifiers reference).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import addonfactory_splunk_conf_parser_lib as conf
import pytest
import yaml

from artifacts_support import attribute_refusal
from stormpack.artifacts import settings
from stormpack.artifacts.build import collect_metas
from stormpack.artifacts.durations import parse_duration
from stormpack.artifacts.model import RuleMeta
from stormpack.artifacts.pack import build_pack
from stormpack.artifacts.schedule import cron_interval, rule_delay
from stormpack.compiler import compile_rules
from stormpack.ruleset import load_ruleset, load_values

ROOT = Path(__file__).resolve().parents[1]
PACK_RULES = ROOT / "rules"
PACK_VALUES = ROOT / "values"

DAY = timedelta(hours=24)
DEFENDER = {"1H": (timedelta(hours=1), timedelta(hours=4)), "3H": (timedelta(hours=3), timedelta(hours=12)),
            "12H": (timedelta(hours=12), timedelta(hours=48)), "24H": (DAY, timedelta(days=30))}


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pack")
    build_pack([PACK_RULES], PACK_VALUES, out)
    return out


@pytest.fixture(scope="module")
def metas() -> dict[str, RuleMeta]:
    return {m.title: m for m in collect_metas(list(load_ruleset([PACK_RULES]))).values()}


def _window(meta: RuleMeta) -> timedelta:
    return meta.timespan if meta.is_correlation and meta.timespan else timedelta(0)


def _minutes(value: str) -> timedelta:
    m = re.fullmatch(r"-(\d+)m@m", value)
    assert m, value
    return timedelta(minutes=int(m.group(1)))


def test_splunk_search_window_covers_timespan_plus_schedule_plus_delay(build: Path,
                                                                      metas: dict[str, RuleMeta]) -> None:
    saved = conf.TABConfigParser()
    saved.read(str(build / "splunk" / settings.SPLUNK_APP_ID / "default" / "savedsearches.conf"))
    correlations = 0
    for name in saved.sections():
        if name.endswith(" - Hunt"):  # a time-bounded hunting report has no schedule
            continue
        meta = metas[name.removeprefix("stormpack - ").removesuffix(" - Rule")]
        interval = cron_interval(saved.get(name, "cron_schedule"))
        assert interval is not None, name
        earliest = _minutes(saved.get(name, "dispatch.earliest_time"))
        assert saved.get(name, "dispatch.latest_time") == "@m"
        assert earliest == interval + rule_delay(meta) + _window(meta), name
        search = saved.get(name, "search")
        slice_terms = f"_index_earliest=-{int(interval.total_seconds()) // 60}m@m _index_latest=@m"
        if meta.is_correlation:
            correlations += 1
            assert meta.timespan is not None and earliest >= meta.timespan + interval
            assert "_index_earliest" not in search  # a correlation needs its older halves
        else:
            assert slice_terms in search, name
    # every correlation the pack compiles for Splunk was checked (none skipped by the loop)
    compiled = compile_rules([PACK_RULES], "splunk", load_values(PACK_VALUES)).queries
    assert correlations == sum(1 for q in compiled if q.is_correlation
                               and not metas[q.title].is_hunting)
    assert correlations >= 5


def test_the_two_long_splunk_correlations_now_search_their_window(build: Path) -> None:
    """The review's finding: 24-hour and 7-day correlations dispatched over 70 minutes."""
    saved = conf.TABConfigParser()
    saved.read(str(build / "splunk" / settings.SPLUNK_APP_ID / "default" / "savedsearches.conf"))
    forwarding = "stormpack - Inbox Forwarding And Hiding Rules By Same User - Rule"
    credential = "stormpack - App Credential Added Then Unknown App Reads Mail - Rule"
    assert _minutes(saved.get(forwarding, "dispatch.earliest_time")) >= DAY + DAY
    assert _minutes(saved.get(credential, "dispatch.earliest_time")) >= timedelta(days=7) + DAY


def test_sentinel_lookback_and_ingestion_filter_follow_the_schedule(build: Path,
                                                                   metas: dict[str, RuleMeta]) -> None:
    by_id = {m.id: m for m in metas.values()}
    files = sorted((build / "sentinel").glob("*.yaml"))
    assert len(files) >= 30
    for f in files:
        d = yaml.safe_load(f.read_text(encoding="utf-8"))
        meta = by_id[d["id"]]
        freq, period = parse_duration(d["queryFrequency"]), parse_duration(d["queryPeriod"])
        assert timedelta(minutes=5) <= freq <= period <= timedelta(days=14), f.name
        if meta.first_seen is not None:  # the learning window is cut to queryPeriod's 14 days
            learning = meta.first_seen.learning
            assert period == min(freq + rule_delay(meta) + learning, timedelta(days=14)), f.name
        else:
            assert period == freq + rule_delay(meta) + _window(meta), f.name
        lines = d["query"].splitlines()
        if not meta.is_correlation:
            assert lines[1] == f"| where ingestion_time() > ago({d['queryFrequency']})", f.name


def test_defender_period_reads_the_settled_slice(build: Path, metas: dict[str, RuleMeta]) -> None:
    files = sorted((build / "defender").glob("*.json"))
    assert files
    for f in files:
        d = json.loads(f.read_text(encoding="utf-8"))
        meta = metas[d["displayName"]]
        period = d["schedule"]["period"]
        freq, lookback = DEFENDER[period]
        delay = rule_delay(meta)  # 24 hours for the cloud log sources, 2 for the Windows ones
        assert lookback >= delay + freq, f.name
        # the least frequent period needed: the one before it (if the level allows it) is too short
        order = list(DEFENDER)
        level_period = settings.SCHEDULE_BY_LEVEL[meta.level].defender_period
        if order.index(period) > order.index(level_period):
            f0, l0 = DEFENDER[order[order.index(period) - 1]]
            assert l0 < delay + f0
        hours = int((delay + freq).total_seconds()) // 3600
        until = "1d" if delay == DAY else f"{int(delay.total_seconds()) // 3600}h"
        second = d["queryCondition"]["queryText"].splitlines()[1]
        assert second == f"| where Timestamp >= ago({hours}h) and Timestamp < ago({until})", f.name


def test_a_period_override_shorter_than_the_delay_fails_naming_the_line(tmp_path: Path) -> None:
    error, where = attribute_refusal(tmp_path, "sentinel_query_period: 2h")
    assert (f"{where}: custom attribute sentinel_query_period: 2h is shorter than queryFrequency 1h"
            " + ingestion delay 1d") in error


def test_splunk_window_overrides_are_refused(tmp_path: Path) -> None:
    error, _ = attribute_refusal(tmp_path, "splunk_earliest_time: -70m@m")
    assert "splunk_earliest_time is no longer read" in error


@pytest.mark.parametrize(("cron", "interval"), [
    ("*/15 * * * *", timedelta(minutes=15)), ("5 * * * *", timedelta(hours=1)),
    ("0 */6 * * *", timedelta(hours=6)), ("15 2 * * *", DAY), ("0 0 * * 1", None), ("*/7 * * * *", None),
])
def test_cron_run_interval(cron: str, interval: timedelta | None) -> None:
    assert cron_interval(cron) == interval

"""The schedule model: when each product runs a rule, which records a run reads, which it alerts on.

A run at time ``t`` READS the records whose event time lies in its lookback and that have
arrived by ``t``. It ALERTS on new matches only, so that consecutive runs never report the same
record twice and a record that arrives late is still reported once:

* ``new_by="ingestion"`` (Sentinel ``ingestion_time()``, Splunk ``_indextime``): a record is new
  in the run whose interval ``(t - frequency, t]`` holds its arrival. With
  ``lookback >= frequency + delay`` a record arriving at most ``delay`` after its event time is
  still inside the lookback of that run: reported exactly once.
* ``new_by="event"`` (Defender XDR: advanced hunting documents no ingestion time): a record is
  new in the run whose SETTLED slice ``[t - delay - frequency, t - delay)`` holds its event time.
  With ``lookback >= delay + frequency`` every record has arrived when its slice is evaluated:
  reported exactly once, ``delay`` late.

A correlation (window ``w``) reads ``frequency + delay + w`` and alerts on a group once:
Sentinel's query keeps the groups that hold over everything read but not over the records
ingested by the previous run (:func:`.sentinel.new_groups_only`); Splunk throttles each group
(``alert.suppress.fields``) for the dispatch window.

Every product behaviour used here is documented, with its source, in docs/deploy.md; the
product side is simulated by :mod:`stormpack.execute.timeline` (tests/test_schedule_simulation.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from ..errors import ArtifactError, Location
from ..syntax import KQL
from . import settings
from .durations import parse_duration, to_short
from .firstseen import sentinel_learning
from .model import RuleMeta

Target = Literal["sentinel", "defender", "splunk"]


@dataclass(frozen=True)
class RunPlan:
    """How one product runs one rule."""

    target: str
    frequency: timedelta  # run interval
    lookback: timedelta  # event-time range each run reads
    delay: timedelta  # ingestion delay tolerated (records later than this may be missed)
    window: timedelta | None  # correlation timespan
    #: how a run keeps only new records: by ingestion time (Sentinel ``ingestion_time()``,
    #: Splunk ``_indextime``) or by a settled event-time slice (Defender XDR)
    new_by: Literal["ingestion", "event"]


def rule_delay(meta: RuleMeta) -> timedelta:
    """The ingestion delay a rule's schedule covers: its ``ingestion_delay`` attribute, else the
    largest covered delay of its log sources."""
    raw = meta.custom.get(settings.ATTR_INGESTION_DELAY)
    if raw is not None:
        try:
            return parse_duration(str(raw))
        except ValueError as exc:
            raise ArtifactError(f"custom attribute {settings.ATTR_INGESTION_DELAY}: {exc}",
                                meta.location(f"{settings.ATTR_INGESTION_DELAY}:")) from None
    known = [settings.INGESTION_LATENCY[k].covered for k in meta.logsources
             if k in settings.INGESTION_LATENCY]
    return max(known, default=settings.DEFAULT_INGESTION_DELAY)


def _window(meta: RuleMeta) -> timedelta:
    return meta.timespan if meta.is_correlation and meta.timespan is not None else timedelta(0)


def _duration_attr(meta: RuleMeta, key: str) -> timedelta | None:
    raw = meta.custom.get(key)
    if raw is None:
        return None
    try:
        return parse_duration(str(raw))
    except ValueError as exc:
        raise ArtifactError(f"custom attribute {key}: {exc}", meta.location(f"{key}:")) from None


def after_table(query: str, line: str, where: Location) -> str:
    """``line`` right after the table a KQL query starts with (``ingestion_time()`` reads the
    hidden ingestion column, which later operators such as project and summarize drop)."""
    first, _, rest = query.partition("\n")
    if not KQL.is_ident(first.strip()):
        raise ArtifactError(f"the query does not start with its table ('{first[:60]}'); the "
                            "schedule's time filter has no place to go", where)
    return f"{first}\n{line}" + (f"\n{rest}" if rest else "")


# ------------------------------------------------------------------------------- Sentinel
def sentinel_plan(meta: RuleMeta) -> RunPlan:
    """queryFrequency = the level's (or ``sentinel_query_frequency``); queryPeriod = frequency +
    ingestion delay + correlation window (or ``sentinel_query_period``, which must cover them)."""
    sched = settings.SCHEDULE_BY_LEVEL[meta.level]
    freq = _duration_attr(meta, settings.ATTR_SENTINEL_FREQUENCY) or sched.sentinel_frequency
    delay = rule_delay(meta)
    window = _window(meta)
    if meta.first_seen is not None:  # the learning window, cut to queryPeriod's 14 days
        window = sentinel_learning(meta, freq, delay)
    needed = freq + delay + window
    period = _duration_attr(meta, settings.ATTR_SENTINEL_PERIOD)
    if period is None:
        period = needed
    elif period < needed:
        raise ArtifactError(
            f"custom attribute {settings.ATTR_SENTINEL_PERIOD}: {to_short(period)} is shorter than "
            f"queryFrequency {to_short(freq)} + ingestion delay {to_short(delay)}"
            + (f" + window {to_short(window)}" if meta.is_correlation else "")
            + f" = {to_short(needed)}; records arriving late would be missed (lower "
            f"{settings.ATTR_INGESTION_DELAY} to accept that)",
            meta.location(f"{settings.ATTR_SENTINEL_PERIOD}:"))
    return RunPlan("sentinel", freq, period, delay,
                   (window if meta.first_seen else meta.timespan) if meta.is_correlation else None,
                   "ingestion")


# ------------------------------------------------------------------------------- Defender XDR
def defender_plan(meta: RuleMeta) -> tuple[str, RunPlan]:
    """(schedule period, plan): the level's period (or ``defender_schedule_period``), raised to the
    first period whose documented lookback holds the settled slice (delay + frequency)."""
    sched = settings.SCHEDULE_BY_LEVEL[meta.level]
    raw = meta.custom.get(settings.ATTR_DEFENDER_PERIOD)
    period = sched.defender_period if raw is None else str(raw).strip().upper()
    if period not in settings.DEFENDER_PERIODS:
        raise ArtifactError(
            f"custom attribute {settings.ATTR_DEFENDER_PERIOD}: '{raw}' is not one of "
            + ", ".join(settings.DEFENDER_PERIODS),
            meta.location(f"{settings.ATTR_DEFENDER_PERIOD}:"))
    if period not in settings.DEFENDER_LOOKBACK:
        raise ArtifactError(
            f"custom attribute {settings.ATTR_DEFENDER_PERIOD}: '{raw}' (continuous, NRT) has no "
            "lookback to cover ingestion delay; use one of " + ", ".join(settings.DEFENDER_LOOKBACK),
            meta.location(f"{settings.ATTR_DEFENDER_PERIOD}:"))
    delay = rule_delay(meta)
    order = list(settings.DEFENDER_LOOKBACK)
    for name in order[order.index(period):]:
        freq, lookback = settings.DEFENDER_LOOKBACK[name]
        if lookback >= delay + freq + _window(meta):
            return name, RunPlan("defender", freq, lookback, delay,
                                 meta.timespan if meta.is_correlation else None, "event")
    raise ArtifactError(
        f"no Defender XDR schedule period reads far enough back for an ingestion delay of "
        f"{to_short(delay)}", meta.location())


def defender_slice(plan: RunPlan) -> str:
    """The KQL filter of a Defender run's settled slice (on ``Timestamp``)."""
    start = plan.delay + plan.frequency
    return (f"| where Timestamp >= ago({to_short(start)}) and Timestamp < ago({to_short(plan.delay)})")


# ------------------------------------------------------------------------------- Splunk
_CRON_EVERY_N_MIN = re.compile(r"^\*/(\d+) \* \* \* \*$")
_CRON_HOURLY = re.compile(r"^\d+ \* \* \* \*$")
_CRON_EVERY_N_HOURS = re.compile(r"^\d+ \*/(\d+) \* \* \*$")
_CRON_DAILY = re.compile(r"^\d+ \d+ \* \* \*$")


def cron_interval(cron: str) -> timedelta | None:
    """The run interval of the cron forms the pack uses (every N minutes, hourly, every N hours,
    daily); None for any other form."""
    c = " ".join(cron.split())
    if m := _CRON_EVERY_N_MIN.match(c):
        n = int(m.group(1))
        return timedelta(minutes=n) if n and 60 % n == 0 else None
    if _CRON_HOURLY.match(c):
        return timedelta(hours=1)
    if m := _CRON_EVERY_N_HOURS.match(c):
        n = int(m.group(1))
        return timedelta(hours=n) if n and 24 % n == 0 else None
    if _CRON_DAILY.match(c):
        return timedelta(days=1)
    return None


def _minutes(td: timedelta) -> int:
    return int(td.total_seconds()) // 60


@dataclass(frozen=True)
class SplunkTimes:
    cron: str
    earliest: str  # dispatch.earliest_time (event time)
    latest: str  # dispatch.latest_time
    index_earliest: str  # _index_earliest of a single-event search (arrival time)
    index_latest: str
    plan: RunPlan


def splunk_plan(meta: RuleMeta) -> SplunkTimes:
    """cron = the level's (or ``splunk_cron_schedule``); dispatch window = run interval + delay
    + correlation window, by event time; a single-event search keeps the records indexed in the
    last run interval (``_index_earliest`` / ``_index_latest``)."""
    for key in (settings.ATTR_SPLUNK_EARLIEST, settings.ATTR_SPLUNK_LATEST):
        if key in meta.custom:
            raise ArtifactError(
                f"custom attribute {key} is no longer read: the dispatch window follows from the "
                f"run interval, the ingestion delay and the correlation window (set "
                f"{settings.ATTR_SPLUNK_CRON} or {settings.ATTR_INGESTION_DELAY})",
                meta.location(f"{key}:"))
    sched = settings.SCHEDULE_BY_LEVEL[meta.level]
    cron = str(meta.custom.get(settings.ATTR_SPLUNK_CRON, sched.splunk_cron))
    freq = cron_interval(cron)
    if freq is None:
        raise ArtifactError(
            f"custom attribute {settings.ATTR_SPLUNK_CRON}: '{cron}' is not a cron form whose run "
            "interval the pack can derive (every N minutes '*/N * * * *', hourly 'M * * * *', "
            "every N hours 'M */N * * *', daily 'M H * * *')",
            meta.location(f"{settings.ATTR_SPLUNK_CRON}:"))
    delay = rule_delay(meta)
    lookback = freq + delay + _window(meta)
    plan = RunPlan("splunk", freq, lookback, delay, meta.timespan if meta.is_correlation else None,
                   "ingestion")
    return SplunkTimes(cron=cron, earliest=f"-{_minutes(lookback)}m@m", latest="@m",
                       index_earliest=f"-{_minutes(freq)}m@m", index_latest="@m", plan=plan)

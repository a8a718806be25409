"""Run BUILT rules as their products schedule them, over a timeline of consecutive runs.

The product side of the schedule model (:mod:`stormpack.artifacts.schedule` is the pack side):
each product's documented run behaviour, written here independently of the pack's settings so
that a simulation over it tests the pack rather than restating it. Sources: docs/deploy.md.

* **Sentinel** scheduled rule (``build/sentinel/<rule>.yaml``): runs every ``queryFrequency``
  from the time it was enabled; each run reads the records whose ``TimeGenerated`` lies in the
  last ``queryPeriod`` and that have been ingested by then (``ingestion_time()`` is the row's
  ``$IngestionTime``). With ``suppressionEnabled`` the rule stops alerting for
  ``suppressionDuration`` after an alert.
* **Defender XDR** custom detection (``build/defender/<rule>.json``): runs every
  ``schedule.period``, reading the period's documented lookback by ``Timestamp`` (every hour: 4
  hours, 3 hours: 12, 12 hours: 48, 24 hours: 30 days) over the records ingested by then.
* **Splunk** saved search (``build/splunk/<app>/default/savedsearches.conf``): runs at its
  ``cron_schedule``; ``dispatch.earliest_time``/``latest_time`` bound ``_time``; an event is
  searchable once indexed (``_indextime``). ``alert.suppress`` with ``alert.suppress.fields``
  throttles, for ``alert.suppress.period``, per-result alerts (``alert.digest_mode = 0``) whose
  field values already alerted; a once-per-run alert is throttled as a whole (Alerting Manual,
  "Throttle alerts").

An :class:`Alert` is one run whose query returned rows (after suppression). Records are
:class:`Arrival` s: a fixture record, its event time and when the product ingested it.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from ..compiler.targets import load_target
from ..errors import TimelineError as TimelineError
from ..shapes.derive import derive
from ..taxonomy import load_taxonomy
from .base import Dataset, Row
from .kql import KqlExecutor
from .spl import SplExecutor, splunk_dataset, splunk_event
from .spl.app import read_layered

#: Defender XDR custom detections: run interval -> lookback (Microsoft Learn,
#: https://learn.microsoft.com/en-us/defender-xdr/custom-detection-rules "Rule frequency").
DEFENDER_RUNS: Mapping[str, tuple[timedelta, timedelta]] = {
    "1H": (timedelta(hours=1), timedelta(hours=4)),
    "3H": (timedelta(hours=3), timedelta(hours=12)),
    "12H": (timedelta(hours=12), timedelta(hours=48)),
    "24H": (timedelta(hours=24), timedelta(days=30)),
}


@dataclass(frozen=True)
class Arrival:
    """A record as the product receives it."""

    record: Mapping[str, Any]
    logsource: str
    event_time: datetime
    arrived: datetime


@dataclass(frozen=True)
class Suppression:
    """Alert throttling: for ``duration`` after an alert, per value of ``fields`` (None: the
    whole rule)."""

    duration: timedelta
    fields: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Deployed:
    """One built rule as its product runs it."""

    target: str
    name: str
    query: str
    frequency: timedelta
    lookback: timedelta  # event-time range each run reads (Splunk: dispatch earliest)
    runs_at: Callable[[datetime, datetime], Iterator[datetime]]  # run times in [start, end)
    suppression: Suppression | None = None
    enabled: bool = True
    earliest: str | None = None  # Splunk dispatch.earliest_time / latest_time
    latest: str | None = None


@dataclass(frozen=True)
class Alert:
    run_at: datetime
    rows: list[Row] = field(default_factory=list)


def parse_iso_duration(text: str) -> timedelta:
    """``1h``/``25h``/``1d``/``30m`` (Sentinel YAML) or ISO-8601 ``PT5H``/``P1D``."""
    s = text.strip()
    if m := re.fullmatch(r"(\d+)([mhd])", s):
        n = int(m.group(1))
        return {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n)}[m.group(2)]
    if m := re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?", s):
        d, h, mi = (int(x or 0) for x in m.groups())
        if d or h or mi:
            return timedelta(days=d, hours=h, minutes=mi)
    raise TimelineError(f"not a duration: {text!r}")


def every(interval: timedelta, anchor: datetime) -> Callable[[datetime, datetime], Iterator[datetime]]:
    """Runs at ``anchor + k * interval`` (Sentinel, Defender: from the time the rule was enabled)."""
    def runs(start: datetime, end: datetime) -> Iterator[datetime]:
        k = -((anchor - start) // interval)
        t = anchor + k * interval
        while t < end:
            yield t
            t += interval
    return runs


_CRON = re.compile(r"^(\*/\d+|\d+) (\*|\*/\d+|\d+) \* \* \*$")


def cron_runs(cron: str) -> tuple[timedelta, Callable[[datetime, datetime], Iterator[datetime]]]:
    """(interval, run times) of a cron schedule of the forms ``*/N * * * *``, ``M * * * *``,
    ``M */N * * *`` and ``M H * * *`` (UTC); any other form is an error."""
    m = _CRON.match(" ".join(cron.split()))
    if m is None:
        raise TimelineError(f"cron_schedule {cron!r}: not a form the simulation schedules")
    minute, hour = m.groups()
    if minute.startswith("*/"):
        if hour != "*":
            raise TimelineError(f"cron_schedule {cron!r}: not a form the simulation schedules")
        step = timedelta(minutes=int(minute[2:]))
        return step, every(step, datetime(2000, 1, 1, tzinfo=UTC))
    if hour == "*":
        step = timedelta(hours=1)
        anchor = datetime(2000, 1, 1, 0, int(minute), tzinfo=UTC)
    elif hour.startswith("*/"):
        step = timedelta(hours=int(hour[2:]))
        anchor = datetime(2000, 1, 1, 0, int(minute), tzinfo=UTC)
    else:
        step = timedelta(days=1)
        anchor = datetime(2000, 1, 1, int(hour), int(minute), tzinfo=UTC)
    return step, every(step, anchor)


# ------------------------------------------------------------------------------- loading builds
def load_sentinel(folder: Path, anchor: datetime) -> dict[str, Deployed]:
    """``<stem>.yaml`` -> the rule (its runs anchored at ``anchor``)."""
    out: dict[str, Deployed] = {}
    for p in sorted(folder.glob("*.yaml")):
        d = yaml.safe_load(p.read_text(encoding="utf-8"))
        if d.get("kind") != "Scheduled":
            continue
        freq = parse_iso_duration(str(d["queryFrequency"]))
        supp = None
        if d.get("suppressionEnabled"):
            supp = Suppression(parse_iso_duration(str(d["suppressionDuration"])))
        out[p.stem] = Deployed("sentinel", p.stem, str(d["query"]), freq,
                               parse_iso_duration(str(d["queryPeriod"])), every(freq, anchor), supp,
                               bool(d.get("enabled", True)))
    return out


def sentinel_watchlists(folder: Path) -> dict[str, list[Row]]:
    """``watchlists/<alias>.csv`` (column ``Value``) as ``_GetWatchlist`` rows."""
    out: dict[str, list[Row]] = {}
    for p in sorted((folder / "watchlists").glob("*.csv")):
        with p.open(encoding="utf-8", newline="") as fh:
            out[p.stem] = [{"SearchKey": r["Value"], **r} for r in csv.DictReader(fh)]
    return out


def load_defender(folder: Path, anchor: datetime) -> dict[str, Deployed]:
    out: dict[str, Deployed] = {}
    for p in sorted(folder.glob("*.json")):
        d = json.loads(p.read_text(encoding="utf-8"))
        period = str(d["schedule"]["period"])
        if period not in DEFENDER_RUNS:
            raise TimelineError(f"{p}: schedule period {period!r} has no documented lookback")
        freq, lookback = DEFENDER_RUNS[period]
        out[p.stem] = Deployed("defender", p.stem, str(d["queryCondition"]["queryText"]), freq,
                               lookback, every(freq, anchor), None, bool(d.get("isEnabled")))
    return out


def load_splunk(app: Path) -> dict[str, Deployed]:
    """Stanza -> the scheduled saved search (``default/`` + ``local/``)."""
    from .spl.timemod import resolve

    out: dict[str, Deployed] = {}
    ref = datetime(2000, 1, 1, tzinfo=UTC)
    for stanza, kv in read_layered(app, "savedsearches.conf").items():
        if "search" not in kv or kv.get("enableSched") != "1":
            continue
        try:
            freq, runs = cron_runs(kv["cron_schedule"])
        except TimelineError as exc:
            conf = app / "default" / "savedsearches.conf"
            raise TimelineError(f"{conf} [{stanza}]: {exc.message}") from None
        earliest, latest = kv.get("dispatch.earliest_time"), kv.get("dispatch.latest_time")
        if not earliest or not latest:
            raise TimelineError(f"[{stanza}]: no dispatch.earliest_time/latest_time")
        lookback = timedelta(seconds=resolve(latest, ref) - resolve(earliest, ref))
        supp = None
        if kv.get("alert.suppress") == "1":
            # field-based throttling applies to per-result alerts (alert.digest_mode = 0); an
            # alert that triggers once per run is throttled as a whole
            fields = tuple(f.strip() for f in kv.get("alert.suppress.fields", "").split(",") if f.strip())
            per_result = kv.get("alert.digest_mode", "1") == "0"
            supp = Suppression(parse_iso_duration(kv["alert.suppress.period"]),
                               fields if per_result and fields else None)
        out[stanza] = Deployed("splunk", stanza, kv["search"], freq, lookback, runs, supp,
                               kv.get("disabled", "0") != "1", earliest, latest)
    return out


def arrival(record: Mapping[str, Any], delay: timedelta) -> Arrival | None:
    """``record`` ingested ``delay`` after its event time (its log source's timestamp field);
    None for a record of no known log source."""
    ls = load_taxonomy().classify(dict(record))
    if ls is None:
        return None
    t = datetime.fromtimestamp(float(splunk_event(ls.key, record)["_time"]), UTC)
    return Arrival(record, ls.key, t, t + delay)


# ------------------------------------------------------------------------------- running
class Timeline:
    """Runs deployed rules of one target over arrivals."""

    def __init__(self, target: str, *, watchlists: Mapping[str, Sequence[Row]] | None = None,
                 splunk_app: Path | None = None) -> None:
        self.target = target
        self.watchlists = dict(watchlists or {})
        self.splunk_app = splunk_app
        if target == "splunk":
            if splunk_app is None:
                raise TimelineError("a Splunk timeline needs the built app folder")
            self.spl = SplExecutor()
            app_data = splunk_dataset(splunk_app, {}, datetime(2000, 1, 1, tzinfo=UTC))
            self.macros, self.lookups = dict(app_data.macros), dict(app_data.lookups)
        else:
            self.kql = KqlExecutor(target)
            spec = load_target(target)
            self.schemas = {lt.table: dict(spec.columns(lt)) for lt in spec.logsources.values()
                            if lt.table and not lt.unsupported}

    def _visible(self, rule: Deployed, t: datetime, a: Arrival) -> bool:
        """Read by the run at ``t``: ingested by then and (KQL products) inside the lookback by
        event time; Splunk applies its dispatch range itself."""
        if a.arrived > t:
            return False
        return self.target == "splunk" or t - rule.lookback <= a.event_time <= t

    def rows(self, a: Arrival) -> tuple[str, Row] | None:
        """The record as the product stores it (table or sourcetype, row); None when the
        product does not collect its log source."""
        lt = load_target(self.target).logsources.get(a.logsource)
        if lt is None or lt.unsupported:
            return None
        if self.target == "splunk":
            if not lt.sourcetype:
                return None
            ev = splunk_event(a.logsource, a.record)
            ev["_indextime"] = a.arrived.timestamp()
            return str(ev["sourcetype"]), ev
        if lt.table is None:
            return None
        row = dict(derive(self.target, a.logsource, a.record).row)
        row["$IngestionTime"] = a.arrived
        return lt.table, row

    def run_once(self, rule: Deployed, t: datetime, arrivals: Sequence[Arrival]) -> list[Row]:
        tables: dict[str, list[Row]] = {}
        for a in arrivals:
            shaped = self.rows(a) if self._visible(rule, t, a) else None
            if shaped is not None:
                tables.setdefault(shaped[0], []).append(shaped[1])
        if self.target == "splunk":
            data = Dataset(tables=tables, now=t, macros=self.macros, lookups=self.lookups)
            return self.spl.run(rule.query, data, earliest=rule.earliest, latest=rule.latest)
        for table in self.schemas:
            tables.setdefault(table, [])
        return self.kql.run(rule.query, Dataset(tables=tables, now=t, watchlists=self.watchlists,
                                                schemas=self.schemas))

    def simulate(self, rule: Deployed, arrivals: Sequence[Arrival]) -> list[Alert]:
        """Every run from before the first event until the last record has left every lookback;
        the runs that alert (suppression applied). Runs that read no record cannot alert and are
        not evaluated."""
        if not arrivals:
            return []
        start = min(a.event_time for a in arrivals) - rule.frequency
        end = max(a.event_time for a in arrivals) + rule.lookback + 2 * rule.frequency
        end = max(end, max(a.arrived for a in arrivals) + 2 * rule.frequency)
        alerts: list[Alert] = []
        quiet_until: dict[tuple[str, ...], datetime] = {}
        for t in rule.runs_at(start, end):
            if not any(self._visible(rule, t, a) for a in arrivals):
                continue
            rows = self.run_once(rule, t, arrivals)
            if rule.suppression is not None and rows:
                rows = self._unsuppressed(rule.suppression, t, rows, quiet_until)
            if rows:
                alerts.append(Alert(t, rows))
        return alerts

    @staticmethod
    def _unsuppressed(supp: Suppression, t: datetime, rows: list[Row],
                      quiet_until: dict[tuple[str, ...], datetime]) -> list[Row]:
        def key(r: Row) -> tuple[str, ...]:
            if supp.fields is None:
                return ()
            return tuple(str(r.get(f, "")).lower() for f in supp.fields)
        kept = [r for r in rows if quiet_until.get(key(r), t) <= t]
        for r in kept:
            quiet_until[key(r)] = t + supp.duration
        return kept

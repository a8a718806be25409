"""Deploying first-seen correlations (:mod:`stormpack.firstseen`): the schedule model's run slice.

The compiled query (:mod:`stormpack.compiler.firstseen`) alerts on the last hour by event time.
A scheduled run instead alerts on the records that are NEW in that run and compares them with
everything read before (docs/deploy.md, "First-seen rules"):

* Sentinel: the slice is the records ingested since the previous run
  (``ingestion_time() > ago(queryFrequency)``, the ingestion-delay pattern of Microsoft Learn
  "Handle ingestion delay in scheduled analytics rules"), so every record is in exactly one run's
  slice and a new value is reported once. The history is every other record read, back to
  ``frequency + delay + learning``. queryPeriod cannot exceed 14 days, so the learning window is
  at most ``14d - frequency - delay`` on Sentinel (:func:`sentinel_learning`); the rule's
  description says so when that is shorter than the rule's window.
* Splunk: the slice is ``frequency + delay`` back by event time (a record arriving up to the
  delay late is still in a slice), the history the learning window before it; the dispatch window
  reads both. One value can be in two consecutive slices: the alert is suppressed per group and
  value (``alert.suppress.fields``) for the dispatch window.
* Defender XDR: a correlation is not a custom detection (no ReportId); nothing to do here.
"""

from __future__ import annotations

from datetime import timedelta

from ..compiler import firstseen as compiled
from ..errors import ArtifactError
from ..syntax import KQL
from . import settings
from .durations import to_short
from .model import RuleMeta


def sentinel_learning(meta: RuleMeta, frequency: timedelta, delay: timedelta) -> timedelta:
    """The learning window a Sentinel run can read: the rule's, cut to fit queryPeriod <= 14d."""
    assert meta.first_seen is not None
    room = settings.SENTINEL_PERIOD_MAX - frequency - delay
    if room < timedelta(hours=1):
        raise ArtifactError(f"first-seen rule '{meta.title}': queryFrequency {to_short(frequency)} + "
                            f"ingestion delay {to_short(delay)} leave no learning window within "
                            "Sentinel's 14-day queryPeriod", meta.location())
    return min(meta.first_seen.learning, room)


def _replace(text: str, old_prefix: str, new_line: str, meta: RuleMeta) -> str:
    lines = text.split("\n")
    hits = [i for i, line in enumerate(lines) if line.startswith(old_prefix)]
    if len(hits) != 1:
        raise ArtifactError(f"first-seen rule '{meta.title}': the compiled query has "
                            f"{len(hits)} '{old_prefix.strip()}' lines, expected 1", meta.location())
    lines[hits[0]] = new_line
    return "\n".join(lines)


def sentinel_query(text: str, meta: RuleMeta, frequency: timedelta, delay: timedelta,
                   learning: timedelta) -> str:
    """The analytics rule query: the slice by ingestion time, the history before it."""
    new = f"{compiled.KQL_NEW}ingestion_time() > ago({to_short(frequency)})"
    text = _replace(text, compiled.KQL_NEW, new, meta)
    slice_ = KQL.timespan(int((frequency + delay).total_seconds()))
    text = _replace(text, compiled.KQL_SLICE_LET, f"{compiled.KQL_SLICE_LET}{slice_};", meta)
    return _replace(text, compiled.KQL_LEARNING_LET,
                    f"{compiled.KQL_LEARNING_LET}{KQL.timespan(int(learning.total_seconds()))};", meta)


def sentinel_note(meta: RuleMeta, learning: timedelta) -> str:
    """A sentence for the description when Sentinel learns over less than the rule's window."""
    assert meta.first_seen is not None
    if learning >= meta.first_seen.learning:
        return ""
    return (f" On Sentinel the learning window is {to_short(learning)}, not "
            f"{to_short(meta.first_seen.learning)}: queryPeriod is at most 14 days.")


def splunk_search(text: str, meta: RuleMeta, frequency: timedelta, delay: timedelta) -> str:
    """The saved search: the slice is frequency + delay by event time."""
    assert meta.first_seen is not None
    old_slice = int(compiled.DEFAULT_SLICE.total_seconds())
    learning = int(meta.first_seen.learning.total_seconds())
    new_slice = int((frequency + delay).total_seconds())
    old_total, new_total = compiled.spl_since(old_slice + learning), compiled.spl_since(new_slice + learning)
    old_sl, new_sl = compiled.spl_since(old_slice), compiled.spl_since(new_slice)
    if text.count(old_total) != 1 or text.count(old_sl) != 1:
        raise ArtifactError(f"first-seen rule '{meta.title}': the compiled search does not hold its "
                            "slice and learning bounds once each", meta.location())
    return text.replace(old_total, new_total).replace(old_sl, new_sl)


def suppress_fields(meta: RuleMeta) -> tuple[str, ...]:
    """One alert per group and value."""
    assert meta.first_seen is not None
    return meta.first_seen.keys

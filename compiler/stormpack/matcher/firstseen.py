"""The matcher of first-seen correlations (:mod:`stormpack.firstseen`): state over the hunt.

The records of the base rule are taken per group in time order (ties: input order). For each
group, the time each value (case-insensitive) was last seen is kept. A record at time ``t``
fires for its value when

* the value was not seen in the group in ``[t - N, t)`` (never, or last seen before ``t - N``:
  a value last seen more than N days earlier is new again), and
* ``t >= start + N``, ``start`` being the first base-rule record of the hunt: before a whole
  learning window of history has been read, nothing is "new" (without this, every value would
  fire on the first day of every hunt). The deployed queries do not need it: they always read N
  days back.

One hit per firing record: ``group`` holds the group-by values and the value field, ``refs`` the
record, ``metric`` the days since the value was last seen (0 when never). Records without a value
do not count. The result depends only on the records and, for equal times, their input order.

Bounded mode (``max_disorder``, the hunt): records older than the stream's watermark are folded
into the per-value state and dropped; last-seen times older than ``watermark - N`` are forgotten
(they can no longer make a value "seen"), so memory is bounded by the values seen in one learning
window, not by the records.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Any

from ..firstseen import FirstSeen
from ..ruleset import LoadedRule
from ..taxonomy import LogsourceSpec, Taxonomy
from .correlation import CorrelationEvaluator, _Group, _hit_order
from .fields import leaves
from .results import CorrelationHit, EventRef
from .values import text_of


class FirstSeenEvaluator(CorrelationEvaluator):
    """A :class:`CorrelationEvaluator` whose windows are the first-seen test (module docstring)."""

    def __init__(self, loaded: LoadedRule, bases: list[tuple[Any, LoadedRule, LogsourceSpec]],
                 taxonomy: Taxonomy, spec: FirstSeen) -> None:
        super().__init__(loaded, bases, taxonomy)
        self.spec = spec
        self.learning = spec.learning.total_seconds()
        self._last: dict[tuple[Any, ...], dict[str, float]] = {}
        self._start = math.inf

    def reset(self) -> None:
        super().reset()
        self._last.clear()
        self._start = math.inf

    def _keys(self, rule_index: int, value: Any) -> tuple[Any, ...]:
        """(lower-case value, value as written) for each distinct non-empty value."""
        out: dict[str, str] = {}
        for x in leaves(value):
            s = text_of(x)
            if s:
                out.setdefault(s.lower(), s)
        return tuple(out.items())

    def add_extracted(self, ref_name: str, raw: tuple[Any, ...], key: tuple[Any, ...],
                      keys: tuple[Any, ...], ref: EventRef, epoch: float) -> bool:
        if epoch < self._start:
            self._start = epoch
        return super().add_extracted(ref_name, raw, key, keys, ref, epoch)

    def _fold(self, key: tuple[Any, ...], g: _Group, stop: int) -> list[CorrelationHit]:
        """Take the first ``stop`` records of a sorted group into the state; their hits."""
        last = self._last.setdefault(key, {})
        armed = self._start + self.learning
        hits: list[CorrelationHit] = []
        for p in range(stop):
            t = g.epochs[p]
            for low, written in g.keys[p]:
                prev = last.get(low)
                if t >= armed and (prev is None or prev < t - self.learning):
                    hit = self._hit(key, g, (p,), 0.0 if prev is None else (t - prev) / 86400)
                    hit.group[self.spec.field] = written
                    hits.append(hit)
                last[low] = t
        return hits

    def settle(self) -> None:
        self._since_settle = 0
        if self.max_disorder is None or self._direction <= 0:
            return  # descending or not known yet: everything is kept until finish()
        mark = self._newest - self.max_disorder
        batch: list[CorrelationHit] = []
        for key in list(self._events):
            g = self._events[key]
            g.sort()
            stop = bisect_right(g.epochs, mark)
            if not stop:
                continue
            batch.extend(self._fold(key, g, stop))
            g.drop_before(stop)
            self._kept -= stop
            self._sealed[key] = mark
            if not g:
                del self._events[key]
        horizon = mark - self.learning
        for key in list(self._last):
            seen = self._last[key]
            for v in [v for v, t in seen.items() if t < horizon]:
                del seen[v]
            if not seen:
                del self._last[key]
        batch.sort(key=_hit_order)
        self._pending.extend(batch)
        self._settled_kept = self._kept

    def finish(self) -> list[CorrelationHit]:
        hits: list[CorrelationHit] = []
        for key, g in self._events.items():
            g.sort()
            hits.extend(self._fold(key, g, len(g)))
        hits.sort(key=_hit_order)
        out = self._pending + hits
        self.reset()
        return out


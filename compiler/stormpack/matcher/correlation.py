"""Correlation rules over the records that matched their base rules: sliding windows.

Window semantics (documented in docs/matcher.md): events of one group are sorted by their
log-source timestamp (ties: input order). A window is anchored at each event ``e`` and holds
every event of the group with ``e.time <= t < e.time + timespan`` (half-open). The first window
(in time order) whose metric satisfies the condition fires; its events are reported and the scan
resumes after the last reported event, so one burst is one hit and never reported twice. A burst
therefore does not depend on where clock hours or buckets begin. Evaluation is incremental and
linear in the number of kept events (value_median / value_percentile: linear per window).

Metrics: ``event_count`` = events in the window; ``value_count`` = distinct values (case-insensitive)
of the condition field; ``temporal`` = distinct referenced rules present (default condition: all
of them; an extended condition string is evaluated on the set present); ``temporal_ordered`` =
length of the longest prefix of the rule list found in order (windows anchored at events of the
first rule; default condition: all); ``value_sum`` / ``value_avg`` / ``value_median`` /
``value_percentile`` = that statistic of the numeric condition field.
"""

from __future__ import annotations

import math
import operator
import statistics
from array import array
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sigma.correlations import (
    CorrelationConditionAND,
    CorrelationConditionItem,
    CorrelationConditionNOT,
    CorrelationConditionOR,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
    SigmaExtendedCorrelationCondition,
    SigmaRuleReference,
)

from .. import derived
from ..errors import MatcherError
from ..ruleset import LoadedRule
from ..taxonomy import LogsourceSpec, Taxonomy
from .fields import MISSING, Reader, leaves, make_reader
from .results import CorrelationHit, EventRef
from .values import number_of, text_of

_OPS: dict[SigmaCorrelationConditionOperator, Callable[[float, float], bool]] = {
    SigmaCorrelationConditionOperator.LT: lambda a, b: a < b,
    SigmaCorrelationConditionOperator.LTE: lambda a, b: a <= b,
    SigmaCorrelationConditionOperator.GT: lambda a, b: a > b,
    SigmaCorrelationConditionOperator.GTE: lambda a, b: a >= b,
    SigmaCorrelationConditionOperator.EQ: lambda a, b: a == b,
    SigmaCorrelationConditionOperator.NEQ: lambda a, b: a != b,
}

_VALUE_TYPES = {
    SigmaCorrelationType.VALUE_COUNT,
    SigmaCorrelationType.VALUE_SUM,
    SigmaCorrelationType.VALUE_AVG,
    SigmaCorrelationType.VALUE_MEDIAN,
    SigmaCorrelationType.VALUE_PERCENTILE,
}


def parse_timestamp(value: Any) -> datetime | None:
    """ISO-8601 text -> aware UTC datetime; no zone means UTC (the UAL's CreationTime)."""
    if value.__class__ is not str:
        return None
    s = value.strip()
    if not s:
        return None
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        return None
    if d.tzinfo is None:
        return d.replace(tzinfo=UTC)
    return d.astimezone(UTC)


def format_timestamp(d: datetime) -> str:
    return d.isoformat().replace("+00:00", "Z")


def format_epoch(epoch: float) -> str:
    """UTC seconds -> ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` (exact to the microsecond)."""
    return format_timestamp(datetime.fromtimestamp(epoch, UTC))


def _first_value(v: Any) -> Any:
    for x in leaves(v):
        if x is not MISSING and x is not None:
            return x
    return None


_INDEX_BITS = 40  # a kept record's reference: source number << 40 | index in that source


class _Group:
    """The records kept for one group, compactly: parallel arrays in arrival order (about 26 bytes
    a record, no Python object per record but its window keys when it has any)."""

    __slots__ = ("epochs", "codes", "rules", "keys")

    def __init__(self) -> None:
        self.epochs = array("d")  # UTC seconds
        self.codes = array("q")  # source number << _INDEX_BITS | record index
        self.rules = array("H")  # index of the referenced rule
        self.keys: list[tuple[Any, ...]] = []  # what each record adds to a window

    def __len__(self) -> int:
        return len(self.epochs)

    def sort(self) -> None:
        """Time order, ties in arrival order (a stable sort, so no sequence number is needed)."""
        e = self.epochs
        if all(map(operator.le, e, e[1:])):
            return
        order = sorted(range(len(e)), key=e.__getitem__)
        self.epochs = array("d", [e[i] for i in order])
        codes, rules, keys = self.codes, self.rules, self.keys
        self.codes = array("q", [codes[i] for i in order])
        self.rules = array("H", [rules[i] for i in order])
        self.keys = [keys[i] for i in order]

    def drop_before(self, stop: int) -> None:
        del self.epochs[:stop], self.codes[:stop], self.rules[:stop], self.keys[:stop]

    def split_off(self, start: int) -> _Group:
        """Remove the records from ``start`` on and return them as a group of their own."""
        tail = _Group()
        tail.epochs, tail.codes = self.epochs[start:], self.codes[start:]
        tail.rules, tail.keys = self.rules[start:], self.keys[start:]
        del self.epochs[start:], self.codes[start:], self.rules[start:], self.keys[start:]
        return tail


_Window = tuple[Sequence[int], float]  # positions of the window's records, metric


@dataclass
class _Input:
    """How the events of one referenced rule are read."""

    index: int
    name: str
    group_readers: tuple[Reader, ...]
    value_reader: Reader | None


class CorrelationEvaluator:
    """Collects the events of one correlation rule's base rules and finds the windows that fire."""

    def __init__(
        self,
        loaded: LoadedRule,
        bases: list[tuple[SigmaRuleReference, LoadedRule, LogsourceSpec]],
        taxonomy: Taxonomy,
        values: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        rule = loaded.rule
        assert isinstance(rule, SigmaCorrelationRule)
        self.loaded = loaded
        self.rule = rule
        self.type = rule.type
        self.span = float(rule.timespan.seconds)
        self.group_by: list[str] = list(rule.group_by or [])
        self._events: dict[tuple[Any, ...], _Group] = {}
        self._sources: list[str] = []
        self._source_ids: dict[str, int] = {}
        self._display: dict[tuple[Any, ...], dict[str, object]] = {}
        self.max_disorder: float | None = None  # seconds; None: keep everything until finish()
        self.settle_every = 1024  # settle after this many added events (at least 2 per group)
        self._direction = 0  # +1 ascending, -1 descending, 0 not known yet
        self._first = 0.0
        self._newest = -math.inf
        self._oldest = math.inf
        self._sealed: dict[tuple[Any, ...], float] = {}
        self._pending: list[CorrelationHit] = []
        self._since_settle = 0
        self._settled_kept = 0  # events kept right after the last settle
        self.kept_peak = 0  # most events kept at once (for tests and diagnostics)
        self._kept = 0
        cond = rule.condition
        self._extended: CorrelationConditionItem | SigmaRuleReference | None = None
        if isinstance(cond, SigmaExtendedCorrelationCondition):
            if self.type is not SigmaCorrelationType.TEMPORAL:
                raise self._error("an extended (boolean) condition is only supported for type temporal")
            self._extended = cond.parsed
            self._op: Callable[[float, float], bool] = _OPS[SigmaCorrelationConditionOperator.GTE]
            self._count: float = 0
            self._cond_field: str | None = None
            self._percentile = 50
        else:
            self._op = _OPS[cond.op]
            self._count = cond.count
            fieldref = cond.fieldref
            if isinstance(fieldref, list):
                if len(fieldref) != 1:
                    raise self._error("a condition with several fields is not supported")
                fieldref = fieldref[0]
            self._cond_field = fieldref
            self._percentile = cond.percentile if cond.percentile is not None else 50
        if self.type in _VALUE_TYPES and self._cond_field is None:
            raise self._error(f"{self.type.name.lower()} needs a condition field")
        aliases = {a.alias: a for a in rule.aliases}
        self.inputs: dict[str, _Input] = {}
        self.rule_names: list[str] = []
        for i, (ref, _base, spec) in enumerate(bases):

            def field_for(name: str, ref: SigmaRuleReference = ref) -> str:
                alias = aliases.get(name)
                if alias is None:
                    return name
                for r, f in alias.mapping.items():
                    if r.reference == ref.reference:
                        return f
                raise self._error(f"alias '{name}' has no field for rule '{ref.reference}'")

            def reader_for(name: str, spec: LogsourceSpec = spec) -> Reader:
                d = derived.derivation(name, spec.key)
                if d is None:
                    return make_reader(name, spec, taxonomy)
                return derived.reader(d, make_reader(d.key, spec, taxonomy), values or {})

            group_readers = tuple(reader_for(field_for(g)) for g in self.group_by)
            value_reader = (
                make_reader(field_for(self._cond_field), spec, taxonomy)
                if self.type in _VALUE_TYPES and self._cond_field is not None
                else None
            )
            self.inputs[ref.reference] = _Input(i, ref.reference, group_readers, value_reader)
            self.rule_names.append(ref.reference)

    def _error(self, message: str) -> MatcherError:
        return MatcherError(f"correlation rule '{self.loaded.title}': {message}", self.loaded.location())

    # ---------------------------------------------------------------- collecting
    def reset(self) -> None:
        self._events.clear()
        self._display.clear()
        self._sources.clear()
        self._source_ids.clear()
        self._direction = 0
        self._newest, self._oldest = -math.inf, math.inf
        self._sealed.clear()
        self._pending.clear()
        self._since_settle = self._kept = self._settled_kept = 0

    def add(self, ref_name: str, record: Mapping[str, Any], ref: EventRef, epoch: float) -> bool:
        """Keep one record of the referenced rule ``ref_name`` (``epoch``: its time, UTC seconds).
        Only a small tuple is kept per record (no record, no datetime). Returns False, keeping
        nothing, when the record is late (see the module docstring)."""
        raw, key, keys = self.extract(ref_name, record)
        return self.add_extracted(ref_name, raw, key, keys, ref, epoch)

    def extract(self, ref_name: str,
                record: Mapping[str, Any]) -> tuple[tuple[Any, ...], tuple[Any, ...], Any]:
        """What :meth:`add` reads of a record: the group values as found, the group key (lower
        case) and what the record adds to a window (:meth:`_keys` of its rule and value field).
        Picklable, so the parallel hunt's workers compute it and the one correlation state only
        keeps it."""
        inp = self.inputs[ref_name]
        raw: list[Any] = []
        lowered: list[Any] = []
        for r in inp.group_readers:
            v = r(record)
            if v.__class__ is not str:  # the common case, a string, needs no flattening
                v = _first_value(v)
                if v is None:
                    raw.append(None)
                    lowered.append(None)
                    continue
                v_text = text_of(v) or ""
            else:
                v_text = v
            raw.append(v)
            lowered.append(v_text.lower())
        value = inp.value_reader(record) if inp.value_reader is not None else None
        return tuple(raw), tuple(lowered), self._keys(inp.index, value)

    def add_extracted(self, ref_name: str, raw: tuple[Any, ...], key: tuple[Any, ...],
                      keys: tuple[Any, ...], ref: EventRef, epoch: float) -> bool:
        """:meth:`add` given what :meth:`extract` read of the record (the hot path of every
        correlation: attributes read once into locals, :meth:`_track` inlined once the stream's
        direction is known)."""
        disorder = self.max_disorder
        if disorder is not None:
            sealed = self._sealed.get(key)
            direction = self._direction
            if sealed is not None and (epoch < sealed if direction > 0 else epoch > sealed):
                return False
            if direction == 0:
                self._track(epoch)
            else:  # what _track does once the direction is known
                if epoch > self._newest:
                    self._newest = epoch
                if epoch < self._oldest:
                    self._oldest = epoch
        source = ref.source
        sid = self._source_ids.get(source)
        if sid is None:
            sid = self._source_ids[source] = len(self._sources)
            self._sources.append(source)
        events = self._events
        bucket = events.get(key)
        if bucket is None:
            bucket = events[key] = _Group()
            if key not in self._display:
                self._display[key] = dict(zip(self.group_by, raw, strict=True))
        bucket.epochs.append(epoch)
        bucket.codes.append(sid << _INDEX_BITS | ref.index)
        bucket.rules.append(self.inputs[ref_name].index)
        bucket.keys.append(keys)
        kept = self._kept = self._kept + 1
        if kept > self.kept_peak:
            self.kept_peak = kept
        if disorder is not None:
            since = self._since_settle = self._since_settle + 1
            # amortised: settle after as many new events as were kept after the last settle
            if since >= self.settle_every and since >= 2 * len(events) and since >= self._settled_kept:
                self.settle()
        return True

    def _track(self, epoch: float) -> None:
        if epoch > self._newest:
            self._newest = epoch
        if epoch < self._oldest:
            self._oldest = epoch
        if self._direction == 0:
            assert self.max_disorder is not None
            if self._newest == epoch == self._oldest:
                self._first = epoch
            elif epoch - self._first > self.max_disorder:
                self._direction = 1
            elif self._first - epoch > self.max_disorder:
                self._direction = -1

    def settle(self) -> None:
        """Emit (into :meth:`take`) what the kept events can still produce and drop them, as far
        as the stream's watermark allows (see the module docstring)."""
        self._since_settle = 0
        if self.max_disorder is None or self._direction == 0:
            return
        ascending = self._direction > 0
        mark = self._newest - self.max_disorder if ascending else self._oldest + self.max_disorder
        batch: list[CorrelationHit] = []
        for key in list(self._events):
            events = self._events[key]
            events.sort()
            if ascending:
                if events.epochs[0] + self.span > mark:
                    continue  # not even the first anchor's window is complete yet
                found, stop, sealed = self._windows(events, mark)
                batch.extend(self._hit(key, events, w, m) for w, m in found)
                if stop:
                    events.drop_before(stop)
                    self._sealed[key] = sealed
                    self._kept -= stop
            else:
                epochs = events.epochs
                s = self._restart_point(events, bisect_left(epochs, mark + self.span))
                if s >= len(events):
                    continue
                self._sealed[key] = epochs[s] - self.span
                self._kept -= len(events) - s
                tail = events.split_off(s)
                batch.extend(self._hit(key, tail, w, m) for w, m in self._windows(tail)[0])
            if not events:
                del self._events[key]
        batch.sort(key=_hit_order)
        self._pending.extend(batch)
        self._settled_kept = self._kept

    def _restart_point(self, g: _Group, s: int) -> int:
        """The first position from ``s`` on where the scan restarts with fresh state: no window
        anchored before it reaches it. Every record anchors a window, but for temporal_ordered
        only records of the first rule do."""
        epochs, n, span = g.epochs, len(g), self.span
        if self.type is not SigmaCorrelationType.TEMPORAL_ORDERED:
            while 0 < s < n and epochs[s] - epochs[s - 1] < span:
                s += 1
            return s
        rules = g.rules
        last = -math.inf  # time of the last first-rule record before s
        for p in range(min(s, n) - 1, -1, -1):
            if rules[p] == 0:
                last = epochs[p]
                break
        while s < n and epochs[s] - last < span:
            if rules[s] == 0:
                last = epochs[s]
            s += 1
        return s

    @property
    def pending(self) -> bool:
        """True when settled hits wait to be taken."""
        return bool(self._pending)

    def take(self) -> list[CorrelationHit]:
        """The hits settled so far (and not yet taken)."""
        out, self._pending = self._pending, []
        return out

    def _hit(self, key: tuple[Any, ...], g: _Group, window: Sequence[int], metric: float) -> CorrelationHit:
        sources, codes, mask = self._sources, g.codes, (1 << _INDEX_BITS) - 1
        refs = [EventRef(sources[c >> _INDEX_BITS], c & mask) for c in (codes[p] for p in window)]
        return CorrelationHit(
            rule=self.loaded,
            group=dict(self._display[key]),
            refs=refs,
            first_seen=format_epoch(g.epochs[window[0]]),
            last_seen=format_epoch(g.epochs[window[-1]]),
            metric=metric,
        )

    # ---------------------------------------------------------------- evaluating
    def finish(self) -> list[CorrelationHit]:
        """The hits not taken yet, then every window of the events still kept; clears the state."""
        hits: list[CorrelationHit] = []
        for key, events in self._events.items():
            events.sort()
            hits.extend(self._hit(key, events, w, m) for w, m in self._windows(events)[0])
        hits.sort(key=_hit_order)
        out = self._pending + hits
        self.reset()
        return out

    def _windows(self, events: _Group, mark: float = math.inf) -> tuple[list[_Window], int, float]:
        """The windows that fire, in time order (see the module docstring), deciding only the
        anchors whose window ends at or before ``mark``. Returns them, the position of the first
        undecided anchor and the window end of the last decided one. Linear in the number
        of events for every type but value_median / value_percentile (linear per window)."""
        if self.type is SigmaCorrelationType.TEMPORAL_ORDERED:
            return self._ordered_windows(events, mark)
        epochs, keys = events.epochs, events.keys
        counts: dict[Any, int] = {}
        total = 0.0  # value_sum / value_avg: running sum and count of the numbers in the window
        numbers = 0
        out: list[_Window] = []
        i = end = 0
        n = len(events)
        sealed = -math.inf
        while i < n:
            limit = epochs[i] + self.span
            if limit > mark:
                break
            sealed = limit
            while end < n and epochs[end] < limit:
                for k in keys[end]:
                    counts[k] = counts.get(k, 0) + 1
                    if k.__class__ is _Num:
                        total += k
                        numbers += 1
                end += 1
            fired, metric = self._metric(events, i, end, counts, total, numbers)
            if fired:
                out.append((range(i, end), metric))
                i = end
                counts.clear()
                total, numbers = 0.0, 0
                continue
            for k in keys[i]:
                c = counts[k] - 1
                if c:
                    counts[k] = c
                else:
                    del counts[k]
                if k.__class__ is _Num:
                    total -= k
                    numbers -= 1
            i += 1
        return out, i, sealed

    def _keys(self, rule_index: int, value: Any) -> tuple[Any, ...]:
        """What one event adds to a window: its rule (temporal), its distinct values (value_count)
        or its numbers (value_* statistics, as floats, one entry per value)."""
        t = self.type
        if t is SigmaCorrelationType.EVENT_COUNT:
            return ()
        if t is SigmaCorrelationType.TEMPORAL:
            return _RULE_KEYS[rule_index] if rule_index < len(_RULE_KEYS) else (rule_index,)
        if t is SigmaCorrelationType.VALUE_COUNT:
            return tuple({s.lower() for x in leaves(value) if (s := text_of(x)) is not None})
        return tuple(_Num(float(v)) for x in leaves(value)
                     if x.__class__ is not bool and (v := number_of(x)) is not None)

    def _metric(self, events: _Group, i: int, end: int, counts: dict[Any, int],
                total: float, numbers: int) -> tuple[bool, float]:
        t = self.type
        if t is SigmaCorrelationType.EVENT_COUNT:
            metric = float(end - i)
        elif t is SigmaCorrelationType.TEMPORAL:
            if self._extended is not None:
                names = {self.rule_names[k] for k in counts}
                return _eval_extended(self._extended, names), float(len(counts))
            metric = float(len(counts))
        elif t is SigmaCorrelationType.VALUE_COUNT:
            metric = float(len(counts))
        elif numbers == 0:
            return False, 0.0
        elif t is SigmaCorrelationType.VALUE_SUM:
            metric = total
        elif t is SigmaCorrelationType.VALUE_AVG:
            metric = total / numbers
        else:
            nums = sorted(k for ks in events.keys[i:end] for k in ks)
            if t is SigmaCorrelationType.VALUE_MEDIAN:
                metric = float(statistics.median(nums))
            else:
                pos = round(self._percentile / 100 * (len(nums) - 1))
                metric = float(nums[max(0, min(len(nums) - 1, pos))])
        return self._op(metric, self._count), metric

    def _ordered_windows(self, events: _Group, mark: float) -> tuple[list[_Window], int, float]:
        """temporal_ordered: windows anchored at events of the first rule; the metric is the
        length of the greedy earliest chain rule0 -> rule1 -> ... inside the window."""
        n, rules, rule_of = len(events), len(self.rule_names), events.rules
        # nxt[k][p]: the first position >= p holding an event of rule k (n: none)
        nxt = [[n] * (n + 1) for _ in range(rules)]
        for p in range(n - 1, -1, -1):
            for k in range(rules):
                nxt[k][p] = nxt[k][p + 1]
            nxt[rule_of[p]][p] = p
        epochs = events.epochs
        out: list[_Window] = []
        i = 0
        sealed = -math.inf
        while i < n:
            limit = epochs[i] + self.span
            if limit > mark:
                break
            sealed = limit
            if rule_of[i] != 0:
                i += 1
                continue
            end = bisect_left(epochs, limit, lo=i)
            chain = [i]
            while len(chain) < rules:
                q = nxt[len(chain)][chain[-1] + 1]
                if q >= end:
                    break
                chain.append(q)
            metric = float(len(chain))
            if self._op(metric, self._count):
                out.append((chain, metric))
                i = chain[-1] + 1
            else:
                i += 1
        return out, i, sealed


_RULE_KEYS = tuple((i,) for i in range(64))  # shared window keys of temporal records


def _hit_order(h: CorrelationHit) -> tuple[str, list[str]]:
    return (h.first_seen, [str(v) for v in h.group.values()])


class _Num(float):
    """A number contributed to a value_* window (a float subclass, so it never collides with the
    rule indexes and strings other correlation types count)."""


def _eval_extended(node: CorrelationConditionItem | SigmaRuleReference, present: set[str]) -> bool:
    if isinstance(node, SigmaRuleReference):
        return node.reference in present
    if isinstance(node, CorrelationConditionAND):
        return all(_eval_extended(a, present) for a in node.args)
    if isinstance(node, CorrelationConditionOR):
        return any(_eval_extended(a, present) for a in node.args)
    if isinstance(node, CorrelationConditionNOT):
        return not _eval_extended(node.args[0], present)
    raise MatcherError(f"unsupported correlation condition element {type(node).__name__}")

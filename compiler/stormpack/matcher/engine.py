"""The engine: every rule of a rule set compiled once, records dispatched by log source.

``Engine.build(ruleset, values)`` compiles each single-event rule into a predicate (from pySigma's
parsed rule, never from the YAML text) and each correlation rule into a
:class:`~.correlation.CorrelationEvaluator`. ``process(record, ref)`` classifies the record into
its taxonomy log source, evaluates only the rules of that log source (and among those only the
ones whose prefilter admits the record), returns the single-event hits and keeps records that
match correlation base rules; ``finish()`` evaluates the correlations and clears their state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from .. import firstseen
from ..errors import Location, MatcherError, StormpackError
from ..ruleset import LoadedRule, RuleSet
from ..taxonomy import LogsourceSpec, Taxonomy, load_taxonomy
from .codegen import predicate_for
from .conditions import Alternative, ConditionCompiler, PrefilterKind, RecordPred
from .correlation import CorrelationEvaluator, parse_timestamp
from .fields import MISSING, Generation, LoweredField, NameValueMemo, Reader, make_reader
from .firstseen import FirstSeenEvaluator
from .literals import required_literals
from .results import CorrelationHit, EventRef, Hit, TimestampError
from .values import ValueContext, number_of

MAX_LATE_SAMPLES = 1000

#: What one record gives one correlation: (correlation index, referenced rule name, group values,
#: group key, window keys) - see :meth:`Engine.feed_items`.
FeedItem = tuple[int, str, tuple[Any, ...], tuple[Any, ...], Any]


@dataclass(eq=False)
class CompiledRule:
    """One single-event rule ready to run."""

    loaded: LoadedRule
    logsource: LogsourceSpec
    predicate: RecordPred
    order: int
    emits: bool  # False: a base rule of a correlation with `generate: false`
    prefilter: list[Alternative] | None  # the rule can only match if one of these holds
    timestamp_reader: Reader
    feeds: list[tuple[CorrelationEvaluator, str]] = field(default_factory=list)
    generation: Generation = field(default_factory=Generation, repr=False)
    # literal sets the rule needs in a record's raw text, one of each set (see .literals)
    literals: list[tuple[frozenset[str], bool]] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.loaded.path

    @property
    def title(self) -> str:
        return self.loaded.title

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Evaluate this rule alone on one record (no log-source check, no prefilter)."""
        self.generation.n += 1
        return self.predicate(record)


def _num_key(v: Any) -> int | None | bool:
    """The integer a record value equals (None: equals no integer; True: cannot tell cheaply)."""
    c = v.__class__
    if c is int:
        return v  # type: ignore[no-any-return]
    if v is MISSING or v is None:
        return None
    if c is str:
        v = number_of(v)
        if v is None:
            return None
        c = v.__class__
        if c is int:
            return v  # type: ignore[no-any-return]
    if c is float:
        return int(v) if math.isfinite(v) and v == int(v) else None
    return True  # bool, list, dict: evaluate the rules


@dataclass
class _Filter:
    """Rules that can only match when ``record[field]`` is one of their keys."""

    name: str  # the record field
    kind: PrefilterKind
    lowered: LoweredField | None  # str / ip kinds: the shared per-record memo of the field
    index: dict[Any, list[CompiledRule]] = field(default_factory=dict)
    rules: list[CompiledRule] = field(default_factory=list)

    def lookup(self, record: Mapping[str, Any]) -> list[CompiledRule] | tuple[()]:
        if self.lowered is not None:
            v = self.lowered.get(record)
            if v.__class__ is str:
                return self.index.get(v, ())
            if v is MISSING or v is None:
                return ()
            return self.rules  # a number, list or object: the rules decide
        v = record.get(self.name, MISSING)
        key = _num_key(v)
        if key is None:
            return ()
        if key is True:
            return self.rules
        return self.index.get(key, ())


@dataclass
class _LogsourceRules:
    """The rules of one log source and the prefilter indexes over them."""

    spec: LogsourceSpec
    rules: list[CompiledRule] = field(default_factory=list)
    unfiltered: list[CompiledRule] = field(default_factory=list)
    filters: list[_Filter] = field(default_factory=list)
    _merged: dict[tuple[int, ...], list[CompiledRule]] = field(default_factory=dict)
    _keep: list[Any] = field(default_factory=list)

    def finalise(self, lowered: dict[tuple[str, bool], LoweredField], gen: Generation) -> None:
        filters: dict[tuple[str, PrefilterKind], _Filter] = {}
        for r in sorted(self.rules, key=_order):
            if r.prefilter is None:
                self.unfiltered.append(r)
                continue
            for fname, kind, keys in r.prefilter:
                flt = filters.get((fname, kind))
                if flt is None:
                    lf = None
                    if kind != "num":
                        lf = lowered.get((fname, kind == "ip"))
                        if lf is None:
                            lf = lowered[(fname, kind == "ip")] = LoweredField(fname, kind == "ip", gen)
                    flt = filters[(fname, kind)] = _Filter(fname, kind, lf)
                if not flt.rules or flt.rules[-1] is not r:
                    flt.rules.append(r)
                for k in keys:
                    lst = flt.index.setdefault(k, [])
                    if not lst or lst[-1] is not r:
                        lst.append(r)
        self.filters = list(filters.values())

    def candidates(self, record: Mapping[str, Any]) -> list[CompiledRule]:
        """The rules that may match ``record``, in rule order, each once."""
        parts = [got for flt in self.filters if (got := flt.lookup(record))]
        if not parts:
            return self.unfiltered
        if len(parts) == 1 and not self.unfiltered:
            return parts[0]
        # The union depends only on which index lists were hit: merge each combination once.
        key = tuple(map(id, parts))
        merged = self._merged.get(key)
        if merged is None:
            union = {id(r): r for p in [self.unfiltered, *parts] for r in p}
            merged = self._merged[key] = sorted(union.values(), key=_order)
            self._keep.extend(parts)  # the ids in the key stay valid while the lists live
        return merged


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _order(r: CompiledRule) -> int:
    return r.order


def _matcher_error(exc: StormpackError | SigmaError, lr: LoadedRule) -> MatcherError:
    """Any compile problem as a MatcherError that names the rule's file (and line if known)."""
    if isinstance(exc, StormpackError):
        if isinstance(exc, MatcherError) and exc.location is not None and exc.location.path is not None:
            return exc
        return MatcherError(exc.reason, Location(lr.path, lr.line_of(lr.title)),
                            rule=exc.rule, target=exc.target, field=exc.field)
    return MatcherError(f"rule '{lr.title}': {exc}", Location(lr.path, lr.line_of(lr.title)))


class Engine:
    """Compiled rules, grouped by log source. See the module docstring."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self.rules: list[CompiledRule] = []
        self.correlations: list[CorrelationEvaluator] = []
        self._correlation_index: dict[int, int] = {}
        self.errors: dict[Path, StormpackError] = {}
        self._by_logsource: dict[str, _LogsourceRules] = {}
        self._by_rule: dict[int, CompiledRule] = {}
        self._lowered: dict[tuple[str, bool], LoweredField] = {}
        self._generation = Generation()
        self._nv_memos: dict[str, NameValueMemo] = {}
        self.max_disorder: float | None = None
        self.late_records = 0  # records left out of a correlation because they came too late
        self.late_samples: list[str] = []  # the first MAX_LATE_SAMPLES of them, described

    # ------------------------------------------------------------------ building
    @classmethod
    def build(
        cls, ruleset: RuleSet, values: dict[str, list[str]], *, strict: bool = True
    ) -> Engine:
        """Compile every rule. ``strict``: the first rule that cannot be compiled raises a
        MatcherError naming its file; otherwise it is recorded in ``engine.errors`` (by file) and
        left out together with the correlations that reference it."""
        eng = cls(load_taxonomy())
        failed: set[int] = set()
        for order, lr in enumerate(ruleset.rules):
            try:
                if isinstance(lr.rule, SigmaRule):
                    eng._add_rule(lr, order, values)
                elif isinstance(lr.rule, SigmaCorrelationRule):
                    refs = lr.rule.referenced_rules or lr.rule.rules or []
                    broken = [r for r in refs if id(r.rule) in failed]
                    if broken:
                        raise MatcherError(
                            f"correlation rule '{lr.title}' references rule '{broken[0].reference}', "
                            "which cannot be compiled",
                            Location(lr.path, lr.line_of(broken[0].reference)),
                        )
                    eng._add_correlation(lr, values)
                else:  # pragma: no cover - RuleSet only holds these two kinds
                    raise MatcherError(f"unknown rule kind {type(lr.rule).__name__}", Location(lr.path))
            except (StormpackError, SigmaError) as exc:
                err = _matcher_error(exc, lr)
                if strict:
                    raise err from None
                failed.add(id(lr.rule))
                eng.errors.setdefault(lr.path, err)
        for group in eng._by_logsource.values():
            group.finalise(eng._lowered, eng._generation)
        return eng

    def _add_rule(self, lr: LoadedRule, order: int, values: dict[str, list[str]]) -> None:
        rule = lr.rule
        assert isinstance(rule, SigmaRule)
        spec = self.taxonomy.logsource_for(rule.logsource, lr.title)
        ctx = ValueContext(lr.title, values)
        cc = ConditionCompiler(spec, self.taxonomy, ctx, self._lowered, self._generation, self._nv_memos)
        trees = [c.parse() for c in rule.detection.parsed_condition]
        predicate = predicate_for(cc, trees, str(lr.path))
        prefilter = cc.required_values(trees[0]) if len(trees) == 1 else None
        compiled = CompiledRule(
            loaded=lr, logsource=spec, predicate=predicate, order=order,
            emits=bool(getattr(rule, "_output", True)), prefilter=prefilter,
            timestamp_reader=make_reader(spec.timestamp, spec, self.taxonomy), generation=self._generation,
            literals=required_literals(cc, trees),
        )
        self.rules.append(compiled)
        self._by_rule[id(rule)] = compiled
        group = self._by_logsource.get(spec.key)
        if group is None:
            group = self._by_logsource[spec.key] = _LogsourceRules(spec)
        group.rules.append(compiled)

    def _add_correlation(self, lr: LoadedRule, values: Mapping[str, Sequence[str]]) -> None:
        rule = lr.rule
        assert isinstance(rule, SigmaCorrelationRule)
        refs = rule.referenced_rules or rule.rules or []
        bases = []
        for ref in refs:
            compiled = self._by_rule.get(id(ref.rule))
            if compiled is None:
                raise MatcherError(
                    f"correlation rule '{lr.title}': referenced rule '{ref.reference}' is not a "
                    "single-event rule (correlations of correlations are not supported)",
                    Location(lr.path, lr.line_of(ref.reference)),
                )
            bases.append((ref, compiled.loaded, compiled.logsource))
        spec = firstseen.spec_of(rule)
        evaluator = (CorrelationEvaluator(lr, bases, self.taxonomy, values) if spec is None
                     else FirstSeenEvaluator(lr, bases, self.taxonomy, spec))
        self._correlation_index[id(evaluator)] = len(self.correlations)
        for ref in refs:
            self._by_rule[id(ref.rule)].feeds.append((evaluator, ref.reference))
        self.correlations.append(evaluator)

    def literal_alternatives(self) -> list[list[tuple[frozenset[str], bool]]] | None:
        """Per single-event rule (emitting or feeding a correlation), the literal sets it needs
        in a record's raw JSON text (lower-cased; ``bool``: some literal stands for a number),
        any one of which is a valid prefilter (see :mod:`.literals`); None when some rule has
        none, so every record must be parsed."""
        out = [r.literals for r in self.rules]
        return None if any(not x for x in out) else out

    # ------------------------------------------------------------------ running
    def classify(self, record: Mapping[str, Any]) -> LogsourceSpec | None:
        """The taxonomy log source of a raw record, or None when it is none of them."""
        if not isinstance(record, dict):
            return None
        return self.taxonomy.classify(record)

    def rule(self, name: str) -> CompiledRule:
        """A compiled single-event rule by file stem, id or title (for tests and tools)."""
        for r in self.rules:
            if name in (r.loaded.stem, r.loaded.id, r.loaded.title):
                return r
        raise KeyError(name)

    def matching_rules(
        self, record: Mapping[str, Any], logsource: LogsourceSpec | None = None
    ) -> list[CompiledRule]:
        """Every single-event rule of the record's log source that matches it (output or not)."""
        spec = logsource if logsource is not None else self.classify(record)
        if spec is None:
            return []
        group = self._by_logsource.get(spec.key)
        if group is None:
            return []
        self._generation.n += 1
        return [r for r in group.candidates(record) if r.predicate(record)]

    def process(
        self, record: Mapping[str, Any], ref: EventRef, logsource: LogsourceSpec | None = None
    ) -> list[Hit]:
        """Single-event hits of one record; records matching correlation base rules are kept.

        Raises :class:`TimestampError` (carrying the hits) when a record matches a correlation base
        rule but has no usable timestamp.
        """
        matched = self.matching_rules(record, logsource)
        if not matched:
            return []
        hits = self.hits_of(matched, ref, record)
        feeding = [r for r in matched if r.feeds]
        if feeding:
            self.feed(record, ref, feeding, hits)
        return hits

    @staticmethod
    def time_text(rule: CompiledRule, record: Mapping[str, Any]) -> str | None:
        """The record's time field as the hits carry it (every rule of a log source reads the same)."""
        ts = rule.timestamp_reader(record)
        return ts if ts.__class__ is str else (None if ts is MISSING or ts is None else str(ts))

    def hits_of(self, matched: Sequence[CompiledRule], ref: EventRef, record: Mapping[str, Any]) -> list[Hit]:
        """The hits of the matched rules that emit (the first half of :meth:`process`)."""
        ts_text = self.time_text(matched[0], record)
        return [Hit(r.loaded, ref, ts_text) for r in matched if r.emits]

    def feed(self, record: Mapping[str, Any], ref: EventRef, feeding: Sequence[CompiledRule],
             hits: list[Hit]) -> None:
        """Give a record to the correlations its matched base rules feed (the second half of
        :meth:`process`)."""
        epoch, ts_text, items = self.feed_items(record, ref, feeding, hits)
        self.feed_extracted(ref, epoch, ts_text, items)

    def feed_items(self, record: Mapping[str, Any], ref: EventRef, feeding: Sequence[CompiledRule],
                   hits: list[Hit]) -> tuple[float, str | None, list[FeedItem]]:
        """What the record gives each correlation (picklable: the parallel hunt's workers compute
        it, the one correlation state takes it in input order with :meth:`feed_extracted`).
        Raises :class:`TimestampError` carrying ``hits`` when the time field is unusable."""
        ts = feeding[0].timestamp_reader(record)
        when = parse_timestamp(ts)
        if when is None:
            raise TimestampError(
                f"record {ref.index}: time field '{feeding[0].logsource.timestamp}' is "
                f"{'missing' if ts is MISSING else _short(ts)}, not an ISO-8601 timestamp; "
                f"correlation rules cannot use it", Location(ref.source), ref, hits)
        index = self._correlation_index
        items = [(index[id(evaluator)], name, *evaluator.extract(name, record))
                 for r in feeding for evaluator, name in r.feeds]
        return when.timestamp(), self.time_text(feeding[0], record), items

    def feed_extracted(self, ref: EventRef, epoch: float, ts_text: str | None,
                       items: Sequence[FeedItem]) -> None:
        late: list[str] | None = None
        correlations = self.correlations
        for ci, name, raw, key, keys in items:
            evaluator = correlations[ci]
            if not evaluator.add_extracted(name, raw, key, keys, ref, epoch):
                if late is None:
                    late = []
                late.append(evaluator.loaded.title)
        if late is not None:
            self._late(ref, ts_text, late)

    def _late(self, ref: EventRef, ts: str | None, titles: list[str]) -> None:
        self.late_records += 1
        if len(self.late_samples) < MAX_LATE_SAMPLES:
            names = ", ".join(f"'{t}'" for t in dict.fromkeys(titles))
            self.late_samples.append(
                f"{ref.source}: record {ref.index} (time {ts}) is more than the allowed disorder "
                f"out of time order; left out of correlation {names}"
            )

    def set_max_disorder(self, seconds: float | None, *, settle_every: int = 1024) -> None:
        """Bound the correlation state (see :mod:`.correlation`): ``seconds`` is the allowed
        lateness of a record relative to the time order of the input; None keeps every record
        until :meth:`finish` (exact for any order, memory grows with the matching records).
        ``settle_every``: how many kept records between two prunings of one correlation."""
        if seconds is not None and (seconds < 0 or not math.isfinite(seconds)):
            raise MatcherError(f"the allowed disorder must be a finite duration >= 0, not {seconds}")
        self.max_disorder = seconds
        for evaluator in self.correlations:
            evaluator.max_disorder = seconds
            evaluator.settle_every = max(1, settle_every)

    def drain(self) -> list[CorrelationHit]:
        """Correlation hits already decided (bounded mode), each returned once; finish() returns
        the rest."""
        out: list[CorrelationHit] = []
        for evaluator in self.correlations:
            if evaluator.pending:
                out.extend(evaluator.take())
        return out

    def finish(self) -> list[CorrelationHit]:
        """Evaluate every correlation over the records kept so far, then clear that state."""
        out: list[CorrelationHit] = []
        for evaluator in self.correlations:
            out.extend(evaluator.finish())
        return out

    def reset(self) -> None:
        """Forget every record kept for correlations."""
        for evaluator in self.correlations:
            evaluator.reset()
        self.late_records = 0
        self.late_samples.clear()

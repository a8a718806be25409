"""Replay fixture cases through the compiled query of a target (``stormpack test --target``).

For every rule file and fixture case:

* the rule set is compiled for the target in-process as ``stormpack build`` compiles it
  (artifact mode: whole-value tenant lists become ``_GetWatchlist('alias')`` on Sentinel, fed
  here from the same values the matcher replay uses, in the rows build/ writes:
  ``SearchKey`` + ``Value``);
* each case's records become target-shaped rows (:func:`stormpack.shapes.derive.derive`);
* single-event rules run once per event (the event's row alone in its table): the event fires
  when the query returns a row; correlations run once over the whole case: the groups are the
  output rows' group-by columns;
* the executed verdict must equal the fixture's expectation AND the matcher's verdict. A known
  product difference (:data:`DIFFERENCES_FILE`) is reported as such, never silently skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from sigma.correlations import SigmaCorrelationRule

from .. import firstseen
from ..artifacts import lists
from ..artifacts.pack import list_references
from ..compiler import compile_rules
from ..compiler.engine import CompiledQuery
from ..compiler.targets import TargetSpec, load_target
from ..errors import StormpackError
from ..fixtures import FixtureCase, load_fixture_dir, todo_failure
from ..matcher import EventRef
from ..matcher.values import text_of
from ..replay import Failure, Replayer, RuleVerdict, load_rules_tolerant
from ..ruleset import LoadedRule, resolve_rule_paths
from ..shapes.derive import derive_kql
from ..taxonomy import load_taxonomy
from ..yamlio import load_yaml_text
from .base import Dataset, Executor, Row
from .registry import EXECUTORS, executor_for
from .spl.events import splunk_event

DIFFERENCES_FILE = "execute_differences.yml"


@dataclass(frozen=True)
class KnownDifference:
    rule: str
    target: str
    case: str
    reason: str


def load_differences() -> list[KnownDifference]:
    text = resources.files("stormpack.execute").joinpath(DIFFERENCES_FILE).read_text(encoding="utf-8")
    data = load_yaml_text(text, DIFFERENCES_FILE) or {}
    return [KnownDifference(str(d["rule"]), str(d["target"]), str(d["case"]), str(d["reason"]))
            for d in data.get("differences", [])]


@dataclass
class TargetVerdict(RuleVerdict):
    """A rule file's verdict on one target; ``note`` says why it was not executed."""

    target: str = ""
    note: str | None = None
    differences: list[str] = field(default_factory=list)  # known differences that occurred

    def summary(self) -> str:
        if self.note is not None and self.passed:
            return f"N/A  {self.stem} ({self.note})"
        base = super().summary()
        if self.passed and self.differences:
            return f"{base} ({len(self.differences)} known difference(s))"
        return base


def _epoch(case: FixtureCase) -> datetime:
    """The fixed clock of a case: one hour after its newest record (ago()/now() look back from it)."""
    times: list[datetime] = []
    for ev in case.events:
        for key in ("CreationTime", "createdDateTime", "activityDateTime", "time", "TimeGenerated"):
            v = ev.record.get(key)
            if isinstance(v, str):
                try:
                    d = datetime.fromisoformat(v.replace("Z", "+00:00"))
                except ValueError:
                    continue
                times.append(d if d.tzinfo else d.replace(tzinfo=UTC))
                break
    base = max(times) if times else datetime(2023, 7, 1, tzinfo=UTC)
    return base + timedelta(hours=1)


def _norm(v: Any) -> str | None:
    if v is None:
        return None
    t = text_of(v)
    return t.lower() if t is not None else None


class TargetReplayer:
    """Compiles a rule set for one target and judges its rule files on the executor."""

    def __init__(self, files: Sequence[Path], values: dict[str, list[str]], target: str,
                 fixtures_dir: Path, executor: Executor | None = None,
                 base_rules: Sequence[Path] = (), sources: Sequence[str] | None = None) -> None:
        self.target = target
        self.spec = load_target(target)
        # --windows-source: each rule's rows are shaped for the table its query reads
        self.specs: dict[str, TargetSpec] = {"": self.spec}
        for choice in sources or ():
            self.specs[choice] = self.spec.with_source(choice)
        self.fixtures_dir = fixtures_dir
        self.values = values
        # the correlations' base rules are loaded and compiled with them, but not judged
        files = [*files, *base_rules]
        ruleset, self.load_errors = load_rules_tolerant(files)
        self.ruleset = ruleset
        self.matcher = Replayer(ruleset, values, fixtures_dir) if ruleset is not None else None
        self.executor = executor if executor is not None else executor_for(target)
        self.taxonomy = load_taxonomy()
        rules = list(ruleset.rules) if ruleset is not None else []
        tenant = lists.tenant_lists(rules, values)
        good = [f for f in files if f not in self.load_errors]
        res = compile_rules(good, target, {k: list(v) for k, v in values.items()}, sources,
                            lists=list_references(target, tenant))
        self.queries: dict[Path, list[CompiledQuery]] = {}
        for q in res.queries:
            self.queries.setdefault(Path(q.path), []).append(q)
        self.skipped: dict[Path, str] = {}
        for lr, why in res.skipped:
            self.skipped.setdefault(Path(lr.path), why)
        for lr in res.not_generated:
            self.skipped.setdefault(Path(lr.path), "used only by a correlation (generate: false)")
        self.shape = EXECUTORS[target].shape if target in EXECUTORS else "kql"
        self.watchlists: dict[str, list[Row]] = {
            tl.watchlist: [{"SearchKey": v, lists.WATCHLIST_COLUMN: v} for v in tl.values]
            for tl in tenant if tl.is_list and target == "sentinel"
        }
        # Splunk: the lookups build/ writes (lookups/<name>.csv, one ``value`` column)
        self.lookups: dict[str, list[Row]] = {
            tl.lookup: [{lists.LOOKUP_COLUMN: v} for v in tl.values]
            for tl in tenant if tl.is_list and target == "splunk"
        }
        self.tables: dict[str, dict[str, str]] = {}
        for spec in self.specs.values():
            for lt in spec.logsources.values():
                if lt.table and not lt.unsupported and self.shape == "kql":
                    self.tables[lt.table] = dict(spec.columns(lt))
        self.differences = [d for d in load_differences() if d.target == target]
        prepare = getattr(self.executor, "prepare", None)
        if callable(prepare):
            prepare([q.query for qs in self.queries.values() for q in qs])

    # ------------------------------------------------------------------ datasets
    def _row(self, record: Mapping[str, Any], source: str = "") -> tuple[str, Row] | None:
        ls = self.taxonomy.classify(dict(record))
        if ls is None:
            return None
        spec = self.specs.get(source, self.spec)
        try:
            lt = spec.logsource(ls.key)
        except StormpackError:
            return None
        if self.shape == "spl":
            if lt.unsupported or not lt.sourcetype:
                return None
            event = splunk_event(ls.key, record)
            return str(event["sourcetype"]), event
        if lt.table is None or lt.unsupported:
            return None
        return lt.table, derive_kql(spec, ls.key, record).row

    def _dataset(self, rows: Sequence[tuple[str, Row]], now: datetime) -> Dataset:
        tables: dict[str, list[Row]] = {t: [] for t in self.tables}
        for table, row in rows:
            tables.setdefault(table, []).append(row)
        if self.shape == "spl":
            return Dataset(tables=tables, now=now, lookups=self.lookups)
        return Dataset(tables=tables, now=now, watchlists=self.watchlists, schemas=self.tables)

    # ------------------------------------------------------------------ judging
    def judge(self, path: Path) -> TargetVerdict:
        v = TargetVerdict(path=path, target=self.target)
        if path in self.load_errors:
            v.failures.append(Failure(f"cannot load: {self.load_errors[path]}"))
            return v
        queries = self.queries.get(path, [])
        if not queries:
            v.note = f"not compiled for {self.target}: {self.skipped.get(path, 'no query')}"
            return v
        try:
            cases = load_fixture_dir(self.fixtures_dir / path.stem)
        except StormpackError as exc:
            v.failures.append(Failure(str(exc)))
            return v
        v.cases = cases
        assert self.ruleset is not None and self.matcher is not None
        rules = [lr for lr in self.ruleset.rules if lr.path == path]
        v.rules = rules
        correlations = [lr for lr in rules if isinstance(lr.rule, SigmaCorrelationRule)]
        for case in cases:
            todo = todo_failure(case)
            if todo is not None:
                v.failures.append(Failure(todo, case.location("todo")))
            try:
                if correlations:
                    problems = self._correlation(correlations, queries, case)
                else:
                    problems = self._single(rules, queries, case)
            except StormpackError as exc:
                problems = [Failure(f"{self.target} executor: {exc}", case.location())]
            known = [d for d in self.differences if d.rule == path.stem and d.case == case.path.name]
            if known and problems:
                v.differences.append(f"{case.path.name}: {known[0].reason}")
            elif known:
                v.failures.append(Failure(f"known difference listed for {self.target} no longer occurs: "
                                          f"remove it from {DIFFERENCES_FILE}", case.location()))
            else:
                v.failures.extend(problems)
        return v

    def _run(self, queries: Sequence[CompiledQuery], data: Dataset) -> list[Row]:
        out: list[Row] = []
        for q in queries:
            out.extend(self.executor.run(q.query, data))
        return out

    def _single(self, rules: list[LoadedRule], queries: Sequence[CompiledQuery],
                case: FixtureCase) -> list[Failure]:
        assert self.matcher is not None
        engine = self.matcher.engine
        subject = {id(lr.rule) for lr in rules}
        expected = case.expected_indices()
        now = _epoch(case)
        out: list[Failure] = []
        for i, ev in enumerate(case.events):
            spec = engine.classify(ev.record)
            matched = spec is not None and any(
                id(r.loaded.rule) in subject for r in engine.matching_rules(ev.record, spec))
            shaped = self._row(ev.record, queries[0].source if queries[0].source in self.specs else "")
            fired = bool(self._run(queries, self._dataset([shaped] if shaped else [], now)))
            want = i in expected
            if fired != want or fired != matched:
                out.append(Failure(
                    f"event {i}: {self.target} query {'fired' if fired else 'did not fire'}, "
                    f"matcher {'fired' if matched else 'did not fire'}, expected "
                    f"{'match' if want else 'no match'} (case {case.path.name})", ev.location))
        return out

    def _correlation(self, rules: list[LoadedRule], queries: Sequence[CompiledQuery],
                     case: FixtureCase) -> list[Failure]:
        assert self.matcher is not None
        engine = self.matcher.engine
        engine.reset()
        shaped: list[tuple[str, Row]] = []
        for i, ev in enumerate(case.events):
            spec = engine.classify(ev.record)
            if spec is not None:
                engine.process(ev.record, EventRef(str(case.path), i), spec)
            row = self._row(ev.record)
            if row is not None:
                shaped.append(row)
        subject = {id(lr.rule) for lr in rules}
        matcher_groups = {frozenset((k, _norm(x)) for k, x in h.group.items())
                          for h in engine.finish() if id(h.rule.rule) in subject}
        keys = sorted({k for lr in rules if isinstance(lr.rule, SigmaCorrelationRule)
                       for k in (lr.rule.group_by or [])}
                      | {k for lr in rules if (fs := firstseen.spec_of(lr.rule)) for k in fs.keys})
        rows = self._run(queries, self._dataset(shaped, _epoch(case)))
        executed = {frozenset((k, _norm(r.get(k))) for k in keys) for r in rows}
        if case.expect == "no_match":
            expected: set[frozenset[tuple[str, str | None]]] = set()
        elif case.groups is None:
            expected = executed if executed else {frozenset()}
        else:
            expected = {frozenset((k, _norm(g.get(k))) for k in keys) for g in case.groups}
        missing = [k for k in keys if rows and k not in rows[0]]
        if missing:
            return [Failure(f"{self.target} query output lacks group-by column(s) {', '.join(missing)}",
                            case.location())]
        if executed == expected == matcher_groups or (case.groups is None and case.expect == "match"
                                                       and executed and matcher_groups):
            return []
        def show(gs: set[frozenset[tuple[str, str | None]]]) -> str:
            return "[" + "; ".join(", ".join(f"{k}={v}" for k, v in sorted(g)) for g in gs) + "]"
        return [Failure(f"{self.target} query groups {show(executed)}, matcher groups "
                        f"{show(matcher_groups)}, expected {show(expected)} (case {case.path.name})",
                        case.location("events"))]


def replay_target(rule_paths: Sequence[str | Path], fixtures_dir: Path, values: dict[str, list[str]],
                  target: str, executor: Executor | None = None,
                  base_rules: Sequence[Path] = (),
                  sources: Sequence[str] | None = None) -> list[TargetVerdict]:
    """Judge every rule file under ``rule_paths`` on ``target``'s executor; ``base_rules`` (the
    rules correlations reference, see :func:`stormpack.ruleset.find_base_rules`) are loaded and
    compiled too, but not judged."""
    if target not in EXECUTORS:
        raise StormpackError(f"unknown target '{target}' (known: {', '.join(EXECUTORS)})")
    files = resolve_rule_paths(rule_paths)
    rep = TargetReplayer(files, values, target, fixtures_dir, executor, base_rules, sources)
    return [rep.judge(p) for p in files]

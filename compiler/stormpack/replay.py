"""Fixture replay: run every case of every rule file through the matcher and judge it.

A rule FILE is the unit (one line of ``stormpack test``, one pytest test): its cases live in
``<fixtures>/<file stem>/``. The file's *subject* is its correlation rule(s) when it holds any,
else its single-event rule(s). A file passes when it has at least one ``match`` and one
``no_match`` case and every case holds:

* single-event subject - exactly the events listed in ``match`` (default: all) fire, no other;
  in a ``no_match`` case none fires;
* correlation subject - exactly the groups listed in ``groups`` fire (values compared
  case-insensitively, as the matcher groups); in a ``no_match`` case no group fires.

The whole rule set is compiled into one engine (correlations see base rules of other files);
a file that cannot be loaded or compiled fails alone, the others are still judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigma.correlations import SigmaCorrelationRule

from .errors import Location, RuleLoadError, StormpackError
from .fixtures import FixtureCase, load_fixture_dir, todo_failure
from .matcher import Engine, EventRef, TimestampError
from .matcher.values import text_of
from .ruleset import LoadedRule, RuleSet, load_ruleset, resolve_rule_paths


@dataclass
class Failure:
    """Why a rule file failed: where (case file / line) and what."""

    message: str
    location: Location | None = None

    def __str__(self) -> str:
        if self.location is not None and self.location.path is not None:
            return f"{self.location}: {self.message}"
        return self.message


@dataclass
class RuleVerdict:
    """The replay result of one rule file."""

    path: Path
    rules: list[LoadedRule] = field(default_factory=list)
    cases: list[FixtureCase] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        if self.passed:
            return f"PASS {self.stem} ({len(self.cases)} cases)"
        n = len(self.failures)
        return f"FAIL {self.stem} ({n} failure{'s' if n != 1 else ''})"


def load_rules_tolerant(paths: Sequence[str | Path]) -> tuple[RuleSet | None, dict[Path, StormpackError]]:
    """Load every rule file; a file that cannot be loaded is left out (and reported), not fatal."""
    files = resolve_rule_paths(paths)
    errors: dict[Path, StormpackError] = {}
    while files:
        try:
            return load_ruleset(files), errors
        except RuleLoadError as exc:
            bad = exc.location.path if exc.location is not None else None
            match = [f for f in files if bad is not None and Path(bad) == f]
            if not match:
                raise
            errors[match[0]] = exc
            files = [f for f in files if f != match[0]]
    return None, errors


def _norm_group(group: dict[str, Any]) -> frozenset[tuple[str, str | None]]:
    out = []
    for k, v in group.items():
        t = text_of(v) if v is not None else None
        out.append((str(k), t.lower() if t is not None else None))
    return frozenset(out)


def _show_group(group: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v!r}" for k, v in group.items()) + "}"


class Replayer:
    """One engine over a rule set, judging the fixture cases of each rule file."""

    def __init__(self, ruleset: RuleSet, values: dict[str, list[str]],
                 fixtures_dir: Path = Path("fixtures")) -> None:
        self.ruleset = ruleset
        self.fixtures_dir = fixtures_dir
        self.engine = Engine.build(ruleset, values, strict=False)

    def judge(self, path: Path, cases: list[FixtureCase]) -> RuleVerdict:
        rules = [lr for lr in self.ruleset.rules if lr.path == path]
        verdict = RuleVerdict(path=path, rules=rules, cases=cases)
        if path in self.engine.errors:
            verdict.failures.append(Failure(f"cannot compile for the matcher: {self.engine.errors[path]}"))
            return verdict
        if not cases:
            verdict.failures.append(Failure(
                f"no fixture cases: add {self.fixtures_dir / path.stem}/ with at least one "
                "'expect: match' and one 'expect: no_match' case (docs/fixtures.md)"))
            return verdict
        if not any(c.expect == "match" for c in cases):
            verdict.failures.append(Failure("no 'expect: match' fixture case (a rule must prove it fires)"))
        if not any(c.expect == "no_match" for c in cases):
            verdict.failures.append(
                Failure("no 'expect: no_match' fixture case (a rule must prove a near miss stays silent)")
            )
        correlations = [lr for lr in rules if isinstance(lr.rule, SigmaCorrelationRule)]
        for case in cases:
            todo = todo_failure(case)
            if todo is not None:
                verdict.failures.append(Failure(todo, case.location("todo")))
            if correlations:
                verdict.failures.extend(self._judge_correlation(correlations, case))
            else:
                verdict.failures.extend(self._judge_single(rules, case))
        return verdict

    # ------------------------------------------------------------------ single-event
    def _judge_single(self, rules: list[LoadedRule], case: FixtureCase) -> list[Failure]:
        if case.groups is not None:
            return [Failure("groups is for correlation rules; a single-event case lists 'match'",
                            case.location("groups"))]
        subject = {id(lr.rule) for lr in rules}
        out: list[Failure] = []
        expected = case.expected_indices()
        for i, ev in enumerate(case.events):
            spec = self.engine.classify(ev.record)
            if spec is None:
                out.append(Failure(f"event {i} is not a record of any taxonomy log source "
                                   "(see docs/taxonomy.md for the record shapes)", ev.location))
                continue
            fired = any(id(r.loaded.rule) in subject for r in self.engine.matching_rules(ev.record, spec))
            if i in expected and not fired:
                out.append(Failure(f"event {i} should fire but did not", ev.location))
            elif fired and i not in expected:
                why = "a no_match case" if case.expect == "no_match" else "not listed in match"
                out.append(Failure(f"event {i} fired but must not ({why})", ev.location))
        return out

    # ------------------------------------------------------------------ correlation
    def _judge_correlation(self, rules: list[LoadedRule], case: FixtureCase) -> list[Failure]:
        if case.match is not None:
            return [Failure("match is for single-event rules; a correlation case lists 'groups'",
                            case.location("match"))]
        out: list[Failure] = []
        grouped = any(isinstance(lr.rule, SigmaCorrelationRule) and lr.rule.group_by for lr in rules)
        if case.expect == "match" and case.groups is None and grouped:
            return [Failure("a positive correlation case must list the groups that fire ('groups')",
                            case.location())]
        engine = self.engine
        engine.reset()
        for i, ev in enumerate(case.events):
            spec = engine.classify(ev.record)
            if spec is None:
                out.append(Failure(f"event {i} is not a record of any taxonomy log source", ev.location))
                continue
            try:
                engine.process(ev.record, EventRef(str(case.path), i), spec)
            except TimestampError as exc:
                out.append(Failure(exc.message, ev.location))
        subject = {id(lr.rule) for lr in rules}
        hits = [h for h in engine.finish() if id(h.rule.rule) in subject]
        if out:
            return out
        fired: dict[frozenset[tuple[str, str | None]], list[Any]] = {}
        for h in hits:
            fired.setdefault(_norm_group(h.group), []).append(h)
        if case.expect == "no_match":
            for h in hits:
                events = ", ".join(str(r.index) for r in h.refs)
                out.append(Failure(f"group {_show_group(h.group)} fired on events {events} but must not "
                                   "(a no_match case)", case.location("events")))
            return out
        if case.groups is None:
            if not hits:
                out.append(Failure("the correlation did not fire", case.location("events")))
            return out
        want = {_norm_group(g): g for g in case.groups}
        for key, g in want.items():
            if key not in fired:
                out.append(Failure(f"group {_show_group(g)} should fire but did not",
                                   case.location("groups")))
        for key, hs in fired.items():
            if key not in want:
                events = ", ".join(str(r.index) for r in hs[0].refs)
                out.append(Failure(f"group {_show_group(hs[0].group)} fired on events {events} but is not "
                                   "listed in groups", case.location("groups")))
        return out


def replay(
    rule_paths: Sequence[str | Path], fixtures_dir: Path, values: dict[str, list[str]],
    base_rules: Sequence[Path] = (),
) -> list[RuleVerdict]:
    """Judge every rule file under ``rule_paths`` against ``fixtures_dir/<stem>/``; ``base_rules``
    are loaded too (the rules correlations reference, see ``ruleset.find_base_rules``) but not judged."""
    files = resolve_rule_paths(rule_paths)
    ruleset, load_errors = load_rules_tolerant([*files, *base_rules])
    replayer = Replayer(ruleset, values, fixtures_dir) if ruleset is not None else None
    verdicts: list[RuleVerdict] = []
    for path in files:
        if path in load_errors:
            verdicts.append(RuleVerdict(path=path, failures=[Failure(f"cannot load: {load_errors[path]}")]))
            continue
        try:
            cases = load_fixture_dir(fixtures_dir / path.stem)
        except StormpackError as exc:
            verdicts.append(RuleVerdict(path=path, failures=[Failure(str(exc))]))
            continue
        assert replayer is not None
        verdicts.append(replayer.judge(path, cases))
    return verdicts

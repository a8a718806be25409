"""Agreement over the fixtures of a rule pack: every fixture event, every target that compiles
the rule, the matcher's verdict on the source record vs the compiled query's on the derived one.

Single-event rules: :func:`~.agreement.target_rule` verdicts, event by event. Correlation rules:
their base rules' event verdicts. The compiled correlations' windows slide as the matcher's
(``kql_correlation`` / the SPL backend: sort + a running window per group, issue #10), so there
is no window to simulate here; their executed verdicts on every fixture case are compared with
the matcher's by ``stormpack test --target`` (:mod:`stormpack.execute.harness`).

Every difference is a :class:`Difference`; the documented ones are listed in
``differences.yml`` next to this module (and explained in docs/agreement.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from ..compiler.engine import compile_rules
from ..compiler.targets import TARGETS
from ..errors import StormpackError
from ..fixtures import FixtureCase, load_fixture_dir
from ..matcher import Engine
from ..matcher.engine import CompiledRule
from ..ruleset import LoadedRule, RuleSet, load_ruleset
from ..taxonomy import load_taxonomy
from ..yamlio import load_yaml_text
from .agreement import TargetRule, target_rule
from .kqlexpr import Uninterpretable

Key = tuple[str, str, str, int | None, str]


@dataclass(frozen=True)
class Difference:
    """One place where a target's verdict differs from the matcher's (or cannot be computed)."""

    rule: str  # rule file stem
    target: str
    case: str  # fixture case file name ("" for the rule as a whole)
    event: int | None  # event index in the case (None: a whole correlation case / the rule)
    kind: str  # "verdict" or "uninterpretable"
    detail: str = field(default="", compare=False)

    @property
    def key(self) -> Key:
        return (self.rule, self.target, self.case, self.event, self.kind)

    def __str__(self) -> str:
        where = f"{self.case} event {self.event}" if self.event is not None else (self.case or "rule")
        return f"{self.rule} on {self.target}, {where}: {self.kind}: {self.detail}"


@dataclass(frozen=True)
class Documented:
    key: Key
    reason: str


def load_documented() -> list[Documented]:
    """The known, documented differences (differences.yml next to this module)."""
    text = resources.files("stormpack").joinpath("shapes/differences.yml").read_text(encoding="utf-8")
    data = load_yaml_text(text, "stormpack/shapes/differences.yml") or {}
    out = []
    for d in data.get("differences") or []:
        ev = d.get("event")
        out.append(Documented((str(d["rule"]), str(d["target"]), str(d.get("case", "")),
                               None if ev is None else int(ev), str(d["kind"])), str(d["reason"])))
    return out


class AgreementChecker:
    """The pack loaded and compiled once; :meth:`check` judges one rule file."""

    def __init__(self, rules: Sequence[str | Path], fixtures: Path, values: dict[str, list[str]],
                 targets: Iterable[str] = TARGETS) -> None:
        self.ruleset: RuleSet = load_ruleset(rules)
        self.fixtures = fixtures
        self.values = values
        self.targets = tuple(targets)
        self.taxonomy = load_taxonomy()
        self.engine = Engine.build(self.ruleset, values, strict=False)
        self.compiled_rules: dict[int, CompiledRule] = {id(c.loaded.rule): c for c in self.engine.rules}
        self.compiles: dict[str, set[tuple[Path, str]]] = {}
        for t in self.targets:
            result = compile_rules(list(rules), t, values)
            self.compiles[t] = {(q.path.resolve(), q.title) for q in result.queries}
            for lr in result.not_generated:
                self.compiles[t].add((lr.path.resolve(), lr.title))
        self._target_rules: dict[tuple[int, str], TargetRule | Uninterpretable] = {}
        self.compared: dict[str, int] = dict.fromkeys(self.targets, 0)  # event verdicts compared

    def compiles_for(self, lr: LoadedRule, target: str) -> bool:
        return (lr.path.resolve(), lr.title) in self.compiles[target]

    def _target_rule(self, lr: LoadedRule, target: str) -> TargetRule | Uninterpretable:
        key = (id(lr.rule), target)
        if key not in self._target_rules:
            try:
                self._target_rules[key] = target_rule(lr, target, self.values, self.taxonomy)
            except Uninterpretable as exc:
                self._target_rules[key] = exc
        return self._target_rules[key]

    # ------------------------------------------------------------------ one rule file
    def check(self, path: Path) -> list[Difference]:
        path = path.resolve()
        stem = path.stem
        in_file = [lr for lr in self.ruleset if lr.path.resolve() == path]
        folder = self.fixtures / stem
        cases = load_fixture_dir(folder) if folder.is_dir() else []
        singles = [lr for lr in in_file if isinstance(lr.rule, SigmaRule)]
        corrs = [lr for lr in in_file if isinstance(lr.rule, SigmaCorrelationRule)]
        for corr in corrs:
            for base in self.ruleset.referenced_by(corr):
                if base not in singles:
                    singles.append(base)
        out: list[Difference] = []
        for lr in singles:
            out.extend(self._check_single(stem, lr, cases))
        return sorted(set(out), key=lambda d: (d.target, d.case, -1 if d.event is None else d.event, d.kind))

    def _check_single(self, stem: str, lr: LoadedRule, cases: list[FixtureCase]) -> list[Difference]:
        compiled = self.compiled_rules.get(id(lr.rule))
        if compiled is None:
            return []  # the replay test reports a rule the matcher cannot compile
        out: list[Difference] = []
        for target in self.targets:
            if not self.compiles_for(lr, target):
                continue
            tr = self._target_rule(lr, target)
            if isinstance(tr, Uninterpretable):
                out.append(Difference(stem, target, "", None, "uninterpretable",
                                      f"rule '{lr.title}': {tr.message}"))
                continue
            for case in cases:
                for i, ev in enumerate(case.events):
                    if self.engine.classify(ev.record) is not compiled.logsource:
                        continue
                    want = compiled.matches(ev.record)
                    got = tr.verdict(ev.record)
                    self.compared[target] += 1
                    if want != got:
                        out.append(Difference(
                            stem, target, case.name, i, "verdict",
                            f"rule '{lr.title}': matcher {'fires' if want else 'is silent'}, "
                            f"{target} {'fires' if got else 'is silent'}"))
        return out


def compare(observed: list[Difference], documented: list[Documented], stem: str) -> list[str]:
    """Problems: an undocumented difference, or a documented one that no longer differs."""
    seen = {d.key: d for d in observed}
    known = {d.key: d for d in documented if d.key[0] == stem}
    problems = [f"undocumented difference: {d}" for k, d in seen.items() if k not in known]
    problems += [f"documented difference no longer differs (remove it from shapes/differences.yml "
                 f"and docs/agreement.md): {k} ({d.reason})" for k, d in known.items() if k not in seen]
    return problems


__all__ = ["AgreementChecker", "Difference", "Documented", "StormpackError", "compare", "load_documented"]

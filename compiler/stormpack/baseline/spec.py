"""The learner data file (``data/baseline_learners.yml``): which records teach each tenant list.

Every source's ``select`` is a Sigma selection; :func:`selection_engine` compiles all of them into
one matcher :class:`~stormpack.matcher.Engine` (one rule per source), so a record teaches a list
exactly when the pack's own matcher says the selection matches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from ..errors import BaselineError, Location
from ..ruleset import LoadedRule, RuleSet, find_line
from ..yamlio import load_yaml_file, read_text_file

LEARNERS_FILE = Path(__file__).resolve().parent.parent / "data" / "baseline_learners.yml"
KINDS = ("app_id", "prefix", "domain", "upn")
POLICIES = ("plain", "paired", "first_party", "account")


@dataclass(frozen=True)
class Source:
    """One kind of record that teaches a list."""

    index: int
    logsource: dict[str, str]
    select: dict[str, Any]
    value: tuple[str, ...]
    user: tuple[str, ...]
    ip: tuple[str, ...]


@dataclass(frozen=True)
class Learner:
    """How one tenant list is learned."""

    name: str
    kind: str
    policy: str
    why: str
    used_as: tuple[str, ...]
    sources: tuple[Source, ...]


def _fields(raw: Any, what: str, loc: Location) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(f, str) and f for f in raw):
        raise BaselineError(f"{what} must be a non-empty list of field names", loc)
    return tuple(raw)


def load_learners(path: Path = LEARNERS_FILE) -> dict[str, Learner]:
    """Every learner of the data file; a malformed entry is a BaselineError naming file and line."""
    text = read_text_file(path)
    doc = load_yaml_file(path)
    lists = doc.get("lists") if isinstance(doc, dict) else None
    if not isinstance(lists, dict) or not lists:
        raise BaselineError("expected a mapping 'lists' of list name -> learner", Location(path, 1))
    out: dict[str, Learner] = {}
    for name, body in lists.items():
        loc = Location(path, find_line(text, f"  {name}:"))
        if not isinstance(body, dict):
            raise BaselineError(f"learner '{name}' must be a mapping", loc)
        kind, policy = body.get("kind"), body.get("policy")
        if kind not in KINDS:
            raise BaselineError(f"learner '{name}': kind must be one of {', '.join(KINDS)}", loc)
        if policy not in POLICIES:
            raise BaselineError(f"learner '{name}': policy must be one of {', '.join(POLICIES)}", loc)
        raw_sources = body.get("sources")
        if not isinstance(raw_sources, list) or not raw_sources:
            raise BaselineError(f"learner '{name}' needs a non-empty list 'sources'", loc)
        sources = []
        for i, s in enumerate(raw_sources):
            if not isinstance(s, dict) or not isinstance(s.get("logsource"), dict) or not isinstance(
                    s.get("select"), dict) or not s["select"]:
                raise BaselineError(f"learner '{name}' source {i + 1}: needs 'logsource' and a non-empty "
                                    "'select' mapping", loc)
            sources.append(Source(
                index=i, logsource={str(k): str(v) for k, v in s["logsource"].items()},
                select=dict(s["select"]),
                value=_fields(s.get("value"), f"learner '{name}' source {i + 1}: 'value'", loc),
                user=_fields(s.get("user"), f"learner '{name}' source {i + 1}: 'user'", loc),
                ip=_fields(s.get("ip"), f"learner '{name}' source {i + 1}: 'ip'", loc)))
        out[str(name)] = Learner(
            name=str(name), kind=str(kind), policy=str(policy),
            why=" ".join(str(body.get("why", "")).split()),
            used_as=_fields(body.get("used_as"), f"learner '{name}': 'used_as'", loc), sources=tuple(sources))
    return out


def source_rule_title(learner: Learner, source: Source) -> str:
    return f"baseline {learner.name} source {source.index + 1}"


def selection_ruleset(learners: dict[str, Learner], path: Path = LEARNERS_FILE) -> tuple[
        RuleSet, dict[int, tuple[Learner, Source]]]:
    """One Sigma rule per source (its ``select`` as the only selection), and rule -> source."""
    text = read_text_file(path)
    loaded: list[LoadedRule] = []
    by_rule: dict[int, tuple[Learner, Source]] = {}
    for learner in learners.values():
        for source in learner.sources:
            doc = {"title": source_rule_title(learner, source), "status": "experimental",
                   "logsource": source.logsource,
                   "detection": {"select": source.select, "condition": "select"}}
            try:
                rule = SigmaRule.from_dict(doc)
            except SigmaError as exc:
                raise BaselineError(f"learner '{learner.name}' source {source.index + 1}: {exc}",
                                    Location(path, find_line(text, f"  {learner.name}:"))) from None
            loaded.append(LoadedRule(rule=rule, path=path, text=text))
            by_rule[id(rule)] = (learner, source)
    coll = SigmaCollection(init_rules=[lr.rule for lr in loaded], resolve_references=False)
    return RuleSet(rules=loaded, collection=coll), by_rule


@cache
def default_learners() -> dict[str, Learner]:
    return load_learners()

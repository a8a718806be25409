"""What the emitters consume: compiled queries (from the compiler) and rule metadata (from the rule).

The emitters depend only on the attribute names of the compiler's ``CompiledQuery`` (a
Protocol here), never on its internals; the rule's own metadata (description, tags, false
positives, custom attributes) is read once into a :class:`RuleMeta`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from sigma.correlations import SigmaCorrelationRule

from .. import firstseen
from ..errors import ArtifactError, Location, StormpackError
from ..firstseen import FirstSeen
from ..ruleset import LoadedRule
from ..taxonomy import load_taxonomy
from . import settings
from .timebound import TimeBound, event_time_bound


class QueryLike(Protocol):
    """The attributes of ``stormpack.compiler.CompiledQuery`` the emitters read."""

    @property
    def rule_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def level(self) -> str | None: ...
    @property
    def path(self) -> Path: ...
    @property
    def stem(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def logsource(self) -> str: ...
    @property
    def table(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def fields(self) -> Mapping[str, str]: ...
    @property
    def is_correlation(self) -> bool: ...
    @property
    def tables(self) -> tuple[str, ...]: ...
    @property
    def source(self) -> str: ...  # the ``--windows-source`` choice its table came from ("" if none)


def base_table(query: QueryLike) -> str:
    """The table a KQL query reads first (a correlation over several tables keeps its first); read
    from the compiler's ``tables``, never parsed out of the ``table`` description."""
    return query.tables[0] if query.tables else ""


_TECHNIQUE = re.compile(r"^t(\d{4})(?:\.(\d{3}))?$")


@dataclass(frozen=True)
class Attack:
    """ATT&CK content of a rule's tags, in the products' spellings."""

    tactics: tuple[str, ...]  # Sentinel PascalCase, e.g. CredentialAccess
    techniques: tuple[str, ...]  # T1114.002 style, sub-techniques kept
    tactic_tags: tuple[str, ...]  # as tagged, hyphenated: credential-access

    @property
    def parent_techniques(self) -> tuple[str, ...]:
        out: list[str] = []
        for t in self.techniques:
            parent = t.split(".", 1)[0]
            if parent not in out:
                out.append(parent)
        return tuple(out)


def parse_attack(tags: Sequence[tuple[str, str]], where: Location) -> Attack:
    """(namespace, name) tags -> :class:`Attack`. An ``attack.*`` tag we cannot map is an error."""
    tactics: list[str] = []
    tactic_tags: list[str] = []
    techniques: list[str] = []
    for ns, name in tags:
        if ns != "attack":
            continue
        n = name.lower().replace("_", "-")
        m = _TECHNIQUE.match(n)
        if m:
            tid = "T" + m.group(1) + (f".{m.group(2)}" if m.group(2) else "")
            if tid not in techniques:
                techniques.append(tid)
        elif n in settings.ATTACK_TACTIC_TAGS:
            tactic = settings.ATTACK_TACTIC_TAGS[n]
            if tactic not in tactics:
                tactics.append(tactic)
            if n not in tactic_tags:
                tactic_tags.append(n)
        elif re.fullmatch(r"[gs]\d{4}", n):
            continue  # group / software ids: no product field for them
        else:
            raise ArtifactError(f"tag 'attack.{name}' is neither an ATT&CK tactic nor a technique", where)
    return Attack(tuple(tactics), tuple(techniques), tuple(tactic_tags))


@dataclass(frozen=True)
class RuleMeta:
    """Everything an artifact says about a rule besides its query."""

    id: str
    title: str
    stem: str
    path: Path
    description: str
    level: str
    status: str
    author: str
    references: tuple[str, ...]
    falsepositives: tuple[str, ...]
    attack: Attack
    logsources: tuple[str, ...]  # taxonomy keys; a correlation lists those of its rules
    is_correlation: bool
    group_by: tuple[str, ...]  # correlation group-by fields (or aliases)
    timespan: timedelta | None  # correlation window
    custom: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""
    #: group-by name -> the taxonomy fields it stands for (an alias stands for one per rule)
    group_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: the fixed event-time range the condition confines matches to (:mod:`.timebound`):
    #: such a rule is shipped as a hunting query, never as a scheduled rule
    time_bound: TimeBound | None = None
    #: a first-seen correlation (:mod:`stormpack.firstseen`): its spec; ``timespan`` is its
    #: learning window
    first_seen: FirstSeen | None = None
    #: why a rule that is not time-bounded is still shipped as a hunting query only (its level is
    #: informational, or it carries ``hunting_only: true``); None: scheduled
    hunting_only: str | None = None

    @property
    def is_hunting(self) -> bool:
        return self.time_bound is not None or self.hunting_only is not None

    def hunting_reason(self) -> str:
        """Why the rule is a hunting query and not a scheduled rule (catalogue, descriptions)."""
        if self.time_bound is not None:
            return (f"it matches only events from {self.time_bound.label()}, older than any scheduled "
                    "run reads")
        assert self.hunting_only is not None, "not a hunting rule"
        return self.hunting_only

    def group_column_for(self, taxonomy_field: str) -> str | None:
        """The group-by name a correlation returns ``taxonomy_field`` under, if any."""
        for name, fields in self.group_fields.items():
            if taxonomy_field in fields:
                return name
        return None

    def location(self, needle: str | None = None) -> Location:
        if needle:
            for i, line in enumerate(self.text.splitlines(), start=1):
                if needle in line:
                    return Location(self.path, i)
        return Location(self.path)


def _logsource_key(rule: Any, title: str, path: Path) -> str:
    try:
        return load_taxonomy().logsource_for(rule.logsource, title).key
    except StormpackError as exc:
        raise ArtifactError(exc.reason, Location(path), rule=exc.rule) from None


def rule_meta(loaded: LoadedRule) -> RuleMeta:
    """Read the metadata of one loaded rule (a correlation takes its rules' log sources)."""
    rule = loaded.rule
    where = Location(loaded.path)
    if not loaded.id:
        raise ArtifactError(f"rule '{loaded.title}' has no id; every artifact is keyed by it", where)
    tags = [(str(t.namespace), str(t.name)) for t in (rule.tags or [])]
    attack = parse_attack(tags, Location(loaded.path, loaded.line_of("tags:")))
    group_by: tuple[str, ...] = ()
    timespan: timedelta | None = None
    group_fields: dict[str, tuple[str, ...]] = {}
    bound: TimeBound | None = None
    if isinstance(rule, SigmaCorrelationRule):
        keys: list[str] = []
        for ref in rule.rules or []:
            ref_rule = ref.rule
            if ref_rule is None:
                raise ArtifactError(f"correlation '{loaded.title}' has an unresolved rule reference", where)
            key = _logsource_key(ref_rule, str(ref_rule.title), loaded.path)
            if key not in keys:
                keys.append(key)
        logsources = tuple(keys)
        group_by = tuple(str(g) for g in (rule.group_by or []))
        aliases = getattr(rule.aliases, "aliases", None) or {}
        for g in group_by:
            alias = aliases.get(g)
            group_fields[g] = tuple(dict.fromkeys(str(f) for f in alias.mapping.values())) if alias else (g,)
        timespan = timedelta(seconds=int(rule.timespan.seconds))
    else:
        logsources = (_logsource_key(rule, loaded.title, loaded.path),)
        bound = event_time_bound(rule, load_taxonomy().logsources[logsources[0]].timestamp)
    level = rule.level.name.lower() if rule.level is not None else "medium"
    custom = dict(rule.custom_attributes or {})
    author = str(rule.author or "")
    return RuleMeta(
        id=loaded.id,
        title=loaded.title,
        stem=loaded.stem,
        path=loaded.path,
        description=str(rule.description or "").strip(),
        level=level,
        status=rule.status.name.lower() if rule.status is not None else "",
        author=author,
        references=tuple(str(r) for r in (rule.references or [])),
        falsepositives=tuple(str(f) for f in (rule.falsepositives or [])),
        attack=attack,
        logsources=logsources,
        is_correlation=isinstance(rule, SigmaCorrelationRule),
        group_by=group_by,
        timespan=timespan,
        custom=custom,
        text=loaded.text,
        group_fields=group_fields,
        time_bound=bound,
        first_seen=firstseen.spec_of(rule),
        hunting_only=_hunting_only(level, custom, loaded),
    )


HUNTING_INFORMATIONAL = ("its level is informational: informational rules are hunting-only "
                         "(docs/noise.md, alert budget)")
HUNTING_DEMOTED = ("it carries hunting_only: true: demoted from a scheduled rule because it exceeds its "
                   "level's alert budget on a normal tenant (docs/noise.md)")


def _hunting_only(level: str, custom: Mapping[str, Any], loaded: LoadedRule) -> str | None:
    """Why an untimed rule is hunting-only (informational level, or ``hunting_only: true``)."""
    raw = custom.get(settings.ATTR_HUNTING_ONLY)
    if raw is not None and not isinstance(raw, bool):
        raise ArtifactError(f"custom attribute {settings.ATTR_HUNTING_ONLY}: '{raw}' is not true or false",
                            Location(loaded.path, loaded.line_of(f"{settings.ATTR_HUNTING_ONLY}:")))
    if raw is True:
        return HUNTING_DEMOTED
    if level == "informational":
        return HUNTING_INFORMATIONAL
    return None

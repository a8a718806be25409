"""The first-seen extension: a declared stormpack extension of Sigma correlations.

Sigma has no way to say "a value this tenant has not seen in the last N days" (the method that
caught Storm-0558: an AppId not seen before reading mail, CISA AA23-193A). stormpack adds one
correlation type for it (docs/writing-rules.md, "First-seen rules")::

    correlation:
      type: stormpack_first_seen      # the extension; plain pySigma rejects it by name
      rules:
        - mail_items_accessed_delegated   # exactly one base rule
      group-by:                           # optional: first seen per group (tenant, user)
        - OrganizationId
      timespan: 14d                       # the learning window N
      condition:
        field: ClientAppId                # the value that must be new
        eq: 0                             # sightings of the value in the learning window

An event of the base rule at time ``t`` fires when its value of ``field`` (in its group) was not
seen by the base rule in ``[t - N, t)``. A value last seen more than N days earlier is new again.

Plain sigma-cli / pySigma 1.5.1 reads such a rule and stops with
``'stormpack_first_seen' is no valid Sigma correlation type`` (tests/test_first_seen.py encodes
it). stormpack validates the parameters here, then hands pySigma a *carrier*: the same
correlation with type ``value_count`` and condition ``gte: 1``, so rule references, ordering and
metadata work unchanged, and marks the parsed rule with its :class:`FirstSeen` spec
(:func:`spec_of`). Every consumer that evaluates a correlation asks :func:`spec_of` first: the
matcher (:mod:`stormpack.matcher.firstseen`), the KQL and SPL renderers
(:mod:`stormpack.compiler.firstseen`), the harness and the schedule model.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sigma.correlations import SigmaCorrelationTimespan
from sigma.exceptions import SigmaError

from .errors import Location, RuleLoadError

TYPE = "stormpack_first_seen"
#: the attribute of a parsed pySigma correlation rule that carries its spec
_ATTR = "_stormpack_first_seen"
MIN_LEARNING = timedelta(hours=1)
_KEYS = {"type", "rules", "group-by", "timespan", "condition", "generate"}


@dataclass(frozen=True)
class FirstSeen:
    """A first-seen correlation: ``field``'s value per ``group_by`` not seen for ``learning``."""

    rule: str  # the base rule reference, as written
    field: str
    group_by: tuple[str, ...]
    learning: timedelta

    @property
    def keys(self) -> tuple[str, ...]:
        """The output columns that identify one alert: the group-by fields, then the field."""
        return (*self.group_by, self.field)


def is_first_seen(doc: Any) -> bool:
    corr = doc.get("correlation") if isinstance(doc, dict) else None
    return isinstance(corr, dict) and corr.get("type") == TYPE


def _line(text: str, needle: str, after: int = 0) -> int | None:
    for i, line in enumerate(text.splitlines(), start=1):
        if i > after and needle in line:
            return i
    return None


def parse(doc: dict[str, Any], path: Path | str, text: str) -> FirstSeen:
    """The spec of a first-seen correlation document; RuleLoadError naming the line otherwise."""
    corr = doc["correlation"]
    top = _line(text, "correlation:") or 0

    def fail(message: str, needle: str | None = None) -> RuleLoadError:
        line = _line(text, needle, top) if needle else None
        return RuleLoadError(f"{TYPE}: {message}", Location(path, line or top or None))

    unknown = sorted(str(k) for k in corr if k not in _KEYS)
    if unknown:
        raise fail(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))}; "
                   "aliases are not supported)", f"{unknown[0]}:")
    rules = corr.get("rules")
    if not (isinstance(rules, list) and len(rules) == 1 and isinstance(rules[0], str) and rules[0]):
        raise fail("'rules' must list exactly one base rule (its name or id)", "rules:")
    group = corr.get("group-by", [])
    if isinstance(group, str):
        group = [group]
    if not isinstance(group, list) or not all(isinstance(g, str) and g for g in group):
        raise fail("'group-by' must be a field name or a list of field names", "group-by:")
    if len(set(group)) != len(group):
        raise fail("'group-by' names a field twice", "group-by:")
    raw_span = corr.get("timespan")
    if raw_span is None:
        raise fail("'timespan' (the learning window, e.g. 14d) is required")
    try:
        seconds = SigmaCorrelationTimespan(str(raw_span)).seconds
    except SigmaError:
        raise fail(f"timespan '{raw_span}' is not a Sigma timespan (e.g. 14d, 336h)", "timespan:") from None
    learning = timedelta(seconds=seconds)
    if learning < MIN_LEARNING:
        raise fail(f"timespan '{raw_span}' is shorter than the smallest learning window, 1h", "timespan:")
    cond = corr.get("condition")
    if not isinstance(cond, dict) or set(cond) != {"field", "eq"}:
        raise fail("'condition' must be exactly {field: <field>, eq: 0} (the value was seen 0 times "
                   "in the learning window)", "condition:")
    field = cond["field"]
    if not isinstance(field, str) or not re.fullmatch(r"[A-Za-z0-9_.{}]+", field):
        raise fail(f"condition field {field!r} must be one field name", "field:")
    if isinstance(cond["eq"], bool) or cond["eq"] != 0:
        raise fail(f"condition 'eq: {cond['eq']}' is not supported: only eq: 0 (first seen) is",
                   "eq:")
    if field in group:
        raise fail(f"condition field '{field}' is also a group-by field", "field:")
    gen = corr.get("generate", False)
    if not isinstance(gen, bool):
        raise fail("'generate' must be true or false", "generate:")
    return FirstSeen(rule=rules[0], field=field, group_by=tuple(group), learning=learning)


def carrier(doc: dict[str, Any]) -> dict[str, Any]:
    """The document pySigma parses in place of a first-seen correlation (see the module doc)."""
    out = copy.deepcopy(doc)
    corr = out["correlation"]
    corr["type"] = "value_count"
    corr["condition"] = {"field": doc["correlation"]["condition"]["field"], "gte": 1}
    return out


def prepare(docs: list[Any], path: Path | str, text: str) -> tuple[list[Any], list[FirstSeen | None]]:
    """(documents for pySigma, the first-seen spec of each or None); raises RuleLoadError."""
    out: list[Any] = []
    specs: list[FirstSeen | None] = []
    for d in docs:
        if is_first_seen(d):
            specs.append(parse(d, path, text))
            out.append(carrier(d))
        else:
            specs.append(None)
            out.append(d)
    return out, specs


def mark(rule: Any, spec: FirstSeen | None) -> None:
    if spec is not None:
        setattr(rule, _ATTR, spec)


def spec_of(rule: Any) -> FirstSeen | None:
    """The first-seen spec of a parsed rule, None for every other rule."""
    spec = getattr(rule, _ATTR, None)
    return spec if isinstance(spec, FirstSeen) else None

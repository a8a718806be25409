"""What every match of a condition requires: the literals a record must carry.

Used to decide where a rule can match at all (availability.py: the RecordType / Workload /
Operation a rule needs) and to render exact prefilters (prefilter.py: a cheap term test that no
matching record can fail). Both only use what *every* branch of the condition requires, so a
value derived here never excludes a record the condition accepts:

* a leaf ``field = value`` requires that value of that field;
* ``a and b`` requires what ``a`` requires and what ``b`` requires;
* ``a or b`` requires, of one field, the union of what ``a`` and ``b`` require of it - and
  nothing when one side requires nothing of it;
* ``not a`` requires nothing (a negation is satisfied by records that lack the field).

Sigma compares strings case-insensitively, so values are compared lower-cased.
"""

from __future__ import annotations

from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
)
from sigma.types import SigmaNumber, SigmaString


def plain_text(value: Any) -> str | None:
    """The literal a Sigma value stands for, or None when it is a pattern (wildcards,
    placeholders, regex, CIDR ...)."""
    if isinstance(value, SigmaNumber):
        return str(value.number)
    if isinstance(value, SigmaString):
        if any(not isinstance(part, str) for part in value.s):
            return None
        return "".join(str(p) for p in value.s)
    return None


def required_values(cond: Any, field: str) -> frozenset[str] | None:
    """The values (lower-cased) one of which ``field`` holds in every record ``cond`` matches;
    None when ``cond`` does not constrain ``field`` to literals."""
    if isinstance(cond, ConditionFieldEqualsValueExpression):
        if cond.field != field:
            return None
        text = plain_text(cond.value)
        return frozenset([text.lower()]) if text is not None else None
    if isinstance(cond, ConditionAND):
        found: frozenset[str] | None = None
        for arg in cond.args:
            got = required_values(arg, field)
            if got is not None:
                found = got if found is None else found & got
        return found
    if isinstance(cond, ConditionOR):
        union: set[str] = set()
        for arg in cond.args:
            got = required_values(arg, field)
            if got is None:
                return None
            union |= got
        return frozenset(union)
    if isinstance(cond, ConditionNOT):
        return None
    return None


def rule_required_values(rule: Any, field: str) -> frozenset[str] | None:
    """:func:`required_values` over a SigmaRule's conditions (several conditions are OR-ed)."""
    conds = [c.parsed for c in rule.detection.parsed_condition]
    union: set[str] = set()
    for cond in conds:
        got = required_values(cond, field)
        if got is None:
            return None
        union |= got
    return frozenset(union)

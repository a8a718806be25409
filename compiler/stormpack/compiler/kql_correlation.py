"""Correlation rules rendered to KQL (upstream's Kusto backend has none).

Window semantics (documented in docs/compiler.md): like Splunk's `bin _time span=...`, windows are
TUMBLING: events are grouped by `bin(<time>, timespan)` plus the group-by fields. Two events in
neighbouring windows are not counted together even if they are closer than the timespan.

* event_count      count() of matching events per window and group
* value_count      number of distinct values of the field (exact: make_set, not dcount)
* temporal         number of distinct referenced rules that matched in the window
* temporal_ordered two referenced rules: the first one's earliest event precedes the second
                   one's latest event inside the window (more than two rules: compile error)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)
from sigma.rule import SigmaRule

from .kusto import Unexpressible
from .targets import FieldRef, kql_string

OPS: Mapping[SigmaCorrelationConditionOperator, str] = {
    SigmaCorrelationConditionOperator.LT: "<",
    SigmaCorrelationConditionOperator.LTE: "<=",
    SigmaCorrelationConditionOperator.GT: ">",
    SigmaCorrelationConditionOperator.GTE: ">=",
    SigmaCorrelationConditionOperator.EQ: "==",
}


@dataclass(frozen=True)
class SubRule:
    """What the correlation needs of one referenced rule on this target."""

    rule_id: str
    query: str  # finalized query of the rule (table | ... | where ...)
    time: str  # time column of its table
    refs: Mapping[str, FieldRef]  # correlation field (group-by / value field) -> ref on this rule


def kql_timespan(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _ident(name: str) -> str:
    import re

    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else "['" + name.replace("'", "\\'") + "']"


def _with_steps(sub: SubRule, fields: list[str]) -> str:
    q = sub.query
    for f in fields:
        for step in sub.refs[f].steps:
            if step.text not in q:
                q += "\n| " + step.text
    return q


def render(rule: SigmaCorrelationRule, subs: list[SubRule], group: list[str], value_field: str | None) -> str:
    """The KQL of one correlation; `group` and `value_field` as the rule writes them."""
    span = kql_timespan(int(rule.timespan.seconds))
    cond = rule.condition
    ctype = rule.type
    if ctype == SigmaCorrelationType.VALUE_COUNT and not value_field:
        raise Unexpressible("value_count correlation needs condition.field")
    if ctype not in (
        SigmaCorrelationType.EVENT_COUNT,
        SigmaCorrelationType.VALUE_COUNT,
        SigmaCorrelationType.TEMPORAL,
        SigmaCorrelationType.TEMPORAL_ORDERED,
    ):
        raise Unexpressible(f"correlation type {ctype} is not supported for KQL")
    needed = group + ([value_field] if value_field else [])
    parts = []
    for sub in subs:
        q = _with_steps(sub, needed)
        proj = [f"stormpack_rule = {kql_string(sub.rule_id)}", f"stormpack_time = {sub.time}"]
        proj += [f"{_ident(g)} = tostring({_ident(sub.refs[g].name)})" for g in group]
        if value_field:
            proj.append(f"stormpack_value = tostring({_ident(sub.refs[value_field].name)})")
        parts.append(q + "\n| project " + ", ".join(proj))
    if len(parts) == 1:
        search = parts[0]
    else:
        search = "union\n" + ",\n".join("(" + p.replace("\n", "\n    ") + ")" for p in parts)
    by = ", ".join([f"window_start = bin(stormpack_time, {span})"] + [_ident(g) for g in group])
    if not isinstance(cond, SigmaCorrelationCondition) or cond.op not in OPS:
        raise Unexpressible("correlation condition operator is not supported for KQL")
    op = OPS[cond.op]
    count = cond.count
    if ctype == SigmaCorrelationType.EVENT_COUNT:
        agg = f"| summarize event_count = count() by {by}\n| where event_count {op} {count}"
    elif ctype == SigmaCorrelationType.VALUE_COUNT:
        agg = (
            f"| summarize value_count = array_length(make_set(stormpack_value)) by {by}\n"
            f"| where value_count {op} {count}"
        )
    elif ctype == SigmaCorrelationType.TEMPORAL:
        agg = (
            f"| summarize rule_count = array_length(make_set(stormpack_rule)) by {by}\n"
            f"| where rule_count {op} {count}"
        )
    else:
        if len(subs) != 2:
            raise Unexpressible(
                "temporal_ordered with more than two rules cannot be expressed exactly in KQL here"
            )
        a, b = subs[0].rule_id, subs[1].rule_id
        agg = (
            f"| summarize first_time = minif(stormpack_time, stormpack_rule == {kql_string(a)}), "
            f"last_time = maxif(stormpack_time, stormpack_rule == {kql_string(b)}) by {by}\n"
            "| where isnotnull(first_time) and isnotnull(last_time) and first_time < last_time"
        )
    return search + "\n" + agg


def referenced(rule: SigmaCorrelationRule) -> list[SigmaRule]:
    out = []
    for ref in rule.rules or []:
        r = ref.rule
        if not isinstance(r, SigmaRule):
            raise Unexpressible("correlations of correlations are not supported for KQL")
        out.append(r)
    return out

"""Correlation rules rendered to KQL (upstream's Kusto backend has none).

Window semantics (docs/compiler.md, "Correlation windows"): SLIDING, as the matcher's and Sigma's
timespan: a group fires when some set of its events whose times lie less than ``timespan`` apart
satisfies the condition (the matcher's window ``[t, t + timespan)`` anchored at an event). No
bucket edges. Group-by values are compared case-insensitively (``tolower()``), as the matcher
compares them.

The query is one linear sweep per group, with operators whose semantics are documented:

1. every event becomes an interval ``[time, end)``: ``end = time + timespan`` (event_count); for
   value_count / temporal, the interval of an occurrence of a value also ends where the next
   occurrence of the same value in the group begins (``next()`` after ``sort``), so that at any
   instant at most one interval per distinct value is open;
2. ``mv-expand`` turns each interval into a +1 row at its start and a -1 row at its end;
3. ``sort`` by group and instant (at one instant: -1 before +1, since the window is half-open)
   and ``row_cumsum(delta, <group changed>)`` is the number of open intervals = events (event_count)
   or distinct values (value_count, temporal) in the window that ends at that instant;
4. the group fires at its first +1 row whose running sum satisfies the condition (the CLOSE
   of the first satisfying window); the events of that window (``close - timespan < time <=
   close``) are its members: the alert lists their addresses and apps (``make_set``) and
   first / last time.

temporal_ordered (two rules A, B): each A event is an interval ``(time, time + timespan)`` and each
B event a probe (delta 0, sorted between an instant's -1 and +1 rows); the group fires at the
first B probe with an open A interval, i.e. an A event strictly before it and less than timespan
earlier. More than two rules: compile error.

Only lower-bound conditions (``gte``/``gt``) slide this way; ``lt``/``lte``/``eq`` are refused
(a sliding upper bound holds for almost every window).

Operators (Microsoft Learn): sort https://learn.microsoft.com/en-us/kusto/query/sort-operator,
next() https://learn.microsoft.com/en-us/kusto/query/next-function, prev()
https://learn.microsoft.com/en-us/kusto/query/prev-function, row_cumsum()
https://learn.microsoft.com/en-us/kusto/query/row-cumsum-function, mv-expand
https://learn.microsoft.com/en-us/kusto/query/mv-expand-operator, minif()
https://learn.microsoft.com/en-us/kusto/query/minif-aggregate-function, make_list_if()
https://learn.microsoft.com/en-us/kusto/query/make-list-if-aggregate-function, make_set_if()
https://learn.microsoft.com/en-us/kusto/query/make-set-if-aggregate-function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)
from sigma.rule import SigmaRule

from ..syntax import KQL
from ..taxonomy import load_taxonomy
from .kusto import Unexpressible
from .targets import FieldRef

#: role of a member column -> output column (sets of the window's events' values)
MEMBER_COLUMNS: Mapping[str, str] = {"address": "addresses", "app": "apps"}
#: taxonomy fields each member role is read from, the first non-empty per record: the taxonomy's
#: ``ip`` and ``app`` roles (data/taxonomy.yml ``roles:``), as the IP and CloudApplication entities
MEMBER_FIELDS: Mapping[str, tuple[str, ...]] = {
    "address": load_taxonomy().role_fields("ip"),
    "app": load_taxonomy().role_fields("app"),
}


#: the line after which the query only adds the members of the groups that fired: a reader that
#: needs only the groups (Sentinel's previous-run cut, artifacts/sentinel.py) may stop there
GROUPS_FIRED = "| where isnotnull(stormpack_close)"


@dataclass(frozen=True)
class SubRule:
    """What the correlation needs of one referenced rule on this target."""

    rule_id: str
    query: str  # finalized query of the rule (table | ... | where ...)
    time: str  # time column of its table
    refs: Mapping[str, FieldRef]  # correlation field (group-by / value field) -> ref on this rule
    members: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # role -> KQL expressions


def threshold(rule: SigmaCorrelationRule) -> int:
    """The least count that fires: ``gte n`` is n, ``gt n`` is n + 1. Upper bounds do not slide."""
    cond = rule.condition
    if not isinstance(cond, SigmaCorrelationCondition):
        raise Unexpressible("an extended correlation condition is not supported for KQL/SPL here")
    if cond.op == SigmaCorrelationConditionOperator.GTE:
        return int(cond.count)
    if cond.op == SigmaCorrelationConditionOperator.GT:
        return int(cond.count) + 1
    raise Unexpressible(
        f"correlation condition '{cond.op.name.lower()}' cannot be evaluated over sliding windows "
        "(only gte / gt: an upper bound holds for almost every window)")


def kql_timespan(seconds: int) -> str:
    """A KQL timespan literal (:meth:`KqlSyntax.timespan`)."""
    return KQL.timespan(seconds)


def _ident(name: str) -> str:
    return KQL.ident(name)


def _with_steps(sub: SubRule, fields: list[str]) -> str:
    q = sub.query
    for f in fields:
        for step in sub.refs[f].steps:
            if step.text not in q:
                q += "\n| " + step.text
    return q


def _member_expr(exprs: tuple[str, ...]) -> str:
    if not exprs:
        return KQL.string("")
    if len(exprs) == 1 and exprs[0].startswith("tostring("):
        return exprs[0]
    return f"tostring({KQL.coalesce(exprs)})"


def render(rule: SigmaCorrelationRule, subs: list[SubRule], group: list[str], value_field: str | None) -> str:
    """The KQL of one correlation; `group` and `value_field` as the rule writes them."""
    span = KQL.timespan(int(rule.timespan.seconds))
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
    ordered = ctype == SigmaCorrelationType.TEMPORAL_ORDERED
    if ordered and len(subs) != 2:
        raise Unexpressible(
            "temporal_ordered with more than two rules cannot be expressed exactly in KQL here")
    need = 1 if ordered else threshold(rule)
    needed = group + ([value_field] if value_field else [])
    parts = []
    for sub in subs:
        q = _with_steps(sub, needed)
        proj = [f"stormpack_rule = {KQL.string(sub.rule_id)}", f"stormpack_time = {sub.time}"]
        proj += [KQL.group_key(g, sub.refs[g].name) for g in group]
        if not group:  # one group: every event
            proj.append(f"stormpack_group = {KQL.string('')}")
        if value_field:
            proj.append(KQL.group_key("stormpack_value", sub.refs[value_field].name))
        proj += [f"stormpack_{role} = {_member_expr(sub.members.get(role, ()))}" for role in MEMBER_COLUMNS]
        parts.append(q + "\n| project " + ", ".join(proj))
    if len(parts) == 1:
        search = parts[0]
    else:
        search = "union\n" + ",\n".join("(" + p.replace("\n", "\n    ") + ")" for p in parts)
    keys = [KQL.ident(g) for g in group] or ["stormpack_group"]
    by = ", ".join(keys)
    asc = ", ".join(k + " asc" for k in keys)
    same = " and ".join(f"{k} == next({k})" for k in keys)
    changed = " or ".join(f"{k} != prev({k})" for k in keys)
    lines = [search]
    if ordered:
        a = KQL.string(subs[0].rule_id)
        lines.append(
            f"| extend stormpack_at = iff(stormpack_rule == {a}, "
            f"pack_array(stormpack_time, stormpack_time + {span}), pack_array(stormpack_time)), "
            f"stormpack_delta = iff(stormpack_rule == {a}, dynamic([1, -1]), dynamic([0]))")
        fires = "stormpack_delta == 0 and stormpack_active > 0"
    else:
        distinct = {SigmaCorrelationType.VALUE_COUNT: "stormpack_value",
                    SigmaCorrelationType.TEMPORAL: "stormpack_rule"}.get(ctype)
        if distinct is None:  # event_count: every event counts for timespan
            end = f"stormpack_time + {span}"
        else:  # an occurrence counts until the next occurrence of its value (or timespan)
            lines.append(f"| sort by {asc}, {distinct} asc, stormpack_time asc")
            lines.append(
                f"| extend stormpack_end = iff({same} and {distinct} == next({distinct}) and "
                f"next(stormpack_time) < stormpack_time + {span}, next(stormpack_time), "
                f"stormpack_time + {span})")
            end = "stormpack_end"
        lines.append(f"| extend stormpack_at = pack_array(stormpack_time, {end}), "
                     "stormpack_delta = dynamic([1, -1])")
        fires = f"stormpack_delta > 0 and stormpack_active >= {need}"
    lines += [
        "| mv-expand stormpack_at to typeof(datetime), stormpack_delta to typeof(long)",
        f"| sort by {asc}, stormpack_at asc, stormpack_delta asc",
        f"| extend stormpack_active = row_cumsum(stormpack_delta, {changed})",
        f"| summarize stormpack_close = minif(stormpack_at, {fires}), stormpack_events = make_list_if("
        "bag_pack(\"at\", stormpack_at, \"rule\", stormpack_rule, \"value\", "
        + ("stormpack_value" if value_field else "\"\"")
        + ", \"address\", stormpack_address, \"app\", stormpack_app), stormpack_delta >= 0) by " + by,
        GROUPS_FIRED,
        "| mv-expand stormpack_event = stormpack_events",
        "| extend stormpack_time = todatetime(stormpack_event.at)",
        f"| where stormpack_time > stormpack_close - {span} and stormpack_time <= stormpack_close",
    ]
    def distinct_of(key: str) -> str:
        return f"array_length(make_set(tostring(stormpack_event.{key})))"

    def set_of(key: str) -> str:
        v = f"tostring(stormpack_event.{key})"
        return f"make_set_if({v}, isnotempty({v}))"

    metric = {SigmaCorrelationType.EVENT_COUNT: "event_count = count()",
              SigmaCorrelationType.VALUE_COUNT: f"value_count = {distinct_of('value')}"}.get(
                  ctype, f"rule_count = {distinct_of('rule')}")
    lines.append(
        f"| summarize {metric}, first_time = min(stormpack_time), last_time = max(stormpack_time), "
        f"{MEMBER_COLUMNS['address']} = {set_of('address')}, {MEMBER_COLUMNS['app']} = {set_of('app')} "
        f"by {by}")
    return "\n".join(lines)


def referenced(rule: SigmaCorrelationRule) -> list[SigmaRule]:
    out = []
    for ref in rule.rules or []:
        r = ref.rule
        if not isinstance(r, SigmaRule):
            raise Unexpressible("correlations of correlations are not supported for KQL")
        out.append(r)
    return out

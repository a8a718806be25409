"""First-seen correlations (:mod:`stormpack.firstseen`) rendered to KQL and SPL.

Both queries read ``slice + learning`` back and split what they read in two: the run's SLICE
(the records this run alerts on) and the HISTORY before it. A (group, value) of the slice fires
when the history does not hold it. Values and group keys are compared in lower case (the
matcher's comparison; KQL ``==``/``join`` and SPL ``stats by`` are case-sensitive). Records
without a value do not count.

The compiled query's slice is the last hour by event time (:data:`DEFAULT_SLICE`), the clock of
``stormpack test --target`` (one hour after a case's newest record). The deployable artifacts
put the schedule model's slice in its place (:mod:`stormpack.artifacts.firstseen`).

KQL (Sentinel, Defender XDR): a lookback join::

    let stormpack_learning = 14d;
    let stormpack_slice = 1h;
    let stormpack_events = <table>
    | extend stormpack_new = <time> >= ago(stormpack_slice)
    | where <base rule> | project stormpack_time, stormpack_new, <group>, stormpack_value
    | where isnotempty(stormpack_value);
    let stormpack_known = stormpack_events
    | where not(stormpack_new) and stormpack_time >= ago(stormpack_slice + stormpack_learning)
    | distinct <group>, stormpack_value;
    stormpack_events | where stormpack_new
    | join kind=leftanti (stormpack_known) on <group>, stormpack_value
    | summarize first_time = min(stormpack_time), ... by <group>, <field> = stormpack_value

SPL (Splunk): ``stats min(_time)`` over the learning window, the method of Splunk ESCU's
"first time seen" searches, rather than a lookup of known values: it needs no second scheduled
search to maintain the lookup and no state outside the events, at the cost of reading the whole
learning window on every run (docs/deploy.md, "First-seen rules")::

    <base search>
    | eval stormpack_value=lower('<field>'), <group>=lower('<group>')
    | where isnotnull(stormpack_value) AND stormpack_value!=""
        AND _time >= relative_time(now(), "-<slice+learning>s")      (on one line)
    | stats min(_time) as first_time max(_time) as last_time count as event_count by <group> stormpack_value
    | where first_time >= relative_time(now(), "-<slice>s")
    | rename stormpack_value AS <field>
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from ..firstseen import FirstSeen
from ..syntax import KQL, SPL
from .kql_correlation import MEMBER_COLUMNS, SubRule, _member_expr, _with_steps
from .kusto import Unexpressible

DEFAULT_SLICE = timedelta(hours=1)
KQL_SLICE_LET = "let stormpack_slice = "
KQL_LEARNING_LET = "let stormpack_learning = "
KQL_NEW = "| extend stormpack_new = "


def kql_new_by_event_time(time: str) -> str:
    return f"{KQL_NEW}{time} >= ago(stormpack_slice)"


def render_kql(spec: FirstSeen, subs: Sequence[SubRule], slice_: timedelta = DEFAULT_SLICE) -> str:
    if len(subs) != 1:
        raise Unexpressible("a first-seen correlation reads exactly one base rule")
    sub = subs[0]
    q = _with_steps(sub, list(spec.keys))
    table, nl, rest = q.partition("\n")
    if not KQL.is_ident(table.strip()):
        raise Unexpressible(f"the base rule's query does not start with its table ('{table[:60]}')")
    group = [KQL.ident(g) for g in spec.group_by]
    proj = ["stormpack_time = " + sub.time, "stormpack_new"]
    proj += [KQL.group_key(name, sub.refs[name].name) for name in spec.group_by]
    proj.append(KQL.group_key("stormpack_value", sub.refs[spec.field].name))
    # the alert's members, as every correlation lists them (kql_correlation.MEMBER_COLUMNS)
    proj += [f"stormpack_{role} = {_member_expr(sub.members.get(role, ()))}" for role in MEMBER_COLUMNS]
    members = "".join(f", {col} = make_set_if(stormpack_{role}, isnotempty(stormpack_{role}))"
                      for role, col in MEMBER_COLUMNS.items())
    keys = ", ".join([*group, "stormpack_value"])
    by = ", ".join([*group, f"{KQL.ident(spec.field)} = stormpack_value"])
    return "\n".join([
        f"{KQL_LEARNING_LET}{KQL.timespan(int(spec.learning.total_seconds()))};",
        f"{KQL_SLICE_LET}{KQL.timespan(int(slice_.total_seconds()))};",
        f"let stormpack_events = {table}",
        kql_new_by_event_time(sub.time),
        *([rest] if nl and rest else []),
        "| project " + ", ".join(proj),
        "| where isnotempty(stormpack_value);",
        "let stormpack_known = stormpack_events",
        "| where not(stormpack_new) and stormpack_time >= ago(stormpack_slice + stormpack_learning)",
        f"| distinct {keys};",
        "stormpack_events",
        "| where stormpack_new",
        f"| join kind=leftanti (stormpack_known) on {keys}",
        "| summarize first_time = min(stormpack_time), last_time = max(stormpack_time), "
        f"event_count = count(){members} by {by}",
    ])


def spl_since(seconds: int) -> str:
    """The eval expression of the time ``seconds`` before the search started."""
    return f'relative_time(now(), "-{seconds}s")'


def render_spl(spec: FirstSeen, search: str, columns: dict[str, str],
               slice_: timedelta = DEFAULT_SLICE,
               members: Mapping[str, tuple[str, ...]] | None = None) -> str:
    """``search``: the base rule's finalized search; ``columns``: rule field -> SPL field."""
    sl = int(slice_.total_seconds())
    total = sl + int(spec.learning.total_seconds())
    evals = [f"stormpack_value={SPL.lower(SPL.eval_ref(columns[spec.field]))}"]
    group = []
    for g in spec.group_by:
        col = columns[g]
        evals.append(f"{SPL.eval_ref(g)}={SPL.lower(SPL.eval_ref(col))}")
        group.append(SPL.word_field(g))
    for role in MEMBER_COLUMNS:  # the alert's members, as every correlation lists them
        exprs = (members or {}).get(role, ())
        if exprs:
            evals.append(f"stormpack_{role}={SPL.coalesce(exprs)}")
    aggs = "".join(f" values(stormpack_{role}) as {col}" for role, col in MEMBER_COLUMNS.items())
    by = " ".join([*group, "stormpack_value"])
    out = SPL.word_field(spec.field)
    return "\n".join([
        search.rstrip(),
        "| eval " + ", ".join(evals),
        f"| where {SPL.is_not_empty('stormpack_value')} AND _time >= {spl_since(total)}",
        f"| stats min(_time) as first_time max(_time) as last_time count as event_count{aggs} by {by}",
        f"| where first_time >= {spl_since(sl)}",
        f"| rename stormpack_value AS {out}",
    ])

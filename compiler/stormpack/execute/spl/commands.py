"""The SPL commands stormpack emits, over lists of rows (events or results).

Each command's semantics follows its page of the Search Reference
(https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/<Command>); a command
or argument form not implemented raises :class:`~..base.UnsupportedConstruct` naming it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..base import Dataset, Row, UnsupportedConstruct
from .evalexpr import CLOCK, evaluate, parse_expr, pcre, truth
from .search import SearchContext, compile_search
from .syntax import expand_macros, split_pipeline, split_top
from .timemod import resolve
from .values import glob_regex, mv, number, text, values_of

DOCS = "https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/"


@dataclass(frozen=True)
class Run:
    data: Dataset
    earliest: float | None = None  # dispatch time range (epoch seconds), latest exclusive
    latest: float | None = None


def _by_time_desc(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: -float(r.get("_time", 0) or 0))


def _events(run: Run) -> list[Row]:
    """Every event of the dataset inside the dispatch range, newest first (Splunk's order)."""
    out: list[Row] = []
    for events in run.data.tables.values():
        for ev in events:
            t = float(ev.get("_time", 0))
            if run.earliest is not None and t < run.earliest:
                continue
            if run.latest is not None and t >= run.latest:
                continue
            out.append(dict(ev))
    return _by_time_desc(out)


def _head_word(segment: str) -> tuple[str, str]:
    m = re.match(r"\s*([A-Za-z_][\w-]*)\s*(.*)$", segment, re.S)
    if m is None:
        raise UnsupportedConstruct(f"cannot read the command {segment[:40]!r}")
    return m.group(1).lower(), m.group(2)


def _context(run: Run) -> SearchContext:
    """Subsearches run first, over the same dataset and time range, their results substituted
    into the outer search. https://docs.splunk.com/Documentation/Splunk/latest/Search/Aboutsubsearches"""
    return SearchContext(run.data.now, subsearch=lambda text: execute(text, run))


def execute(text: str, run: Run) -> list[Row]:
    """Run a whole search (macros already expanded)."""
    segments = split_pipeline(text)
    ctx = _context(run)
    if segments[0] == "":
        if len(segments) < 2:
            raise UnsupportedConstruct("empty search")
        rows = _generating(segments[1], run)
        rest = segments[2:]
    else:
        first = segments[0]
        name, args = _head_word(first)
        expr = args if name == "search" else first
        pred = compile_search(expr, ctx)
        rows = [ev for ev in _events(run) if pred(ev)]
        rest = segments[1:]
    for seg in rest:
        name, args = _head_word(seg)
        if name not in COMMANDS:
            raise UnsupportedConstruct(f"SPL command '{name}'")
        rows = COMMANDS[name](args, rows, run)
    return rows


# ------------------------------------------------------------------------------ generating
def _generating(segment: str, run: Run) -> list[Row]:
    name, args = _head_word(segment)
    if name == "multisearch":
        return _multisearch(args, run)
    if name == "inputlookup":
        return _inputlookup(args, run)
    raise UnsupportedConstruct(f"SPL generating command '{name}'")


def _brackets(args: str) -> list[str]:
    """The ``[ ... ]`` groups of a multisearch."""
    parts: list[str] = []
    depth = 0
    start = -1
    i = 0
    while i < len(args):
        c = args[i]
        if c == '"':
            j = i + 1
            while j < len(args) and args[j] != '"':
                j += 2 if args[j] == "\\" else 1
            i = j + 1
            continue
        if c == "[":
            if depth == 0:
                start = i + 1
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                parts.append(args[start:i])
        elif depth == 0 and not c.isspace():
            raise UnsupportedConstruct(f"multisearch: text outside [ ]: {args[i:i + 30]!r}")
        i += 1
    if depth:
        raise UnsupportedConstruct("multisearch: unbalanced [ ]")
    return parts


def _multisearch(args: str, run: Run) -> list[Row]:
    """Runs every subsearch over the same events and interleaves the results by time.
    https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Multisearch"""
    subs = _brackets(args)
    if len(subs) < 2:
        raise UnsupportedConstruct("multisearch needs at least two subsearches")
    out: list[Row] = []
    for sub in subs:
        name, _ = _head_word(sub)
        if name != "search":
            raise UnsupportedConstruct(f"multisearch subsearch starting with '{name}' "
                                       "(only streaming searches)")
        out.extend(execute(sub.strip(), run))
    return _by_time_desc(out)


def _lookup_rows(name: str, run: Run) -> list[Row]:
    if name not in run.data.lookups:
        raise UnsupportedConstruct(f"lookup '{name}': not in the dataset's lookups")
    return [dict(r) for r in run.data.lookups[name]]


def _inputlookup(args: str, run: Run) -> list[Row]:
    """The rows of a lookup table. https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Inputlookup"""
    words = args.split()
    if len(words) != 1:
        raise UnsupportedConstruct(f"inputlookup arguments {args!r}")
    return _lookup_rows(words[0], run)


# ------------------------------------------------------------------------------ streaming
def _search(args: str, rows: list[Row], run: Run) -> list[Row]:
    """https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Search"""
    pred = compile_search(args, _context(run))
    return [r for r in rows if pred(r)]


def _where(args: str, rows: list[Row], run: Run) -> list[Row]:
    """Keeps the rows whose expression is true.
    https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Where"""
    node = parse_expr(args)
    return [r for r in rows if truth(node, r)]


def _assignment(part: str) -> tuple[str, str]:
    m = re.match(r"\s*('(?:[^'\\]|\\.)*'|[^\s=]+)\s*=(?!=)(.*)$", part, re.S)
    if m is None:
        raise UnsupportedConstruct(f"eval: cannot read the assignment {part.strip()!r}")
    name = m.group(1)
    return (name[1:-1] if name.startswith("'") else name), m.group(2)


def _eval(args: str, rows: list[Row], run: Run) -> list[Row]:
    """Assigns each ``field=expression`` in order; a null result removes the field; a boolean
    result is an error in Splunk ("Fields cannot be assigned a boolean result").
    https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Eval"""
    plan = [(name, parse_expr(expr)) for name, expr in map(_assignment, split_top(args, ","))]
    for r in rows:
        for name, node in plan:
            v = evaluate(node, r)
            if isinstance(v, bool):
                raise UnsupportedConstruct(f"eval {name}=...: a boolean result cannot be assigned "
                                           "(Splunk errors)")
            if v is None:
                r.pop(name, None)
            else:
                r[name] = v
    return rows


def _options(args: str) -> tuple[dict[str, str], list[str]]:
    opts: dict[str, str] = {}
    rest: list[str] = []
    for tok in re.findall(r'"(?:[^"\\]|\\.)*"|\S+', args):
        m = re.fullmatch(r"([A-Za-z_]+)=(.+)", tok)
        if m and not tok.startswith('"'):
            opts[m.group(1)] = m.group(2)
        else:
            rest.append(tok)
    return opts, rest


def _rex(args: str, rows: list[Row], run: Run) -> list[Row]:
    """Named groups of the (PCRE) regex become fields when it matches the field's value; no
    match (or no field) sets nothing. https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Rex"""
    from .values import unquote
    opts, rest = _options(args)
    if set(opts) - {"field"} or len(rest) != 1:
        raise UnsupportedConstruct(f"rex arguments {args!r} (only field= and one regex)")
    field = opts.get("field", "_raw")
    rx = pcre(unquote(rest[0]))
    for r in rows:
        v = r.get(field)
        if v is None:
            continue
        if isinstance(v, list):
            raise UnsupportedConstruct(f"rex over the multivalue field {field}")
        m = rx.search(text(v))
        if m is None:
            continue
        for k, g in m.groupdict().items():
            if g is not None:
                r[k] = g
    return rows


def _regex(args: str, rows: list[Row], run: Run) -> list[Row]:
    """``regex <field>="<regex>"`` keeps the results whose field value the (PCRE) regex matches
    anywhere (unanchored); ``<field>!=`` removes them instead; no field name tests ``_raw``.
    A result without the field does not match (kept by ``!=``). The pattern is a quoted SPL
    string (``\\`` a backslash, ``\"`` a quote).
    https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Regex"""
    from .values import unquote
    m = re.fullmatch(r'\s*(?:([\w.{}]+)\s*(!=|=)\s*)?("(?:[^"\\]|\\.)*")\s*', args)
    if m is None:
        raise UnsupportedConstruct(f"regex arguments {args!r} (only [field=|field!=]\"regex\")")
    field, op, pattern = m.group(1) or "_raw", m.group(2) or "=", m.group(3)
    rx = pcre(unquote(pattern))
    out: list[Row] = []
    for r in rows:
        v = r.get(field)
        if isinstance(v, list):
            raise UnsupportedConstruct(f"regex over the multivalue field {field}")
        hit = v is not None and rx.search(text(v)) is not None
        if hit == (op == "="):
            out.append(r)
    return out


_SPAN = re.compile(r"(\d+)(s|sec|m|min|h|hr|d|day|w)?$")


def _bin(args: str, rows: list[Row], run: Run) -> list[Row]:
    """Puts each value into its ``span``-wide bucket (the bucket's lower bound); ``_time``
    spans are aligned to the epoch in UTC here (Splunk aligns day spans to local midnight).
    https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Bin"""
    opts, rest = _options(args)
    if set(opts) != {"span"} or len(rest) != 1 or " as " in args.lower():
        raise UnsupportedConstruct(f"bin arguments {args!r} (only span= and one field)")
    m = _SPAN.match(opts["span"])
    if m is None:
        raise UnsupportedConstruct(f"bin span={opts['span']}")
    mult = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400,
            "day": 86400, "w": 604800}[m.group(2)]
    span = int(m.group(1)) * mult
    field = rest[0]
    for r in rows:
        n = number(r.get(field)) if not isinstance(r.get(field), list) else None
        if n is not None:
            r[field] = int(math.floor(n / span) * span)
    return rows


def _rename(args: str, rows: list[Row], run: Run) -> list[Row]:
    """``old AS new`` pairs; the new name takes the old field's values (an absent old field
    leaves the new name absent). https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Rename"""
    pairs: list[tuple[str, str]] = []
    for part in split_top(args, ","):
        words = re.findall(r'"(?:[^"\\]|\\.)*"|\S+', part)
        while words:
            if len(words) < 3 or words[1].lower() != "as":
                raise UnsupportedConstruct(f"rename arguments {args!r}")
            old, new = (w.strip('"') for w in (words[0], words[2]))
            if "*" in old or "*" in new:
                raise UnsupportedConstruct("rename with wildcards")
            pairs.append((old, new))
            words = words[3:]
    for r in rows:
        for old, new in pairs:
            v = r.pop(old, None)
            if v is None:
                r.pop(new, None)
            else:
                r[new] = v
    return rows


def _field_list(args: str) -> list[str]:
    return [w.strip('"') for w in re.split(r"[\s,]+", args.strip()) if w]


def _table(args: str, rows: list[Row], run: Run) -> list[Row]:
    """Only the listed fields (wildcards allowed), in that order.
    https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Table"""
    names = _field_list(args)
    out: list[Row] = []
    for r in rows:
        row: Row = {}
        for n in names:
            for k in ([k for k in r if glob_regex(n).fullmatch(k)] if "*" in n else [n]):
                if k in r:
                    row[k] = r[k]
        out.append(row)
    return out


def _fields(args: str, rows: list[Row], run: Run) -> list[Row]:
    """``fields a b`` keeps, ``fields - a b`` removes.
    https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Fields"""
    a = args.strip()
    if a.startswith("-"):
        names = _field_list(a[1:])
        return [{k: v for k, v in r.items() if not any(glob_regex(n).fullmatch(k) for n in names)}
                for r in rows]
    names = _field_list(a[1:] if a.startswith("+") else a)
    keep = [*names, "_time", "_raw"]
    return [{k: v for k, v in r.items() if any(glob_regex(n).fullmatch(k) for n in keep)} for r in rows]


def _lookup(args: str, rows: list[Row], run: Run) -> list[Row]:
    """``lookup <table> <match_field> [AS <event_field>] ... [OUTPUT|OUTPUTNEW <field> [AS <f>] ...]``:
    rows whose match fields equal the event's (case-sensitively: transforms.conf
    ``case_sensitive_match = true`` by default) give their output fields; several matching rows
    give multivalue fields; without OUTPUT every other column is output. OUTPUTNEW leaves
    fields the event already has.
    https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Lookup"""
    words = re.findall(r'"(?:[^"\\]|\\.)*"|[^\s,]+', args)
    if not words:
        raise UnsupportedConstruct("lookup without a table")
    table = _lookup_rows(words[0], run)
    words = words[1:]
    upper = [w.upper() for w in words]
    out_kw = next((i for i, w in enumerate(upper) if w in ("OUTPUT", "OUTPUTNEW")), len(words))
    only_new = out_kw < len(words) and upper[out_kw] == "OUTPUTNEW"

    def pairs(ws: list[str]) -> list[tuple[str, str]]:
        res: list[tuple[str, str]] = []
        i = 0
        while i < len(ws):
            if i + 2 < len(ws) and ws[i + 1].upper() == "AS":
                res.append((ws[i], ws[i + 2]))
                i += 3
            else:
                res.append((ws[i], ws[i]))
                i += 1
        return res

    match = pairs(words[:out_kw])
    outputs = pairs(words[out_kw + 1:])
    if not match:
        raise UnsupportedConstruct(f"lookup {args!r}: no match field")
    cols = list(table[0]) if table else []
    if not outputs:
        outputs = [(c, c) for c in cols if c not in {m for m, _ in match}]
    for r in rows:
        hits = [t for t in table if all(str(t.get(col)) in [text(v) for v in values_of(r.get(ev))]
                                        for col, ev in match)]
        for col, name in outputs:
            if only_new and r.get(name) is not None:
                continue
            v = mv([t.get(col) for t in hits if t.get(col) not in (None, "")])
            if v is None:
                r.pop(name, None)
            else:
                r[name] = v
    return rows


# ------------------------------------------------------------------------------ stats
@dataclass(frozen=True)
class Agg:
    func: str
    arg: str | None  # field name, or "eval(<expr>)"
    name: str


def _parse_aggs(text_: str) -> list[Agg]:
    aggs: list[Agg] = []
    i = 0
    s = text_
    while i < len(s):
        if s[i].isspace() or s[i] == ",":
            i += 1
            continue
        m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", s[i:])
        if m is None:
            raise UnsupportedConstruct(f"stats: cannot read {s[i:i + 30]!r}")
        func = m.group(0).lower()
        i += m.end()
        arg: str | None = None
        if i < len(s) and s[i] == "(":
            depth = 0
            j = i
            while j < len(s):
                c = s[j]
                if c == '"':
                    j += 1
                    while j < len(s) and s[j] != '"':
                        j += 2 if s[j] == "\\" else 1
                elif c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            arg = s[i + 1: j].strip()
            i = j + 1
        m2 = re.match(r"\s+(?:as|AS)\s+(\S+)", s[i:])
        if m2:
            name = m2.group(1).strip('"')
            i += m2.end()
        else:
            name = f"{func}({arg})" if arg is not None else func
        aggs.append(Agg(func, arg, name))
    return aggs


def _agg_values(agg: Agg, rows: list[Row]) -> list[Any]:
    if agg.arg is None:
        return []
    if agg.arg.startswith("eval(") and agg.arg.endswith(")"):
        node = parse_expr(agg.arg[5:-1])
        out: list[Any] = []
        for r in rows:
            out.extend(values_of(evaluate(node, r)))
        return out
    return [v for r in rows for v in values_of(r.get(agg.arg))]


def _minmax(vals: list[Any], pick: Callable[..., Any]) -> Any:
    if not vals:
        return None
    nums = [number(v) for v in vals]
    if all(n is not None for n in nums):
        best = pick(nums)
        return int(best) if float(best).is_integer() else best
    return pick(text(v) for v in vals)


AGGREGATES: dict[str, Callable[[Agg, list[Row]], Any]] = {
    # https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Aggregatefunctions
    "count": lambda a, rows: len(rows) if a.arg is None else len(_agg_values(a, rows)),
    "dc": lambda a, rows: len({text(v) for v in _agg_values(a, rows)}),
    "distinct_count": lambda a, rows: len({text(v) for v in _agg_values(a, rows)}),
    "min": lambda a, rows: _minmax(_agg_values(a, rows), min),
    "max": lambda a, rows: _minmax(_agg_values(a, rows), max),
    "sum": lambda a, rows: _sum(_agg_values(a, rows)),
    "values": lambda a, rows: mv(sorted({text(v) for v in _agg_values(a, rows)})),
    "list": lambda a, rows: mv([text(v) for v in _agg_values(a, rows)][:100]),
}


def _sum(vals: list[Any]) -> Any:
    nums = [n for n in (number(v) for v in vals) if n is not None]
    if not nums:
        return None
    s = sum(nums)
    return int(s) if float(s).is_integer() else s


def _split_by(args: str) -> tuple[list[Agg], list[str]]:
    m = re.search(r"\s(?:by|BY)\s", " " + args + " ")
    if m is None:
        return _parse_aggs(args), []
    head = (" " + args + " ")[: m.start()]
    tail = (" " + args + " ")[m.end():]
    return _parse_aggs(head), _field_list(tail)


def _group_keys(r: Row, by: list[str]) -> list[tuple[Any, ...]]:
    keys: list[tuple[Any, ...]] = [()]
    for f in by:
        vals = values_of(r.get(f))
        if not vals:
            return []
        keys = [k + (v,) for k in keys for v in vals]
    return keys


def _sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((0, number(v), "") if number(v) is not None else (1, 0.0, text(v)) for v in key)


def _groups(rows: list[Row], by: list[str]) -> dict[tuple[Any, ...], list[Row]]:
    groups: dict[tuple[Any, ...], list[Row]] = {}
    for r in rows:
        for k in _group_keys(r, by):
            groups.setdefault(k, []).append(r)
    return groups


def _check_aggs(aggs: list[Agg], command: str) -> None:
    if not aggs:
        raise UnsupportedConstruct(f"{command} without an aggregation")
    for a in aggs:
        if a.func not in AGGREGATES:
            raise UnsupportedConstruct(f"{command} function {a.func}()")


def _stats(args: str, rows: list[Row], run: Run) -> list[Row]:
    """One result per combination of the BY fields' values (events lacking a BY field are left
    out; a multivalue BY field puts the event in one group per value), sorted by the BY fields.
    https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Stats"""
    aggs, by = _split_by(args)
    _check_aggs(aggs, "stats")
    groups = _groups(rows, by) if by else {(): rows}
    out: list[Row] = []
    for key in sorted(groups, key=_sort_key):
        res: Row = dict(zip(by, key, strict=True))
        for a in aggs:
            v = AGGREGATES[a.func](a, groups[key])
            if v is not None:
                res[a.name] = v
        out.append(res)
    return out


def _eventstats(args: str, rows: list[Row], run: Run) -> list[Row]:
    """stats computed per group and added to every event of the group.
    https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Eventstats"""
    aggs, by = _split_by(args)
    _check_aggs(aggs, "eventstats")
    groups = _groups(rows, by) if by else {(): rows}
    results = {k: {a.name: AGGREGATES[a.func](a, g) for a in aggs} for k, g in groups.items()}
    for r in rows:
        keys = _group_keys(r, by) if by else [()]
        if len(keys) == 1:
            for name, v in results[keys[0]].items():
                if v is not None:
                    r[name] = v
        elif len(keys) > 1:
            raise UnsupportedConstruct("eventstats by a multivalue field")
    return rows


_SPAN_UNITS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "m": 60, "min": 60,
               "mins": 60, "minute": 60, "minutes": 60, "h": 3600, "hr": 3600, "hrs": 3600,
               "hour": 3600, "hours": 3600, "d": 86400, "day": 86400, "days": 86400,
               "w": 604800, "week": 604800, "weeks": 604800}


def _span_seconds(text_: str, command: str) -> float:
    m = re.fullmatch(r"(\d+)([A-Za-z]+)", text_.strip())
    if m is None or m.group(2).lower() not in _SPAN_UNITS:
        raise UnsupportedConstruct(f"{command}: span {text_!r}")
    return int(m.group(1)) * _SPAN_UNITS[m.group(2).lower()]


def _order_key(v: Any) -> tuple[int, float, str]:
    """sort's order: numbers numerically before text, text lexicographically."""
    n = number(v)
    return (0, n, "") if n is not None else (1, 0.0, text(v))


def _sort(args: str, rows: list[Row], run: Run) -> list[Row]:
    """``sort [<count>] [+|-]<field> ...``: ascending unless ``-``; numeric values numerically,
    others lexicographically; results lacking a field sort after those with it (as the page's
    "missing values" note); at most <count> results, 10,000 when no count is given and all of
    them with ``0``. https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Sort"""
    words = args.split()
    limit: int | None = 10000
    if words and words[0].isdigit():
        limit = int(words.pop(0)) or None
    if not words:
        raise UnsupportedConstruct("sort without a field")
    out = list(rows)
    for w in reversed(words):
        desc = w.startswith("-")
        name = w.lstrip("+-").strip(",")
        if not re.fullmatch(r"[\w.{}]+", name):
            raise UnsupportedConstruct(f"sort by {w!r} (only plain field names are emitted)")
        present = [r for r in out if values_of(r.get(name))]
        missing = [r for r in out if not values_of(r.get(name))]
        present.sort(key=lambda r: _order_key(values_of(r.get(name))[0]), reverse=desc)
        out = present + missing
    return out[:limit] if limit is not None else out


def _streamstats(args: str, rows: list[Row], run: Run) -> list[Row]:
    """``streamstats time_window=<span> <aggs> by <fields>``: each result gets the aggregates over
    the results seen so far (itself included, ``current=true``) that share its BY values and
    whose ``_time`` lies within the span before its own. The page requires results sorted by
    ``_time`` for ``time_window`` (checked here); it does not say whether a result exactly one
    span earlier is inside: here it is not (the window ``(t - span, t]``, Sigma's half-open
    timespan). Results lacking a BY field get no aggregates. Only time_window is emitted.
    https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Streamstats"""
    opts, rest = _options(args)
    unknown = set(opts) - {"time_window"}
    if unknown or "time_window" not in opts:
        raise UnsupportedConstruct(f"streamstats option(s) {sorted(unknown) or 'without time_window'}")
    span = _span_seconds(opts["time_window"], "streamstats time_window")
    aggs, by = _split_by(" ".join(rest))
    _check_aggs(aggs, "streamstats")
    times = [number(r.get("_time")) for r in rows]
    if any(t is None for t in times):
        raise UnsupportedConstruct("streamstats time_window over results without _time")
    ts = [float(t) for t in times if t is not None]
    if ts != sorted(ts) and ts != sorted(ts, reverse=True):
        raise UnsupportedConstruct("streamstats time_window needs results sorted by _time")
    seen: dict[tuple[Any, ...], list[int]] = {}
    out: list[Row] = []
    for i, r in enumerate(rows):
        keys = _group_keys(r, by) if by else [()]
        nr = dict(r)
        if len(keys) > 1:
            raise UnsupportedConstruct("streamstats by a multivalue field")
        if keys:
            prior = seen.setdefault(keys[0], [])
            prior.append(i)
            window = [rows[j] for j in prior if abs(ts[i] - ts[j]) < span]
            for a in aggs:
                v = AGGREGATES[a.func](a, window)
                if v is not None:
                    nr[a.name] = v
                else:
                    nr.pop(a.name, None)
        out.append(nr)
    return out


def _dedup(args: str, rows: list[Row], run: Run) -> list[Row]:
    """``dedup <fields>``: the first result of each combination of the fields' values, in the
    current order; results lacking one of the fields are removed (keepempty=false).
    https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Dedup"""
    opts, rest = _options(args)
    if opts:
        raise UnsupportedConstruct(f"dedup option(s) {sorted(opts)}")
    names = _field_list(" ".join(rest))
    if not names or any(n.isdigit() for n in names):
        raise UnsupportedConstruct("dedup without fields / with a count")
    seen: set[tuple[str, ...]] = set()
    out: list[Row] = []
    for r in rows:
        vals = [values_of(r.get(n)) for n in names]
        if any(not v for v in vals):
            continue
        key = tuple(" ".join(text(x) for x in v) for v in vals)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def _unsupported(name: str) -> Callable[[str, list[Row], Run], list[Row]]:
    def f(args: str, rows: list[Row], run: Run) -> list[Row]:
        raise UnsupportedConstruct(f"SPL command '{name}' (stormpack does not emit it yet)")
    return f


COMMANDS: dict[str, Callable[[str, list[Row], Run], list[Row]]] = {
    "search": _search, "where": _where, "eval": _eval, "rex": _rex, "regex": _regex,
    "bin": _bin, "bucket": _bin,
    "rename": _rename, "table": _table, "fields": _fields, "lookup": _lookup, "stats": _stats,
    "eventstats": _eventstats,
    "sort": _sort, "streamstats": _streamstats, "dedup": _dedup,
    "transaction": _unsupported("transaction"),
}


class SplExecutor:
    """Runs the SPL stormpack emits over a :class:`Dataset` (target ``splunk``)."""

    target = "splunk"

    def __init__(self, target: str = "splunk") -> None:
        if target != "splunk":
            raise ValueError(f"the SPL executor runs target 'splunk', not '{target}'")

    def run(self, query: str, data: Dataset, *, earliest: str | None = None,
            latest: str | None = None) -> list[Row]:
        """The results of ``query``; ``earliest``/``latest`` are the dispatch time range
        (time modifiers such as a saved search's ``dispatch.earliest_time``) resolved
        against ``data.now``."""
        run = Run(data,
                  resolve(earliest, data.now) if earliest else None,
                  resolve(latest, data.now) if latest else None)
        token = CLOCK.set(data.now)  # now() in eval / where
        try:
            return execute(expand_macros(query, data.macros).strip(), run)
        finally:
            CLOCK.reset(token)



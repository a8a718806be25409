"""Tabular operators and statements of the syntax tree (where, extend, project, summarize,
mv-apply, mv-expand, union, join, let ...), evaluated over the dataset's rows.

Each operator follows its Microsoft Learn page (linked at its implementation). An operator,
parameter or statement kind not implemented raises
:class:`~stormpack.execute.base.UnsupportedConstruct` naming it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..base import Dataset, Row, UnsupportedConstruct
from . import values as V
from .scalar import Scalar, call_args, call_name, default_name, items
from .syntax import Node

Rows = list[Row]

_TABULAR_KINDS = {"PipeExpression", "UnionOperator", "DataTableExpression"}

#: Operators that keep a serialized row set serialized (the others, e.g. summarize, join and
#: union, produce an unserialized one). https://learn.microsoft.com/en-us/kusto/query/window-functions
_KEEP_SERIALIZED = {"FilterOperator", "ExtendOperator", "ProjectOperator", "ProjectAwayOperator",
                    "TakeOperator", "MvExpandOperator"}


def coerce(value: Any, ctype: str) -> Any:
    """A stored value as its column type: string columns are never null, a datetime column holds
    a datetime, a dynamic column the decoded JSON (a JSON text in a dynamic column is decoded)."""
    if ctype == "string":
        return V.tostring(value)
    if value is None:
        return None
    if ctype == "datetime":
        return V.to_datetime(value)
    if ctype in ("int", "long"):
        return V.tolong(value)
    if ctype in ("real", "double", "decimal"):
        return V.toreal(value)
    if ctype in ("bool", "boolean"):
        if isinstance(value, str):
            return {"true": True, "false": False}.get(value.strip().lower())
        return bool(value)
    if ctype == "dynamic":
        return V.parse_json(value) if isinstance(value, str) else value
    return value


def _to_typeof(clause: Node | None, kind: str) -> str | None:
    """``mv-expand x to typeof(T)``: the expanded values are converted to T (the column has type T
    instead of dynamic). https://learn.microsoft.com/en-us/kusto/query/mv-expand-operator"""
    if clause is None:
        return None
    if kind != "mv-expand":
        raise UnsupportedConstruct(f"{kind} ... to typeof()")
    types = items(clause["TypeOf"]["Types"])
    if len(types) != 1 or types[0]["k"] != "PrimitiveTypeExpression":
        raise UnsupportedConstruct("mv-expand ... to typeof() of a non-primitive type")
    name = str(types[0]["Type"]["t"]).lower()
    if name not in ("string", "datetime", "int", "long", "real", "double", "bool", "boolean", "dynamic"):
        raise UnsupportedConstruct(f"mv-expand ... to typeof({name})")
    return name


class Evaluator:
    """One query run over one dataset."""

    def __init__(self, data: Dataset) -> None:
        self.data = data
        self.now: datetime = data.now
        self.scalar = Scalar(self)
        self.tabular_lets: dict[str, Rows] = {}
        self.scalar_lets: dict[str, Any] = {}
        self._memo: dict[int, Rows] = {}
        self._ops: dict[str, Callable[[Node, Rows], Rows]] = {
            "FilterOperator": self._where,
            "ExtendOperator": self._extend,
            "ProjectOperator": self._project,
            "ProjectAwayOperator": self._project_away,
            "SummarizeOperator": self._summarize,
            "MvApplyOperator": self._mv_apply,
            "MvExpandOperator": self._mv_expand,
            "JoinOperator": self._join,
            "UnionOperator": self._union_op,
            "TakeOperator": self._take,
            "DistinctOperator": self._distinct,
            "SortOperator": self._sort,
            "SerializeOperator": self._serialize,
        }
        # window functions (prev, row_cumsum) need a serialized row set: sort / serialize make
        # one, these operators keep it (https://learn.microsoft.com/en-us/kusto/query/window-functions)
        self.serialized = False
        self.window: tuple[Rows, int] | None = None  # the extend input and the current row index
        self.window_state: dict[int, Any] = {}

    # ---------------------------------------------------------------- statements
    def run(self, tree: Node) -> Rows:
        if tree["k"] != "QueryBlock":
            raise UnsupportedConstruct(f"query root {tree['k']}")
        result: Rows | None = None
        for st in items(tree["Statements"]):
            if st["k"] == "LetStatement":
                name = st["Name"]["n"]
                expr = st["Expression"]
                if expr["k"] == "FunctionDeclaration":
                    raise UnsupportedConstruct("let with a function declaration")
                if self.is_tabular(expr):
                    self.tabular_lets[name] = self.tabular(expr)
                else:
                    self.scalar_lets[name] = self.scalar(expr, {})
            elif st["k"] == "ExpressionStatement":
                result = self.tabular(st["Expression"])
            else:
                raise UnsupportedConstruct(f"statement {st['k']}")
        if result is None:
            raise UnsupportedConstruct("query without a tabular expression statement")
        return result

    # ---------------------------------------------------------------- names
    def lookup(self, name: str, row: Row) -> Any:
        if name in row:
            return row[name]
        if name in self.scalar_lets:
            return self.scalar_lets[name]
        raise UnsupportedConstruct(f"column or name '{name}' is not defined here")

    def is_tabular(self, n: Node) -> bool:
        while n["k"] == "ParenthesizedExpression":
            n = n["Expression"]
        k = n["k"]
        if k in _TABULAR_KINDS or k.endswith("Operator"):
            return True
        if k == "NameReference":
            return n["n"] in self.tabular_lets or n["n"] in self.data.tables
        if k == "FunctionCallExpression":
            return call_name(n) == "_GetWatchlist" or call_name(n) in self.data.functions
        return False

    def tabular_cached(self, n: Node) -> Rows:
        """A row-independent tabular subexpression (an `in (subquery)` list), evaluated once."""
        key = id(n)
        if key not in self._memo:
            self._memo[key] = self.tabular(n)
        return self._memo[key]

    # ---------------------------------------------------------------- tabular expressions
    def tabular(self, n: Node, implicit: Rows | None = None) -> Rows:
        k = n["k"]
        if k == "ParenthesizedExpression":
            return self.tabular(n["Expression"], implicit)
        if k == "PipeExpression":
            rows = self.tabular(n["Expression"], implicit)
            return self.operator(n["Operator"], rows)
        if k == "NameReference":
            return self.table(n["n"])
        if k == "FunctionCallExpression":
            return self._tabular_call(n)
        if k == "UnionOperator":
            return self._union_op(n, [])
        if k.endswith("Operator"):
            if implicit is None:
                raise UnsupportedConstruct(f"{k} without an input table")
            return self.operator(n, implicit)
        raise UnsupportedConstruct(f"tabular expression {k}")

    def table(self, name: str) -> Rows:
        self.serialized = False  # a table (or a let's result) is not serialized
        if name in self.tabular_lets:
            return [dict(r) for r in self.tabular_lets[name]]
        if name not in self.data.tables:
            raise UnsupportedConstruct(f"table '{name}' is not in the dataset")
        schema = self.data.schemas.get(name)
        out: Rows = []
        for rec in self.data.tables[name]:
            if schema is None:
                out.append(dict(rec))
                continue
            unknown = [c for c in rec if c not in schema and not c.startswith("$")]
            if unknown:
                raise UnsupportedConstruct(f"table {name} has no column {unknown[0]} (dataset row)")
            row = {c: coerce(rec.get(c), t) for c, t in schema.items()}
            row.update({c: v for c, v in rec.items() if c.startswith("$")})
            out.append(row)
        return out

    def _tabular_call(self, n: Node) -> Rows:
        name = call_name(n)
        if name == "_GetWatchlist":
            # https://learn.microsoft.com/en-us/azure/sentinel/watchlists-queries: _GetWatchlist('alias')
            # returns the watchlist's rows, SearchKey being the column chosen as search key.
            args = [self.scalar(a, {}) for a in call_args(n)]
            alias = V.tostring(args[0]) if args else ""
            if alias not in self.data.watchlists:
                raise UnsupportedConstruct(f"watchlist '{alias}' is not in the dataset")
            return [dict(r) for r in self.data.watchlists[alias]]
        raise UnsupportedConstruct(f"tabular function {name}()")

    def operator(self, op: Node, rows: Rows) -> Rows:
        fn = self._ops.get(op["k"])
        if fn is None:
            raise UnsupportedConstruct(f"tabular operator {op['k']}")
        params = items(op["Parameters"]) if isinstance(op.get("Parameters"), dict) else []
        if params and op["k"] not in ("JoinOperator",):
            raise UnsupportedConstruct(f"{op['k']} parameter {params[0].get('Name', {}).get('n')}")
        was = self.serialized
        out = fn(op, rows)
        if op["k"] in ("SortOperator", "SerializeOperator"):
            self.serialized = True
        elif op["k"] not in _KEEP_SERIALIZED:
            self.serialized = False
        else:
            self.serialized = was
        return out

    # ---------------------------------------------------------------- operators
    def _where(self, op: Node, rows: Rows) -> Rows:
        """https://learn.microsoft.com/en-us/kusto/query/where-operator: rows whose predicate is true."""
        return [r for r in rows if self.scalar(op["Condition"], r) is True]

    def _assignments(self, exprs: list[Node], taken: list[str]) -> list[tuple[str, Node]]:
        out: list[tuple[str, Node]] = []
        for e in exprs:
            if e["k"] == "SimpleNamedExpression":
                out.append((str(e["Name"]["n"]), e["Expression"]))
            elif e["k"] == "CompoundNamedExpression":
                raise UnsupportedConstruct("(a, b) = ... assignment")
            else:
                name = default_name(e, taken + [n for n, _ in out])
                out.append((name, e))
        return out

    def _extend(self, op: Node, rows: Rows) -> Rows:
        """https://learn.microsoft.com/en-us/kusto/query/extend-operator: a column of the same
        name is replaced; later expressions see earlier ones of the same extend."""
        assigns = self._assignments(items(op["Expressions"]), list(rows[0]) if rows else [])
        out: Rows = []
        self.window_state = {}
        for i, r in enumerate(rows):
            self.window = (rows, i)
            nr = dict(r)
            for name, e in assigns:
                nr[name] = self.scalar(e, nr)
            out.append(nr)
        self.window = None
        return out

    def _project(self, op: Node, rows: Rows) -> Rows:
        """https://learn.microsoft.com/en-us/kusto/query/project-operator"""
        assigns = self._assignments(items(op["Expressions"]), [])
        return [{name: self.scalar(e, r) for name, e in assigns} for r in rows]

    def _project_away(self, op: Node, rows: Rows) -> Rows:
        """https://learn.microsoft.com/en-us/kusto/query/project-away-operator"""
        names = set()
        for e in items(op["Expressions"]):
            if e["k"] != "NameReference":
                raise UnsupportedConstruct("project-away with a wildcard")
            names.add(e["n"])
        return [{k: v for k, v in r.items() if k not in names} for r in rows]

    def _summarize(self, op: Node, rows: Rows) -> Rows:
        """https://learn.microsoft.com/en-us/kusto/query/summarize-operator: one row per distinct
        `by` tuple (by columns first, then aggregates); without `by`, exactly one row, even over
        an empty input."""
        aggs = self._assignments(items(op["Aggregates"]), [])
        agg_names = []
        for name, e in aggs:
            agg_names.append(name if not name.startswith("Column") else default_name(e, [], agg=True))
        by_clause = op.get("ByClause")
        bys = self._assignments(items(by_clause["Expressions"]), []) if by_clause else []
        groups: dict[Any, tuple[Row, Rows]] = {}
        if not bys:
            groups[()] = ({}, rows)
        else:
            for r in rows:
                keyrow = {name: self.scalar(e, r) for name, e in bys}
                key = tuple(json.dumps(v, sort_keys=True, default=str) if isinstance(v, (dict, list)) else v
                            for v in keyrow.values())
                if key not in groups:
                    groups[key] = (keyrow, [])
                groups[key][1].append(r)
        out: Rows = []
        for keyrow, grp in groups.values():
            res = dict(keyrow)
            probe = grp[0] if grp else {}
            for name, (_, e) in zip(agg_names, aggs, strict=True):
                res[name] = self.scalar(e, probe, grp)
            out.append(res)
        return out

    def _expansions(self, op: Node, r: Row, kind: str) -> list[tuple[str, list[Any]]]:
        out: list[tuple[str, list[Any]]] = []
        for e in items(op["Expressions"]):
            inner = e["Expression"]
            to_type = _to_typeof(e.get("ToTypeOf"), kind)
            if inner["k"] == "SimpleNamedExpression":
                name, expr = str(inner["Name"]["n"]), inner["Expression"]
            elif inner["k"] == "NameReference":
                name, expr = str(inner["n"]), inner
            else:
                raise UnsupportedConstruct(f"{kind} of an unnamed expression")
            v = self.scalar(expr, r)
            if isinstance(v, list):
                elements = list(v)
            elif isinstance(v, dict):  # a bag expands to one single-key bag per property
                elements = [{key: val} for key, val in v.items()]
            else:
                elements = []  # null / scalar: nothing to expand (zero-length array)
            if to_type is not None:
                elements = [coerce(x, to_type) for x in elements]
            out.append((name, elements))
        return out

    def _subtable(self, r: Row, expansions: list[tuple[str, list[Any]]]) -> Rows:
        n = max((len(els) for _, els in expansions), default=0)
        sub: Rows = []
        for i in range(n):
            nr = dict(r)
            for name, els in expansions:
                nr[name] = els[i] if i < len(els) else None
            sub.append(nr)
        return sub

    def _mv_apply(self, op: Node, rows: Rows) -> Rows:
        """https://learn.microsoft.com/en-us/kusto/query/mv-apply-operator: expand each record into
        a subtable (as many records as the longest array: none for an empty or null value), run
        the subquery on it, add the values of the source columns not expanded, union."""
        if op.get("RowLimitClause") is not None or op.get("ItemIndex") is not None:
            raise UnsupportedConstruct("mv-apply with limit / with_itemindex")
        sub = op["Subquery"]["Expression"]
        out: Rows = []
        for r in rows:
            expansions = self._expansions(op, r, "mv-apply")
            results = self.tabular(sub, self._subtable(r, expansions))
            expanded = {name for name, _ in expansions}
            base = {k: v for k, v in r.items() if k not in expanded}
            for res in results:
                out.append({**base, **res})
        return out

    def _mv_expand(self, op: Node, rows: Rows) -> Rows:
        """https://learn.microsoft.com/en-us/kusto/query/mv-expand-operator: one row per element;
        a record whose value is an empty array or null is not repeated (kept once, value null)."""
        if op.get("RowLimitClause") is not None or op.get("WithItemIndexClause") is not None:
            raise UnsupportedConstruct("mv-expand with limit / with_itemindex")
        out: Rows = []
        for r in rows:
            expansions = self._expansions(op, r, "mv-expand")
            sub = self._subtable(r, expansions)
            if not sub:
                nr = dict(r)
                for name, _ in expansions:
                    nr[name] = None
                sub = [nr]
            out.extend(sub)
        return out

    def _union_op(self, op: Node, rows: Rows) -> Rows:
        """https://learn.microsoft.com/en-us/kusto/query/union-operator: the rows of every input in
        order; a column an input lacks is null in its rows."""
        out: Rows = list(rows)
        for e in items(op["Expressions"]):
            out.extend(self.tabular(e))
        columns: list[str] = []
        for r in out:
            for c in r:
                if c not in columns:
                    columns.append(c)
        return [{c: r.get(c) for c in columns} for r in out]

    def _sort(self, op: Node, rows: Rows) -> Rows:
        """https://learn.microsoft.com/en-us/kusto/query/sort-operator: by each expression in turn,
        `desc` unless `asc` is written; nulls first when ascending, last when descending (the
        defaults); the output is serialized."""
        out = list(rows)
        for e in reversed(items(op["Expressions"])):
            if e["k"] == "OrderedExpression":
                expr, ordering = e["Expression"], e.get("Ordering") or {}
            else:
                expr, ordering = e, {}
            if ordering.get("NullsClause") is not None:
                raise UnsupportedConstruct("sort ... nulls first/last")
            word = (ordering.get("AscOrDescKeyword") or {}).get("t", "desc")
            desc = str(word).lower() == "desc"
            keyed = [(self.scalar(expr, r), r) for r in out]
            present = [kr for kr in keyed if kr[0] is not None]
            nulls = [kr[1] for kr in keyed if kr[0] is None]
            present.sort(key=lambda kr: V.sort_key(kr[0]), reverse=desc)
            out = nulls + [r for _, r in present] if not desc else [r for _, r in present] + nulls
        return out

    def _serialize(self, op: Node, rows: Rows) -> Rows:
        """https://learn.microsoft.com/en-us/kusto/query/serialize-operator: marks the row set
        serialized (the current order) so window functions may run on it."""
        if items(op["Expressions"]):
            raise UnsupportedConstruct("serialize with column definitions")
        return list(rows)

    def _take(self, op: Node, rows: Rows) -> Rows:
        """https://learn.microsoft.com/en-us/kusto/query/take-operator"""
        n = self.scalar(op["Expression"], {})
        return rows[: int(n)]

    def _distinct(self, op: Node, rows: Rows) -> Rows:
        """https://learn.microsoft.com/en-us/kusto/query/distinct-operator"""
        names = [str(e["n"]) for e in items(op["Expressions"]) if e["k"] == "NameReference"]
        seen: set[str] = set()
        out: Rows = []
        for r in rows:
            sel = {c: r.get(c) for c in names}
            key = json.dumps(sel, sort_keys=True, default=str)
            if key not in seen:
                seen.add(key)
                out.append(sel)
        return out

    def _join(self, op: Node, rows: Rows) -> Rows:
        """https://learn.microsoft.com/en-us/kusto/query/join-operator: kinds innerunique (the
        default: one left row per key), inner, leftouter, leftanti, leftsemi, rightsemi,
        rightanti; right columns clashing with left ones get the suffix 1."""
        kind = "innerunique"
        for p in items(op["Parameters"]):
            pname = p["Name"]["n"]
            if pname != "kind":
                raise UnsupportedConstruct(f"join parameter {pname}")
            kind = str(p["Expression"].get("v") or p["Expression"].get("Token", {}).get("t"))
        right = self.tabular(op["Expression"])
        clause = op["ConditionClause"]
        if clause["k"] != "JoinOnClause":
            raise UnsupportedConstruct(f"join {clause['k']}")
        pairs: list[tuple[str, str]] = []
        for e in items(clause["Expressions"]):
            if e["k"] == "NameReference":
                pairs.append((e["n"], e["n"]))
            elif e["k"] == "EqualExpression" and e["Left"]["k"] == "PathExpression":
                sides = {e["Left"]["Expression"]["n"]: e["Left"]["Selector"]["n"],
                         e["Right"]["Expression"]["n"]: e["Right"]["Selector"]["n"]}
                pairs.append((sides["$left"], sides["$right"]))
            else:
                raise UnsupportedConstruct(f"join condition {e['k']}")

        def key(r: Row, side: int) -> tuple[Any, ...]:
            return tuple(json.dumps(r.get(p[side]), sort_keys=True, default=str) for p in pairs)

        left = rows
        if kind == "innerunique":
            seen: set[tuple[Any, ...]] = set()
            left = []
            for r in rows:
                if key(r, 0) not in seen:
                    seen.add(key(r, 0))
                    left.append(r)
        index: dict[tuple[Any, ...], Rows] = {}
        for r in right:
            index.setdefault(key(r, 1), []).append(r)
        lcols = list(dict.fromkeys(c for r in rows for c in r))
        rcols = list(dict.fromkeys(c for r in right for c in r))

        def merge(lr: Row | None, rr: Row | None) -> Row:
            out = {c: (lr or {}).get(c) for c in lcols}
            for c in rcols:
                out[c + "1" if c in lcols else c] = (rr or {}).get(c)
            return out

        if kind in ("innerunique", "inner"):
            return [merge(lr, rr) for lr in left for rr in index.get(key(lr, 0), [])]
        if kind == "leftouter":
            none: list[Row | None] = [None]
            return [merge(lr, rr) for lr in left for rr in (index.get(key(lr, 0)) or none)]
        if kind == "leftanti":
            return [dict(lr) for lr in left if key(lr, 0) not in index]
        if kind == "leftsemi":
            return [dict(lr) for lr in left if key(lr, 0) in index]
        lkeys = {key(lr, 0) for lr in left}
        if kind == "rightsemi":
            return [dict(rr) for rr in right if key(rr, 1) in lkeys]
        if kind == "rightanti":
            return [dict(rr) for rr in right if key(rr, 1) not in lkeys]
        raise UnsupportedConstruct(f"join kind={kind}")

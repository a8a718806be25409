"""Scalar expressions of the syntax tree, evaluated on one row (or one summarize group).

Functions are dispatched by name from :data:`FUNCTIONS` / :data:`AGGREGATES`, binary operators
by their operator text from :data:`BINARY`; anything else raises
:class:`~stormpack.execute.base.UnsupportedConstruct` naming the node kind or name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..base import Row, UnsupportedConstruct
from . import values as V
from .syntax import Node

if TYPE_CHECKING:
    from .tabular import Evaluator


def items(n: Node) -> list[Node]:
    lst = n.get("items")
    return list(lst) if isinstance(lst, list) else []


def call_name(n: Node) -> str:
    return str(n["Name"].get("n") or "")


def call_args(n: Node) -> list[Node]:
    return items(n["ArgumentList"]["Expressions"])


def literal(n: Node) -> Any:
    """Value of a literal expression node (kinds as Kusto.Language names them)."""
    k = n["k"]
    v = n.get("v")
    token = n.get("Token", {}).get("t", "")
    if k == "StringLiteralExpression":
        return v if v is not None else ""
    if v == "null" or (v is None and token.endswith("(null)")):
        return None
    if k in ("LongLiteralExpression", "IntLiteralExpression"):
        return int(v if v is not None else token)
    if k in ("RealLiteralExpression", "DecimalLiteralExpression"):
        return float(v if v is not None else token)
    if k == "BooleanLiteralExpression":
        return (v or token).lower() == "true"
    if k == "TimespanLiteralExpression":
        return V.timespan_literal(v or token)
    if k == "DateTimeLiteralExpression":
        text = v or re.sub(r"^datetime\((.*)\)$", r"\1", token)
        d = V.to_datetime(text)
        if d is None:
            raise UnsupportedConstruct(f"datetime literal {token!r}")
        return d
    raise UnsupportedConstruct(f"literal kind {k}")


LITERAL_KINDS = {
    "StringLiteralExpression", "LongLiteralExpression", "IntLiteralExpression", "RealLiteralExpression",
    "DecimalLiteralExpression", "BooleanLiteralExpression", "TimespanLiteralExpression",
    "DateTimeLiteralExpression",
}


def _json_value(n: Node) -> Any:
    """dynamic(...) literal bodies. https://learn.microsoft.com/en-us/kusto/query/scalar-data-types/dynamic"""
    k = n["k"]
    if k == "JsonArrayExpression":
        return [_json_value(x) for x in items(n["Values"])]
    if k == "JsonObjectExpression":
        out = {}
        for pair in items(n["Pairs"]):
            name = pair["Name"]
            key = literal(name) if "t" not in name else str(name["t"])
            if "t" in name and key[:1] in ("'", '"'):
                key = key[1:-1]  # a quoted property name (no escapes in the names stormpack emits)
            out[str(key)] = _json_value(pair["Value"])
        return out
    if k == "NullLiteralExpression" or n.get("Token", {}).get("t") == "null":
        return None
    if k in LITERAL_KINDS:
        v = literal(n)
        return v
    if k == "UnaryMinusExpression" and n["Expression"]["k"] in LITERAL_KINDS:  # dynamic([1, -1])
        inner = literal(n["Expression"])
        if isinstance(inner, (int, float)) and not isinstance(inner, bool):
            return -inner
    raise UnsupportedConstruct(f"dynamic literal element {k}")


# ------------------------------------------------------------------------------ binary operators
def _not(v: Any) -> bool:
    return v is not True


def _in_list(left: Any, right: list[Any], ci: bool) -> bool:
    """`in` (case-sensitive) / `in~` (case-insensitive) over a list of scalars.
    https://learn.microsoft.com/en-us/kusto/query/in-operator"""
    if left is None:
        return False
    if ci:
        lt = V.to_text(left).lower()
        return any(V.to_text(x).lower() == lt for x in right if x is not None)
    return any(V.equals(left, x) is True for x in right)


def _has_any(left: Any, right: list[Any]) -> bool:
    """has_any: `has` for any of the values.
    https://learn.microsoft.com/en-us/kusto/query/has-anyoperator"""
    return any(V.has(left, x) for x in right)


STRING_OPS: dict[str, Callable[[Any, Any], bool | None]] = {
    "==": V.equals,
    "!=": lambda a, b: None if (r := V.equals(a, b)) is None else not r,
    "=~": V.equals_ci,
    "!~": lambda a, b: not V.equals_ci(a, b),
    "contains": V.contains,
    "!contains": lambda a, b: not V.contains(a, b),
    "contains_cs": lambda a, b: V.contains(a, b, cs=True),
    "!contains_cs": lambda a, b: not V.contains(a, b, cs=True),
    "has": V.has,
    "!has": lambda a, b: not V.has(a, b),
    "has_cs": lambda a, b: V.has(a, b, cs=True),
    "!has_cs": lambda a, b: not V.has(a, b, cs=True),
    "startswith": V.startswith,
    "!startswith": lambda a, b: not V.startswith(a, b),
    "startswith_cs": lambda a, b: V.startswith(a, b, cs=True),
    "!startswith_cs": lambda a, b: not V.startswith(a, b, cs=True),
    "endswith": V.endswith,
    "!endswith": lambda a, b: not V.endswith(a, b),
    "endswith_cs": lambda a, b: V.endswith(a, b, cs=True),
    "!endswith_cs": lambda a, b: not V.endswith(a, b, cs=True),
    "<": lambda a, b: V.compare(a, b, "<"),
    "<=": lambda a, b: V.compare(a, b, "<="),
    ">": lambda a, b: V.compare(a, b, ">"),
    ">=": lambda a, b: V.compare(a, b, ">="),
}

LIST_OPS: dict[str, Callable[[Any, list[Any]], bool]] = {
    "in": lambda a, r: _in_list(a, r, ci=False),
    "!in": lambda a, r: not _in_list(a, r, ci=False) if a is not None else False,
    "in~": lambda a, r: _in_list(a, r, ci=True),
    "!in~": lambda a, r: not _in_list(a, r, ci=True) if a is not None else False,
    "has_any": _has_any,
}


def _arith(op: str, a: Any, b: Any) -> Any:
    """+ - * / %, including datetime +/- timespan and datetime - datetime.
    https://learn.microsoft.com/en-us/kusto/query/datetime-timespan-arithmetic"""
    if a is None or b is None:
        return None
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            if isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool):
                return int(a / b) if b else None
            return a / b if b else None
        if op == "%":
            return a % b if b else None
    except TypeError as exc:
        raise UnsupportedConstruct(f"{type(a).__name__} {op} {type(b).__name__}") from exc
    raise UnsupportedConstruct(f"operator {op}")


# ------------------------------------------------------------------------------ functions
def _substring(s: Any, start: Any, length: Any = None) -> str:
    """https://learn.microsoft.com/en-us/kusto/query/substring-function"""
    t = V.tostring(s)
    st = max(int(start), 0)
    return t[st:] if length is None else t[st:st + max(int(length), 0)]


def _trim(rx: Any, s: Any) -> str:
    """trim(regex, text): leading and trailing matches removed.
    https://learn.microsoft.com/en-us/kusto/query/trim-function"""
    p = V.to_text(rx)
    t = V.tostring(s)
    t = re.sub(f"^(?:{p})", "", t)
    return re.sub(f"(?:{p})$", "", t)


def _extract(rx: Any, group: Any, s: Any, *rest: Any) -> Any:
    """extract(regex, captureGroup, text): the group of the first match, "" when none.
    https://learn.microsoft.com/en-us/kusto/query/extract-function"""
    if rest:
        raise UnsupportedConstruct("extract() with a typeof argument")
    m = re.search(V.to_text(rx), V.tostring(s))
    if m is None:
        return ""
    g = m.group(int(group))
    return g if g is not None else ""


def _countof(s: Any, search: Any, kind: Any = "normal") -> int:
    """countof(): plain search counts overlapping occurrences, "regex" counts matches.
    https://learn.microsoft.com/en-us/kusto/query/countof-function"""
    t, p = V.tostring(s), V.to_text(search)
    if kind == "regex":
        return len(re.findall(p, t))
    if not p:
        return 0
    return sum(1 for i in range(len(t)) if t.startswith(p, i))


def _split(s: Any, delim: Any, index: Any = None) -> Any:
    """split(): a dynamic array of the parts. https://learn.microsoft.com/en-us/kusto/query/split-function"""
    parts = V.tostring(s).split(V.to_text(delim)) if V.to_text(delim) else [V.tostring(s)]
    if index is None:
        return parts
    i = int(index)
    return [parts[i]] if -len(parts) <= i < len(parts) else []


def _array_length(v: Any) -> int | None:
    """array_length(): null when the value is not an array.
    https://learn.microsoft.com/en-us/kusto/query/array-length-function"""
    return len(v) if isinstance(v, list) else None


def _strcat_array(arr: Any, delim: Any) -> str:
    """https://learn.microsoft.com/en-us/kusto/query/strcat-array-function"""
    if not isinstance(arr, list):
        return ""
    return V.to_text(delim).join(V.tostring(x) for x in arr)


def _bag_has_key(bag: Any, key: Any) -> bool:
    """bag_has_key(): true when the bag holds the key (a dynamic null value still counts).
    https://learn.microsoft.com/en-us/kusto/query/bag-has-key-function"""
    return isinstance(bag, dict) and V.to_text(key) in bag


def _bag_pack(*args: Any) -> dict[str, Any]:
    """bag_pack(key1, value1, ...). https://learn.microsoft.com/en-us/kusto/query/bag-pack-function"""
    if len(args) % 2:
        raise UnsupportedConstruct("bag_pack() with an odd number of arguments")
    return {V.to_text(args[i]): args[i + 1] for i in range(0, len(args), 2)}


def _tobool(v: Any) -> bool | None:
    """https://learn.microsoft.com/en-us/kusto/query/tobool-function"""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return v != 0
    t = V.to_text(v).strip().lower()
    return True if t == "true" else False if t == "false" else None


def _coalesce(*args: Any) -> Any:
    """First argument that is not null (for strings: not empty).
    https://learn.microsoft.com/en-us/kusto/query/coalesce-function"""
    for a in args:
        if not V.isempty(a):
            return a
    return args[-1] if args else None


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "tostring": V.tostring,
    "toint": V.tolong,
    "tolong": V.tolong,
    "toreal": V.toreal,
    "todouble": V.toreal,
    "tobool": _tobool,
    "toboolean": _tobool,
    "todatetime": V.to_datetime,
    "parse_json": V.parse_json,
    "todynamic": V.parse_json,
    "parsejson": V.parse_json,
    "parse_xml": V.parse_xml,
    "tolower": lambda s: V.tostring(s).lower(),  # https://learn.microsoft.com/en-us/kusto/query/tolower-function
    "toupper": lambda s: V.tostring(s).upper(),  # https://learn.microsoft.com/en-us/kusto/query/toupper-function
    "strlen": lambda s: len(V.tostring(s)),
    "isempty": V.isempty,
    "isnotempty": lambda v: not V.isempty(v),  # https://learn.microsoft.com/en-us/kusto/query/isnotempty-function
    "isnull": V.isnull,
    "isnotnull": lambda v: not V.isnull(v),  # https://learn.microsoft.com/en-us/kusto/query/isnotnull-function
    "bag_has_key": _bag_has_key,
    "bag_pack": _bag_pack,
    "pack_array": lambda *a: list(a),  # https://learn.microsoft.com/en-us/kusto/query/pack-array-function
    "pack": _bag_pack,
    "array_length": _array_length,
    "strcat": lambda *a: "".join(V.tostring(x) for x in a),  # https://learn.microsoft.com/en-us/kusto/query/strcat-function
    "strcat_array": _strcat_array,
    "split": _split,
    "substring": _substring,
    "trim": _trim,
    "extract": _extract,
    "countof": _countof,
    "bin": V.bin_value,
    "floor": V.bin_value,
    "ipv4_is_in_range": V.ipv4_is_in_range,
    "ipv6_is_in_range": V.ipv6_is_in_range,
    "ipv4_is_match": V.ipv4_is_match,
    "coalesce": _coalesce,
    "not": _not,  # https://learn.microsoft.com/en-us/kusto/query/not-function
}

AGGREGATES = {"count", "countif", "dcount", "make_set", "make_list", "make_bag", "min", "max",
              "minif", "maxif", "sum", "take_any", "any", "make_set_if", "make_list_if", "dcountif"}


def _key(v: Any) -> Any:
    return json.dumps(v, sort_keys=True, default=str) if isinstance(v, (dict, list)) else v


def _agg_minmax(vals: Sequence[Any], pick: Callable[..., Any]) -> Any:
    present = [v for v in vals if v is not None and v != ""]
    return pick(present) if present else None


class Scalar:
    """Evaluates scalar nodes against a row; aggregates against a group of rows."""

    def __init__(self, ev: Evaluator) -> None:
        self.ev = ev

    def __call__(self, n: Node, row: Row, group: Sequence[Row] | None = None) -> Any:
        return self.eval(n, row, group)

    def eval(self, n: Node, row: Row, group: Sequence[Row] | None = None) -> Any:  # noqa: C901
        k = n["k"]
        if k in LITERAL_KINDS:
            return literal(n)
        if k == "NameReference":
            return self.ev.lookup(n["n"], row)
        if k == "BracketedName":
            return self.ev.lookup(n["n"], row)
        if k == "ParenthesizedExpression":
            return self.eval(n["Expression"], row, group)
        if k == "AndExpression":
            a = self.eval(n["Left"], row, group)
            if a is not True:
                return False
            return self.eval(n["Right"], row, group) is True
        if k == "OrExpression":
            if self.eval(n["Left"], row, group) is True:
                return True
            return self.eval(n["Right"], row, group) is True
        if k == "DynamicExpression":
            return _json_value(n["Expression"])
        if k == "UnaryMinusExpression":
            v = self.eval(n["Expression"], row, group)
            return None if v is None else -v
        if k == "PathExpression":
            return self._member(self.eval(n["Expression"], row, group), n["Selector"])
        if k == "ElementExpression":
            base = self.eval(n["Expression"], row, group)
            sel = n["Selector"]
            if sel["k"] != "BracketedExpression":
                raise UnsupportedConstruct(f"element selector {sel['k']}")
            return self._index(base, self.eval(sel["Expression"], row, group))
        if k == "FunctionCallExpression":
            return self._call(n, row, group)
        if k == "BetweenExpression" or k == "NotBetweenExpression":
            v = self.eval(n["Left"], row, group)
            lo = self.eval(n["Right"]["First"], row, group)
            hi = self.eval(n["Right"]["Second"], row, group)
            inside = V.compare(v, lo, ">=") is True and V.compare(v, hi, "<=") is True
            return inside if k == "BetweenExpression" else (v is not None and not inside)
        if "Left" in n and "Operator" in n and "Right" in n:
            return self._binary(n, row, group)
        raise UnsupportedConstruct(f"scalar expression {k}")

    # -- members
    def _member(self, base: Any, sel: Node) -> Any:
        """`x.name` on a dynamic bag: the value, or null when missing / not a bag.
        https://learn.microsoft.com/en-us/kusto/query/scalar-data-types/dynamic"""
        if sel["k"] != "NameReference":
            raise UnsupportedConstruct(f"path selector {sel['k']}")
        return base.get(sel["n"]) if isinstance(base, dict) else None

    @staticmethod
    def _index(base: Any, key: Any) -> Any:
        if isinstance(base, dict):
            return base.get(V.to_text(key))
        if isinstance(base, list) and isinstance(key, int) and not isinstance(key, bool):
            return base[key] if -len(base) <= key < len(base) else None
        return None

    # -- operators
    def _binary(self, n: Node, row: Row, group: Sequence[Row] | None) -> Any:
        op = str(n["Operator"]["t"]).lower()
        if n["Left"]["k"] == "StarExpression":
            # `* has "x"`: any column of the row (https://learn.microsoft.com/en-us/kusto/query/has-operator)
            if op not in ("has", "contains", "has_cs", "contains_cs"):
                raise UnsupportedConstruct(f"* {op}")
            needle = self.eval(n["Right"], row, group)
            return any(STRING_OPS[op](v, needle) is True for c, v in row.items() if not c.startswith("$"))
        left = self.eval(n["Left"], row, group)
        if op in LIST_OPS:
            return LIST_OPS[op](left, self._list(n["Right"], row, group))
        if op in ("matches regex",) or n["k"] == "MatchesRegexExpression":
            return V.matches_regex(left, self.eval(n["Right"], row, group))
        right = self.eval(n["Right"], row, group)
        if op in STRING_OPS:
            return STRING_OPS[op](left, right)
        if op in ("+", "-", "*", "/", "%"):
            return _arith(op, left, right)
        raise UnsupportedConstruct(f"operator {op} ({n['k']})")

    def _list(self, r: Node, row: Row, group: Sequence[Row] | None) -> list[Any]:
        elements = items(r["Expressions"]) if r["k"] == "ExpressionList" else [r]
        out: list[Any] = []
        for el in elements:
            if self.ev.is_tabular(el):
                rows = self.ev.tabular_cached(el)
                out.extend(next(iter(x.values())) if x else None for x in rows)
            else:
                v = self.eval(el, row, group)
                out.extend(v if isinstance(v, list) else [v])
        return out

    # -- calls
    def _call(self, n: Node, row: Row, group: Sequence[Row] | None) -> Any:
        name = call_name(n)
        args = call_args(n)
        if name in AGGREGATES:
            if group is None:
                raise UnsupportedConstruct(f"aggregate {name}() outside summarize")
            return self._aggregate(name, args, group)
        if name == "case":  # https://learn.microsoft.com/en-us/kusto/query/case-function
            for i in range(0, len(args) - 1, 2):
                if self.eval(args[i], row, group) is True:
                    return self.eval(args[i + 1], row, group)
            return self.eval(args[-1], row, group)
        if name in ("iff", "iif"):  # https://learn.microsoft.com/en-us/kusto/query/iff-function
            cond = self.eval(args[0], row, group)
            return self.eval(args[1] if cond is True else args[2], row, group)
        if name == "ago":  # https://learn.microsoft.com/en-us/kusto/query/ago-function
            return self.ev.now - self.eval(args[0], row, group)
        if name == "now":  # https://learn.microsoft.com/en-us/kusto/query/now-function
            off = self.eval(args[0], row, group) if args else timedelta(0)
            return self.ev.now + off
        if name == "ingestion_time":
            # https://learn.microsoft.com/en-us/kusto/query/ingestion-time-function: the hidden
            # `$IngestionTime` column of the record (null when the table does not keep it).
            return row.get("$IngestionTime")
        if name == "datetime":
            return V.to_datetime(self.eval(args[0], row, group))
        if name in ("prev", "next", "row_cumsum"):
            return self._window_call(n, name, args, row)
        fn = FUNCTIONS.get(name)
        if fn is None:
            raise UnsupportedConstruct(f"function {name}()")
        vals = [self.eval(a, row, group) for a in args]
        return fn(*vals)

    def _window_call(self, n: Node, name: str, args: list[Node], row: Row) -> Any:
        """Window functions, on a serialized row set inside `extend`.
        https://learn.microsoft.com/en-us/kusto/query/prev-function: prev(column, offset=1,
        default=null) is the column's value `offset` rows before the current one (the default
        when there is none); next() likewise after it
        (https://learn.microsoft.com/en-us/kusto/query/next-function).
        https://learn.microsoft.com/en-us/kusto/query/row-cumsum-function: row_cumsum(term,
        restart=false) is the running sum of term, restarting (at the current row's term) on a
        row where restart is true."""
        window = self.ev.window
        if window is None or not self.ev.serialized:
            raise UnsupportedConstruct(f"{name}() needs a serialized row set (sort or serialize first)")
        rows, i = window
        if name == "row_cumsum":
            term = self.eval(args[0], row)
            restart = len(args) > 1 and self.eval(args[1], row) is True
            key = id(n)
            total = term if restart or key not in self.ev.window_state else _arith(
                "+", self.ev.window_state[key], term)
            self.ev.window_state[key] = total
            return total
        offset = int(self.eval(args[1], row)) if len(args) > 1 else 1
        default = self.eval(args[2], row) if len(args) > 2 else None
        j = i - offset if name == "prev" else i + offset
        if not 0 <= j < len(rows):
            return default
        return self.eval(args[0], rows[j])

    def _aggregate(self, name: str, args: list[Node], group: Sequence[Row]) -> Any:
        """Aggregation functions. https://learn.microsoft.com/en-us/kusto/query/aggregation-functions"""
        ev = self.eval
        if name == "count":
            return len(group)
        if name == "countif":
            return sum(1 for r in group if ev(args[0], r) is True)
        if name in ("dcount", "dcountif"):
            keep = [r for r in group if name == "dcount" or ev(args[1], r) is True]
            return len({_key(v) for r in keep if (v := ev(args[0], r)) is not None and v != ""})
        if name in ("make_set", "make_list", "make_set_if", "make_list_if"):
            # make_set()/make_list() skip null values; make_set keeps the first of equal values
            # https://learn.microsoft.com/en-us/kusto/query/make-set-aggregate-function
            out: list[Any] = []
            seen: set[Any] = set()
            for r in group:
                if name.endswith("_if") and ev(args[1], r) is not True:
                    continue
                v = ev(args[0], r)
                if v is None:
                    continue
                if name.startswith("make_set"):
                    if _key(v) in seen:
                        continue
                    seen.add(_key(v))
                out.append(v)
            return out
        if name == "make_bag":
            # make_bag(): a union of the bags; a key seen twice keeps one value; non-bags ignored
            # https://learn.microsoft.com/en-us/kusto/query/make-bag-aggregate-function
            bag: dict[str, Any] = {}
            for r in group:
                v = ev(args[0], r)
                if isinstance(v, dict):
                    for key, val in v.items():
                        bag.setdefault(key, val)
            return bag
        if name in ("min", "max"):
            return _agg_minmax([ev(args[0], r) for r in group], min if name == "min" else max)
        if name in ("minif", "maxif"):
            vals = [ev(args[0], r) for r in group if ev(args[1], r) is True]
            return _agg_minmax(vals, min if name == "minif" else max)
        if name == "sum":
            nums = [v for r in group if (v := ev(args[0], r)) is not None]
            return sum(nums) if nums else None
        if name in ("take_any", "any"):
            return ev(args[0], group[0]) if group else None
        raise UnsupportedConstruct(f"aggregate {name}()")


def default_name(n: Node, taken: Sequence[str], agg: bool = False) -> str:
    """The column name Kusto gives an unnamed expression (a column reference keeps its name;
    `bin(x, ...)` is named x; `count()` is count_; `f(x)` is f_x; else Column1, Column2 ...)."""
    k = n["k"]
    if k == "NameReference":
        return str(n["n"])
    if k == "FunctionCallExpression":
        name = call_name(n)
        args = call_args(n)
        if name == "bin" and args and args[0]["k"] == "NameReference":
            return str(args[0]["n"])
        if agg:
            inner = args[0]["n"] if args and args[0]["k"] == "NameReference" else ""
            return f"{name}_{inner}"
    i = 1
    while f"Column{i}" in taken:
        i += 1
    return f"Column{i}"


__all__ = ["Scalar", "default_name", "items", "call_name", "call_args", "datetime"]

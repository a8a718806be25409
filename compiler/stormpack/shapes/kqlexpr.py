"""A small interpreter of the KQL expressions the targets data uses (``expr``, array ``source``,
name/value ``source`` and table ``filter`` forms of data/targets/*.yml).

Grammar (anything else is :class:`Uninterpretable`, never a guess)::

    expr  := call path? | column path? | "string" | number
    call  := tostring(expr) | toint(expr) | parse_json(expr) | iff(cond, expr, expr)
    path  := ("." ident | "[" "string" "]")+
    cond  := expr "has" "string" | expr "==" number

Values follow Kusto: ``tostring`` of a missing value is ``""``, of a bool ``"true"``/``"false"``,
of an object its compact JSON; ``toint`` of anything that is not an integer is null;
``parse_json`` of a string parses it (a string that is not JSON stays a string); ``has`` matches a
whole term, case-insensitively.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..errors import Uninterpretable as Uninterpretable


class _Missing:
    def __repr__(self) -> str:
        return "NULL"


NULL: Any = _Missing()
"""Kusto's null (a missing column or path)."""

_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?\d+)|(?P<id>[A-Za-z_][A-Za-z0-9_]*)'
                    r"|(?P<op>==|[().,\[\]]))")


@dataclass(frozen=True)
class Call:
    fn: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Column:
    name: str


@dataclass(frozen=True)
class Path:
    base: Any
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Has:
    left: Any
    term: str


@dataclass(frozen=True)
class Equals:
    left: Any
    number: int


@dataclass(frozen=True)
class TextEquals:
    """``column == "text"``: case-sensitive string equality
    (https://learn.microsoft.com/en-us/kusto/query/datatypes-string-operators)."""

    left: Any
    text: str


Node = Call | Column | Path | Literal | Has | Equals | TextEquals
_FUNCS = {"tostring": 1, "toint": 1, "parse_json": 1, "iff": 3}


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise Uninterpretable(f"KQL expression {text!r}: cannot read from {text[pos:]!r}")
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def fail(self, why: str) -> Uninterpretable:
        return Uninterpretable(f"KQL expression {self.text!r}: {why}")

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise self.fail(f"expected {value or 'more'}")
        self.i += 1
        return tok

    def parse(self, cond: bool = False) -> Node:
        node = self.condition() if cond else self.expr()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return node

    def condition(self) -> Node:
        left = self.expr()
        tok = self.peek()
        if tok == ("id", "has"):
            self.take()
            kind, s = self.take()
            if kind != "str":
                raise self.fail("has needs a string")
            return Has(left, json.loads(s))
        if tok == ("op", "=="):
            self.take()
            kind, n = self.take()
            if kind == "str":
                return TextEquals(left, json.loads(n))
            if kind != "num":
                raise self.fail("== needs a number or a string")
            return Equals(left, int(n))
        raise self.fail("only `has \"term\"`, `== number` and `== \"text\"` conditions are interpreted")

    def expr(self) -> Node:
        kind, val = self.take()
        node: Node
        if kind == "str":
            return Literal(json.loads(val))
        if kind == "num":
            return Literal(int(val))
        if kind != "id":
            raise self.fail(f"unexpected {val!r}")
        nxt = self.peek()
        if nxt == ("op", "("):
            if val not in _FUNCS:
                raise self.fail(f"function {val}() is not interpreted")
            self.take("(")
            args: list[Node] = [self.condition() if val == "iff" else self.expr()]
            while self.peek() == ("op", ","):
                self.take(",")
                args.append(self.expr())
            self.take(")")
            if len(args) != _FUNCS[val]:
                raise self.fail(f"{val}() takes {_FUNCS[val]} argument(s)")
            node = Call(val, tuple(args))
        else:
            node = Column(val)
        keys: list[str] = []
        while self.peek() in (("op", "."), ("op", "[")):
            if self.take()[1] == "[":  # ["#attributes"]: a key that is not an identifier
                k, name = self.take()
                if k != "str":
                    raise self.fail("a bracketed path step must be a string")
                keys.append(json.loads(name))
                self.take("]")
                continue
            k, name = self.take()
            if k != "id":
                raise self.fail("a path step must be a name")
            keys.append(name)
        return Path(node, tuple(keys)) if keys else node


def parse_expr(text: str) -> Node:
    return _Parser(text).parse()


def parse_condition(text: str) -> Node:
    return _Parser(text).parse(cond=True)


# ------------------------------------------------------------------------------ evaluation
def kql_tostring(v: Any) -> str:
    if v is NULL or v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False)
    return str(v)


def kql_parse_json(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def _toint(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v)
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            return NULL
    return NULL


def _step(v: Any, key: str) -> Any:
    if isinstance(v, dict):
        return v.get(key, NULL)
    return NULL  # Kusto paths do not fan out over arrays


_TERM = re.compile(r"[A-Za-z0-9]+")


def evaluate(node: Node, row: dict[str, Any]) -> Any:
    """The value of ``node`` on one table row (NULL for null)."""
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Column):
        return row.get(node.name, NULL)
    if isinstance(node, Path):
        v = evaluate(node.base, row)
        for k in node.keys:
            v = _step(v, k)
        return v
    if isinstance(node, Has):
        text = kql_tostring(evaluate(node.left, row)).lower()
        return node.term.lower() in {t.lower() for t in _TERM.findall(text)}
    if isinstance(node, Equals):
        v = _toint(evaluate(node.left, row))
        return v is not NULL and v == node.number
    if isinstance(node, TextEquals):
        v = evaluate(node.left, row)
        return v is not NULL and v is not None and kql_tostring(v) == node.text
    fn, args = node.fn, node.args
    if fn == "iff":
        return evaluate(args[1], row) if evaluate(args[0], row) is True else evaluate(args[2], row)
    v = evaluate(args[0], row)
    if fn == "tostring":
        return kql_tostring(v)
    if fn == "toint":
        return _toint(v)
    return kql_parse_json(v)  # parse_json


# ------------------------------------------------------------------------------ structure
@dataclass(frozen=True)
class ColumnRead:
    """Where an expression reads its data: a column, whether it is parsed as JSON, and the path
    inside it. ``tostring(parse_json(Item).Subject)`` -> ColumnRead("Item", True, ("Subject",))."""

    column: str
    parsed: bool
    keys: tuple[str, ...]
    wrapper: str | None  # tostring / toint around it, or None


def column_read(node: Node) -> ColumnRead | None:
    """The single column read of a ``[tostring|toint](path)`` expression, else None."""
    wrapper = None
    if isinstance(node, Call) and node.fn in ("tostring", "toint"):
        wrapper, node = node.fn, node.args[0]
    keys: tuple[str, ...] = ()
    if isinstance(node, Path):
        keys, node = node.keys, node.base
    parsed = False
    if isinstance(node, Call) and node.fn == "parse_json":
        parsed, node = True, node.args[0]
    if isinstance(node, Column):
        return ColumnRead(node.name, parsed, keys, wrapper)
    return None

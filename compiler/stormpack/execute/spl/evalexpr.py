"""eval / where expressions and the eval functions stormpack's SPL uses.

Semantics per the Splunk Search Reference (each function's page is linked at its code):

* Field names: bare identifiers or ``'single quoted'`` (needed for ``Parameters{}.Name``);
  ``"double quoted"`` is a string literal. https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Eval
* eval and where evaluate ``AND`` before ``OR`` (Search Manual, "Boolean expressions").
* ``=``/``==``/``!=`` compare numbers numerically and text case-sensitively; ``<``... likewise.
* A comparison or function over a null (absent) field is null; ``where`` keeps a row only when
  its expression is true; assigning null with eval removes the field.
* A multivalue field where a function expects one value is not modelled: UnsupportedConstruct.
"""

from __future__ import annotations

import ipaddress
import json
import re
import warnings
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from ..base import Row, UnsupportedConstruct
from .syntax import Token, eval_tokens
from .timemod import resolve
from .values import Value, mv, number, text, unquote, values_of

DOCS = "https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/"


@lru_cache(maxsize=2048)
def pcre(pattern: str) -> re.Pattern[str]:
    """A PCRE pattern (as Splunk's regex functions take it) in Python's dialect: named groups
    ``(?<n>...)`` become ``(?P<n>...)``; the constructs used are common to both."""
    py = re.sub(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>", r"(?P<\1>", pattern)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "[[]" is a literal '[' in PCRE and Python
        return re.compile(py)


# ------------------------------------------------------------------------------ AST
@dataclass(frozen=True)
class Lit:
    value: Value


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Not:
    arg: Any


Node = Lit | Field | Call | BinOp | Not


class _Parser:
    def __init__(self, text: str) -> None:
        self.src = text
        self.t = eval_tokens(text)
        self.i = 0

    def peek(self) -> Token | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise UnsupportedConstruct(f"eval: unexpected end of {self.src!r}")
        self.i += 1
        return tok

    def at(self, kind: str, text: str | None = None) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == kind and (text is None or tok.text == text)

    def parse(self) -> Node:
        node = self.or_()
        if self.peek() is not None:
            raise UnsupportedConstruct(f"eval: unexpected {self.peek().text!r} in {self.src!r}")  # type: ignore[union-attr]
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.at("WORD", "OR") or self.at("WORD", "XOR"):
            if self.take().text == "XOR":
                raise UnsupportedConstruct("eval operator XOR")
            node = BinOp("OR", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.at("WORD", "AND"):
            self.i += 1
            node = BinOp("AND", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.at("WORD", "NOT"):
            self.i += 1
            return Not(self.not_())
        return self.cmp()

    def cmp(self) -> Node:
        node = self.add()
        tok = self.peek()
        if tok is not None and tok.kind == "OP" and tok.text in ("=", "==", "!=", "<", ">", "<=", ">="):
            self.i += 1
            return BinOp("==" if tok.text == "=" else tok.text, node, self.add())
        if self.at("WORD", "LIKE"):
            self.i += 1
            return Call("like", (node, self.add()))
        return node

    def add(self) -> Node:
        node = self.mul()
        while (tok := self.peek()) is not None and tok.kind == "OP" and tok.text in ("+", "-", "."):
            self.i += 1
            node = BinOp(tok.text, node, self.mul())
        return node

    def mul(self) -> Node:
        node = self.unary()
        while (tok := self.peek()) is not None and tok.kind == "OP" and tok.text in ("*", "/", "%"):
            self.i += 1
            node = BinOp(tok.text, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.at("OP", "-"):
            self.i += 1
            return BinOp("-", Lit(0), self.unary())
        return self.atom()

    def atom(self) -> Node:
        tok = self.take()
        if tok.kind == "LP":
            node = self.or_()
            if self.take().kind != "RP":
                raise UnsupportedConstruct(f"eval: unbalanced parentheses in {self.src!r}")
            return node
        if tok.kind == "STR":
            return Lit(unquote(tok.text))
        if tok.kind == "FIELD":
            return Field(tok.text[1:-1].replace("\\'", "'"))
        if tok.kind == "NUM":
            return Lit(float(tok.text) if any(c in tok.text for c in ".eE") else int(tok.text))
        if tok.kind == "WORD":
            if self.at("LP"):
                self.i += 1
                args: list[Node] = []
                if not self.at("RP"):
                    args.append(self.or_())
                    while self.at("COMMA"):
                        self.i += 1
                        args.append(self.or_())
                if self.take().kind != "RP":
                    raise UnsupportedConstruct(f"eval: bad call of {tok.text}() in {self.src!r}")
                return Call(tok.text.lower(), tuple(args))
            return Field(tok.text)
        raise UnsupportedConstruct(f"eval: unexpected {tok.text!r} in {self.src!r}")


@lru_cache(maxsize=1024)
def parse_expr(text: str) -> Node:
    return _Parser(text).parse()


# ------------------------------------------------------------------------------ evaluation
def _one(v: Value, where: str) -> Any:
    """The single value of an argument (None stays None); a multivalue argument is unsupported."""
    if isinstance(v, list):
        raise UnsupportedConstruct(f"{where} over a multivalue field (not modelled)")
    return v


def _truth(v: Value) -> bool | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    raise UnsupportedConstruct(f"a non-boolean value {v!r} used as a condition")


def _compare(op: str, a: Value, b: Value) -> bool | None:
    a, b = _one(a, f"comparison {op}"), _one(b, f"comparison {op}")
    if a is None or b is None:
        return None
    na, nb = number(a), number(b)
    if na is not None and nb is not None:
        x: Any = na
        y: Any = nb
    else:
        x, y = text(a), text(b)
    return bool({"==": x == y, "!=": x != y, "<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[op])


def _arith(op: str, a: Value, b: Value) -> Value:
    a, b = _one(a, f"operator {op}"), _one(b, f"operator {op}")
    if a is None or b is None:
        return None
    if op == ".":  # https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Eval (concatenation)
        return text(a) + text(b)
    na, nb = number(a), number(b)
    if op == "+" and (na is None or nb is None):
        return text(a) + text(b)  # "+" on strings concatenates
    if na is None or nb is None:
        return None
    if op == "+":
        r = na + nb
    elif op == "-":
        r = na - nb
    elif op == "*":
        r = na * nb
    elif op == "/":
        if nb == 0:
            return None
        r = na / nb
    else:
        if nb == 0:
            return None
        r = na % nb
    return int(r) if float(r).is_integer() and op != "/" else r


Fn = Callable[[list[Value]], Value]
FUNCTIONS: dict[str, tuple[Fn, str]] = {}


def fn(name: str, page: str) -> Callable[[Fn], Fn]:
    """Registers an eval function with its Search Reference page (the section is the name)."""

    def deco(f: Fn) -> Fn:
        FUNCTIONS[name] = (f, DOCS + page)
        return f
    return deco


def _argc(name: str, args: list[Value], lo: int, hi: int) -> None:
    if not lo <= len(args) <= hi:
        raise UnsupportedConstruct(f"eval function {name}() with {len(args)} arguments")


# --- Conditional and comparison: ConditionalFunctions
@fn("if", "ConditionalFunctions")
def _if(a: list[Value]) -> Value:
    # evaluated lazily in evaluate(); this entry documents the function
    raise AssertionError("if() is evaluated lazily")


@fn("case", "ConditionalFunctions")
def _case(a: list[Value]) -> Value:
    raise AssertionError("case() is evaluated lazily")


@fn("coalesce", "ConditionalFunctions")
def _coalesce(a: list[Value]) -> Value:
    """The first argument that is not null."""
    return next((v for v in a if v is not None), None)


@fn("like", "ConditionalFunctions")
def _like(a: list[Value]) -> Value:
    """SQL LIKE: ``%`` any run of characters, ``_`` one character, the rest literal and
    case-sensitive; true when the whole text matches."""
    _argc("like", a, 2, 2)
    s, p = _one(a[0], "like()"), _one(a[1], "like()")
    if s is None or p is None:
        return None
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in text(p))
    return re.fullmatch(rx, text(s), re.S) is not None


@fn("match", "ConditionalFunctions")
def _match(a: list[Value]) -> Value:
    """True when the regex (PCRE) matches anywhere in the text (anchor with ^ and $)."""
    _argc("match", a, 2, 2)
    s, p = _one(a[0], "match()"), _one(a[1], "match()")
    if s is None or p is None:
        return None
    return pcre(text(p)).search(text(s)) is not None


@fn("cidrmatch", "ConditionalFunctions")
def _cidrmatch(a: list[Value]) -> Value:
    """True when the IP address lies in the CIDR subnet; an argument that is not an address
    (or subnet) gives false."""
    _argc("cidrmatch", a, 2, 2)
    c, ip = _one(a[0], "cidrmatch()"), _one(a[1], "cidrmatch()")
    if c is None or ip is None:
        return None
    try:
        net = ipaddress.ip_network(text(c), strict=False)
        addr = ipaddress.ip_address(text(ip).strip())
    except ValueError:
        return False
    return addr.version == net.version and addr in net


@fn("true", "ConditionalFunctions")
def _true(a: list[Value]) -> Value:
    _argc("true", a, 0, 0)
    return True


@fn("false", "ConditionalFunctions")
def _false(a: list[Value]) -> Value:
    _argc("false", a, 0, 0)
    return False


@fn("null", "ConditionalFunctions")
def _null(a: list[Value]) -> Value:
    _argc("null", a, 0, 0)
    return None


@fn("validate", "ConditionalFunctions")
def _validate(a: list[Value]) -> Value:
    raise AssertionError("validate() is evaluated lazily")


# --- Informational: InformationalFunctions
@fn("isnull", "InformationalFunctions")
def _isnull(a: list[Value]) -> Value:
    _argc("isnull", a, 1, 1)
    return a[0] is None


@fn("isnotnull", "InformationalFunctions")
def _isnotnull(a: list[Value]) -> Value:
    _argc("isnotnull", a, 1, 1)
    return a[0] is not None


# --- Multivalue: MultivalueEvalFunctions
@fn("mvcount", "MultivalueEvalFunctions")
def _mvcount(a: list[Value]) -> Value:
    """The number of values; a single value counts 1, a null field gives null."""
    _argc("mvcount", a, 1, 1)
    return len(values_of(a[0])) if a[0] is not None else None


@fn("mvindex", "MultivalueEvalFunctions")
def _mvindex(a: list[Value]) -> Value:
    """The value at 0-based ``start`` (negative counts from the end), or the values from
    ``start`` to ``end`` inclusive; out of range or a null index gives null."""
    _argc("mvindex", a, 2, 3)
    vals = values_of(a[0])
    idx = [number(_one(x, "mvindex() index")) if x is not None else None for x in a[1:]]
    if any(i is None for i in idx) or not vals:
        return None
    n = len(vals)
    start = int(idx[0])  # type: ignore[arg-type]
    start = start + n if start < 0 else start
    if len(idx) == 1:
        return vals[start] if 0 <= start < n else None
    end = int(idx[1])  # type: ignore[arg-type]
    end = end + n if end < 0 else end
    if start < 0 or start >= n or end < start:
        return None
    return mv(vals[start: min(end, n - 1) + 1])


@fn("mvfind", "MultivalueEvalFunctions")
def _mvfind(a: list[Value]) -> Value:
    """The 0-based index of the first value the regex matches, null when none does."""
    _argc("mvfind", a, 2, 2)
    p = _one(a[1], "mvfind() regex")
    if p is None:
        return None
    rx = pcre(text(p))
    return next((i for i, v in enumerate(values_of(a[0])) if rx.search(text(v))), None)


@fn("mvappend", "MultivalueEvalFunctions")
def _mvappend(a: list[Value]) -> Value:
    """All values of all arguments in order (null arguments contribute nothing)."""
    out: list[Any] = []
    for v in a:
        out.extend(values_of(v))
    return mv(out)


@fn("mvjoin", "MultivalueEvalFunctions")
def _mvjoin(a: list[Value]) -> Value:
    _argc("mvjoin", a, 2, 2)
    if a[0] is None:
        return None
    return text(_one(a[1], "mvjoin() delimiter")).join(text(v) for v in values_of(a[0]))


@fn("split", "MultivalueEvalFunctions")
def _split(a: list[Value]) -> Value:
    """The text split at each delimiter into a multivalue field (one piece: a single value)."""
    _argc("split", a, 2, 2)
    s, d = _one(a[0], "split()"), _one(a[1], "split() delimiter")
    if s is None or d is None:
        return None
    parts = list(text(s)) if text(d) == "" else text(s).split(text(d))
    return parts[0] if len(parts) == 1 else parts


# --- Text: TextFunctions
@fn("lower", "TextFunctions")
def _lower(a: list[Value]) -> Value:
    _argc("lower", a, 1, 1)
    s = _one(a[0], "lower()")
    return None if s is None else text(s).lower()


@fn("upper", "TextFunctions")
def _upper(a: list[Value]) -> Value:
    _argc("upper", a, 1, 1)
    s = _one(a[0], "upper()")
    return None if s is None else text(s).upper()


@fn("trim", "TextFunctions")
def _trim(a: list[Value]) -> Value:
    """Removes the trim characters (default: spaces and tabs) from both ends."""
    _argc("trim", a, 1, 2)
    s = _one(a[0], "trim()")
    if s is None:
        return None
    chars = text(_one(a[1], "trim() characters")) if len(a) == 2 else " \t"
    return text(s).strip(chars)


@fn("len", "TextFunctions")
def _len(a: list[Value]) -> Value:
    _argc("len", a, 1, 1)
    s = _one(a[0], "len()")
    return None if s is None else len(text(s))


@fn("replace", "TextFunctions")
def _replace(a: list[Value]) -> Value:
    """Every match of the regex replaced; ``\\1`` ... in the replacement refer to groups."""
    _argc("replace", a, 3, 3)
    s, p, r = (_one(x, "replace()") for x in a)
    if s is None or p is None or r is None:
        return None
    repl = re.sub(r"\\(\d)", r"\\g<\1>", text(r))
    return pcre(text(p)).sub(repl, text(s))


@fn("substr", "TextFunctions")
def _substr(a: list[Value]) -> Value:
    """Characters from 1-based ``start`` (negative: from the end), ``length`` of them or to the end."""
    _argc("substr", a, 2, 3)
    s = _one(a[0], "substr()")
    nums = [number(_one(x, "substr()")) for x in a[1:]]
    if s is None or any(x is None for x in nums):
        return None
    t = text(s)
    start = int(nums[0])  # type: ignore[arg-type]
    i = start - 1 if start > 0 else (len(t) + start if start < 0 else 0)
    i = max(i, 0)
    return t[i:] if len(nums) == 1 else t[i: i + int(nums[1])]  # type: ignore[arg-type]


@fn("spath", "TextFunctions")
def _spath(a: list[Value]) -> Value:
    """The value(s) at a JSON path (``a.b``, ``a{}.b``, ``a{1}``) of a JSON text; null when the
    text is not JSON or the path is absent."""
    _argc("spath", a, 2, 2)
    s, p = _one(a[0], "spath()"), _one(a[1], "spath() path")
    if s is None or p is None:
        return None
    try:
        doc = json.loads(text(s))
    except ValueError:
        return None
    from .events import json_path_values
    return mv(json_path_values(doc, text(p)))


# --- Conversion: ConversionFunctions
@fn("tostring", "ConversionFunctions")
def _tostring(a: list[Value]) -> Value:
    _argc("tostring", a, 1, 1)
    v = a[0]
    if isinstance(v, list):
        return [text(x) for x in v]
    return None if v is None else text(v)


@fn("tonumber", "ConversionFunctions")
def _tonumber(a: list[Value]) -> Value:
    _argc("tonumber", a, 1, 1)
    s = _one(a[0], "tonumber()")
    n = number(s) if s is not None else None
    if n is None:
        return None
    return int(n) if n.is_integer() else n


# --- Date and time: DateandTimeFunctions
#: The search's start time (``now()``): set by :class:`~.commands.SplExecutor` for one run.
CLOCK: ContextVar[datetime | None] = ContextVar("stormpack_spl_clock", default=None)


def _clock(name: str) -> datetime:
    now = CLOCK.get()
    if now is None:
        raise UnsupportedConstruct(f"eval function {name}() outside a search run (no clock)")
    return now


@fn("now", "DateandTimeFunctions")
def _now(a: list[Value]) -> Value:
    """The time the search started, in epoch seconds (the run's fixed clock)."""
    _argc("now", a, 0, 0)
    return int(_clock("now").timestamp())


@fn("relative_time", "DateandTimeFunctions")
def _relative_time(a: list[Value]) -> Value:
    """relative_time(<time>, <relative time specifier>): the time shifted (and snapped) by the
    specifier, whose syntax is that of the search time modifiers."""
    _argc("relative_time", a, 2, 2)
    t, spec = _one(a[0], "relative_time()"), _one(a[1], "relative_time()")
    n = number(t) if t is not None else None
    if n is None or spec is None:
        return None
    r = resolve(text(spec), datetime.fromtimestamp(n, UTC))
    return int(r) if float(r).is_integer() else r


LAZY = {"if", "case", "validate"}


def evaluate(node: Node, row: Row) -> Value:
    """The value of an eval expression on one row."""
    if isinstance(node, Lit):
        return node.value
    if isinstance(node, Field):
        return row.get(node.name)
    if isinstance(node, Not):
        t = _truth(evaluate(node.arg, row))
        return None if t is None else not t
    if isinstance(node, BinOp):
        if node.op in ("AND", "OR"):
            left = _truth(evaluate(node.left, row))
            if node.op == "AND" and left is False:
                return False
            if node.op == "OR" and left is True:
                return True
            right = _truth(evaluate(node.right, row))
            if node.op == "AND":
                return False if right is False else (None if None in (left, right) else True)
            return True if right is True else (None if None in (left, right) else False)
        lv, rv = evaluate(node.left, row), evaluate(node.right, row)
        if node.op in ("==", "!=", "<", ">", "<=", ">="):
            return _compare(node.op, lv, rv)
        return _arith(node.op, lv, rv)
    assert isinstance(node, Call)
    if node.name not in FUNCTIONS:
        raise UnsupportedConstruct(f"eval function {node.name}()")
    if node.name == "if":
        if len(node.args) != 3:
            raise UnsupportedConstruct("eval function if() needs 3 arguments")
        return evaluate(node.args[1] if _truth(evaluate(node.args[0], row)) is True else node.args[2], row)
    if node.name in ("case", "validate"):
        if len(node.args) % 2:
            raise UnsupportedConstruct(f"eval function {node.name}() with an odd number of arguments")
        for cond, val in zip(node.args[::2], node.args[1::2], strict=True):
            hit = _truth(evaluate(cond, row)) is True
            if node.name == "case" and hit:
                return evaluate(val, row)
            if node.name == "validate" and not hit:
                return evaluate(val, row)
        return None
    return FUNCTIONS[node.name][0]([evaluate(x, row) for x in node.args])


def truth(node: Node, row: Row) -> bool:
    """Whether a where/if condition holds (null is not true)."""
    return _truth(evaluate(node, row)) is True

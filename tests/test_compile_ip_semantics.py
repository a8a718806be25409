"""The address normalisation every target compiles to agrees with the taxonomy's rule
(stormpack.taxonomy.normalise_ip, which the matcher uses).

No KQL or SPL engine runs offline, so the two emitted expressions are evaluated by a small
interpreter of exactly the functions they use, with the documented semantics of each:
KQL `startswith`/`contains` are case-insensitive, `substring` is 0-based, `extract` returns ""
without a match, `split(...)[0]` is the first part; SPL `like` uses `%` wildcards, `substr` is
1-based, `replace` is a regex substitution, `mvcount(split(...))` counts the parts.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stormpack.compiler.targets import FieldRef, Step, kql_expression, kql_ip_steps, spl_ip_steps
from stormpack.taxonomy import normalise_ip

TOKEN = re.compile(r'\s*(@"(?:[^"]|"")*"|"(?:[^"\\]|\\.)*"|\d+|[A-Za-z_][A-Za-z0-9_]*|==|[(),\[\]])')


def tokenize(text: str) -> list[str]:
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        assert m, f"cannot tokenize at {text[pos : pos + 20]!r}"
        out.append(m.group(1))
        pos = m.end()
    return out


def kql_literal(tok: str) -> str:
    """KQL: @"..." is verbatim; in "..." a backslash escapes the next character (\\n, \\t...)."""
    if tok.startswith('@"'):
        return tok[2:-1].replace('""', '"')
    body = tok[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(m.group(1), m.group(1)), body)


def spl_literal(tok: str) -> str:
    """SPL eval: only \\\\ and \\" are escapes; other backslashes stay (replace(x, rx, "\\1"))."""
    return re.sub(r'\\([\\"])', r"\1", tok[1:-1])


class Interp:
    """Precedence climbing over: calls, literals, identifiers, [i], binary operators."""

    def __init__(
        self,
        funcs: dict[str, Callable[..., Any]],
        binops: dict[str, tuple[int, Callable[..., Any]]],
        env: dict[str, Any],
        literal: Callable[[str], str],
    ) -> None:
        self.funcs, self.binops, self.env, self.literal = funcs, binops, env, literal

    def run(self, text: str) -> Any:
        self.toks, self.i = tokenize(text), 0
        value = self.expr(0)
        assert self.i == len(self.toks), self.toks[self.i :]
        return value

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        self.i += 1
        return self.toks[self.i - 1]

    def expr(self, min_prec: int) -> Any:
        left = self.atom()
        while (op := self.peek()) in self.binops and self.binops[op][0] >= min_prec:
            self.take()
            prec, fn = self.binops[op]
            right = self.expr(prec + 1)
            left = fn(left, right)
        return left

    def atom(self) -> Any:
        tok = self.take()
        if tok == "(":  # grouping
            value: Any = self.expr(0)
            assert self.take() == ")"
        elif tok.startswith(('"', '@"')):
            value = self.literal(tok)
        elif tok.isdigit():
            value = int(tok)
        elif self.peek() == "(":
            self.take()
            args = []
            while self.peek() != ")":
                args.append(self.expr(0))
                if self.peek() == ",":
                    self.take()
            self.take()
            value = self.funcs[tok](*args)
        else:
            value = self.env[tok]
        while self.peek() == "[":
            self.take()
            idx = self.expr(0)
            assert self.take() == "]"
            value = value[idx] if value is not None and idx < len(value) else None
        return value


def _case(*args: Any) -> Any:
    """KQL case(c1, v1, ..., default); SPL case(c1, v1, ...) is null when nothing matches."""
    pairs = len(args) // 2
    for k in range(pairs):
        if args[2 * k]:
            return args[2 * k + 1]
    return args[-1] if len(args) % 2 else None


def _kql_extract(rx: str, group: int, s: str) -> str:
    m = re.search(rx, s)
    return (m.group(group) or "") if m else ""


KQL_FUNCS: dict[str, Callable[..., Any]] = {
    "case": _case,
    "trim": lambda rx, s: re.sub(f"^(?:{rx})|(?:{rx})$", "", s),
    "tostring": lambda v: "" if v is None else str(v),
    "extract": _kql_extract,
    "countof": lambda s, sub: s.count(sub),
    "split": lambda s, sep: s.split(sep),
    "substring": lambda s, start: s[start:],
}
KQL_OPS: dict[str, tuple[int, Callable[..., Any]]] = {
    "and": (1, lambda a, b: bool(a) and bool(b)),
    "==": (2, lambda a, b: a == b),
    "startswith": (2, lambda a, b: a.lower().startswith(b.lower())),
    "contains": (2, lambda a, b: b.lower() in a.lower()),
}


def _like(s: str | None, pattern: str) -> bool:
    if s is None:
        return False
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, s, flags=re.S) is not None


def _spl_replace(s: str, rx: str, repl: str) -> str:
    # Splunk's PCRE reads `[[]` as a class holding "["; Python's re agrees but warns that a future
    # version may read it as a nested set. The pattern is the compiled SPL's, so keep it verbatim.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return re.sub(rx, repl.replace("\\1", r"\g<1>"), s, flags=re.S)


SPL_FUNCS: dict[str, Callable[..., Any]] = {
    "case": _case,
    "true": lambda: True,
    "trim": lambda s: s.strip(" \t"),
    "like": _like,
    "replace": _spl_replace,
    "mvcount": lambda mv: len(mv),
    "split": lambda s, sep: s.split(sep),
    "mvindex": lambda mv, i: mv[i],
    "lower": lambda s: s.lower(),
    "substr": lambda s, start: s[start - 1 :],
}
SPL_OPS: dict[str, tuple[int, Callable[..., Any]]] = {
    "AND": (1, lambda a, b: bool(a) and bool(b)),
    "==": (2, lambda a, b: a == b),
}


def _run_steps(value: str, steps: tuple[Step, ...], command: str, assign: str,
               funcs: dict[str, Callable[..., Any]], ops: dict[str, tuple[int, Callable[..., Any]]],
               literal: Callable[[str], str]) -> str:
    """``steps`` (each ``<command>NAME<assign>EXPR``) run in order on Src = ``value``: Addr."""
    env = {"Src": value}
    for step in steps:
        name, _, expr = step.text.removeprefix(command).partition(assign)
        env[name] = Interp(funcs, ops, env, literal).run(expr)
    return str(env["Addr"])


def run_kql_steps(value: str) -> str:
    return _run_steps(value, kql_ip_steps("Addr", "Src"), "extend ", " = ", KQL_FUNCS, KQL_OPS, kql_literal)


def run_kql_folded(value: str) -> str:
    """The same steps folded into one expression (what Sentinel entity columns use)."""
    ref = FieldRef(field="ClientIP", target="sentinel", logsource="m365_audit", kind="ip", name="Addr",
                   type="string", taxonomy_type="ip", steps=kql_ip_steps("Addr", "Src"))
    expr = kql_expression(ref)
    assert expr is not None and "Addr" not in expr
    return str(Interp(KQL_FUNCS, KQL_OPS, {"Src": value}, kql_literal).run(expr))


def run_spl_steps(value: str) -> str:
    return _run_steps(value, spl_ip_steps("Addr", "Src"), "eval ", "=", SPL_FUNCS, SPL_OPS, spl_literal)


REAL_VALUES = [
    # ClientIP / Client_IPAddress values of the real Sentinel export in tests/data/compile
    "175.45.176.99:17362",
    "[2603:1036:4:3f::5]:1672",
    "52.179.168.21:53108",
    "::1",
    "2603:10b6:5:345::11",
    "175.45.176.99",
    # shapes from the taxonomy's ip_normalisation rule
    "[2001:db8::1]",
    "::ffff:51.89.156.153",
    "::FFFF:1.2.3.4",
    " 10.0.0.1:443 ",
    "[2001:db8::1",
]


def test_real_and_documented_shapes() -> None:
    for value in REAL_VALUES:
        assert run_kql_steps(value) == normalise_ip(value), value
        assert run_kql_folded(value) == normalise_ip(value), value
        assert run_spl_steps(value.replace("\t", " ")) == normalise_ip(value), value


ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
ipv6 = st.lists(st.integers(0, 0xFFFF).map(lambda n: f"{n:x}"), min_size=8, max_size=8).map(":".join)
port = st.integers(0, 65535).map(str)
address = st.one_of(
    ipv4,
    ipv6,
    st.tuples(ipv4, port).map(lambda t: f"{t[0]}:{t[1]}"),
    st.tuples(ipv6, port).map(lambda t: f"[{t[0]}]:{t[1]}"),
    ipv6.map(lambda a: f"[{a}]"),
    ipv4.map(lambda a: f"::ffff:{a}"),
    st.text(alphabet="0123456789abcdef:.[] ", max_size=20),
)


@settings(max_examples=300, deadline=None)
@given(address)
def test_kql_and_spl_normalise_like_the_taxonomy(value: str) -> None:
    expected = normalise_ip(value)
    assert run_kql_steps(value) == expected
    assert run_kql_folded(value) == expected
    assert run_spl_steps(value) == expected

"""The search command's boolean language over events.

https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Search
https://help.splunk.com/en/splunk-enterprise/search/search-manual/9.3/expressions-and-predicates

* Terms are ANDed implicitly; the search command evaluates parentheses, then NOT (applying to
  the term right after it), then OR, then AND: ``a OR b c`` is ``(a OR b) AND c``.
* ``field=value``: field names are case-sensitive, values case-insensitive, ``*`` a wildcard;
  a multivalue field matches when any value does. ``NOT field=value`` also keeps events without
  the field, ``field!=value`` only events that have it (Search Manual, "Difference between NOT
  and !=": https://docs.splunk.com/Documentation/Splunk/latest/Search/NOTexpressions).
* ``field IN (a, b)`` is ``field=a OR field=b``
  (https://docs.splunk.com/Documentation/Splunk/latest/Search/Usesearchoperators).
* ``<``/``>``/``<=``/``>=`` compare numbers numerically, other values as text.
* ``earliest=``/``latest=`` are time modifiers on ``_time`` (``latest`` exclusive);
  ``_index_earliest=``/``_index_latest=`` the same on ``_indextime``, when the event was indexed
  (https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/SearchTimeModifiers).
* A bare term (no field) matches the raw event: ``*`` every event; otherwise the term (its
  ``*`` a wildcard) case-insensitively inside ``_raw``; ``TERM(x)`` the same for the exact
  text. Splunk matches bare terms against the indexed segments of ``_raw``; this executor's
  substring match is a superset of that (documented in docs/query-checks.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ...syntax import SPL
from ..base import Row, UnsupportedConstruct
from .syntax import Token, search_tokens
from .timemod import resolve
from .values import glob_regex, ordered, search_equals, unquote, values_of

Pred = Callable[[Row], bool]


@dataclass
class SearchContext:
    now: datetime
    subsearch: Callable[[str], list[Row]] | None = None  # runs a [ ... ] subsearch


def format_results(rows: list[Row]) -> str:
    """A subsearch's results as the search expression Splunk substitutes (the implicit
    ``format``): each row ``( f1="v1" AND f2="v2" )`` (a multivalue field's values ORed), the
    rows ORed; no results give ``NOT ( )``, which matches no event.
    https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Format
    https://docs.splunk.com/Documentation/Splunk/latest/Search/Aboutsubsearches"""
    parts: list[str] = []
    for r in rows:
        terms: list[str] = []
        for k, v in r.items():
            if k.startswith("_"):
                continue
            vals = [SPL.string(str(x)) for x in values_of(v)]
            if not vals:
                continue
            ors = " OR ".join(f"{k}={x}" for x in vals)
            terms.append(f"( {ors} )" if len(vals) > 1 else ors)
        if terms:
            parts.append("( " + " AND ".join(terms) + " )")
    if not parts:
        return "NOT ( )"
    return "( " + " OR ".join(parts) + " )"


def _literal(tok: Token) -> str:
    return unquote(tok.text) if tok.kind == "STR" else tok.text


def _field_pred(name: str, op: str, value: str, ctx: SearchContext) -> Pred:
    if name in ("earliest", "latest", "_index_earliest", "_index_latest"):
        if op != "=":
            raise UnsupportedConstruct(f"search time modifier {name}{op}")
        bound = resolve(value, ctx.now)
        if name.startswith("_index"):
            return _index_time_pred(name, bound)
        if name == "earliest":
            return lambda ev: float(ev.get("_time", 0)) >= bound
        return lambda ev: float(ev.get("_time", 0)) < bound
    if op == "=":
        return lambda ev: any(search_equals(v, value) for v in values_of(ev.get(name)))
    if op == "!=":
        def ne(ev: Row) -> bool:
            vals = values_of(ev.get(name))
            return bool(vals) and not any(search_equals(v, value) for v in vals)
        return ne
    cmp = ordered(op)
    return lambda ev: any(cmp(v, value) for v in values_of(ev.get(name)))


def _index_time_pred(name: str, bound: float) -> Pred:
    """``_index_earliest`` / ``_index_latest`` bound ``_indextime`` (when the event was indexed)
    as ``earliest`` / ``latest`` bound ``_time``: earliest inclusive, latest exclusive (Search
    Reference, Time modifiers). Every indexed event has ``_indextime``; an event without one is
    an error, never a silent match."""
    def indexed_at(ev: Row) -> float:
        t = ev.get("_indextime")
        if t is None:
            raise UnsupportedConstruct(f"{name}: the event has no _indextime (when was it indexed?)")
        return float(t)
    if name == "_index_earliest":
        return lambda ev: indexed_at(ev) >= bound
    return lambda ev: indexed_at(ev) < bound


def _raw_pred(term: str, exact: bool = False) -> Pred:
    if term == "*" and not exact:
        return lambda ev: True
    rx = re.compile(re.escape(term) if exact else glob_regex(term).pattern, re.I | re.S)
    return lambda ev: any(rx.search(str(v)) is not None for v in values_of(ev.get("_raw")))


class _Parser:
    def __init__(self, tokens: list[Token], ctx: SearchContext, source: str) -> None:
        self.t = tokens
        self.i = 0
        self.ctx = ctx
        self.source = source

    def peek(self, k: int = 0) -> Token | None:
        return self.t[self.i + k] if self.i + k < len(self.t) else None

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise UnsupportedConstruct(f"search: unexpected end of {self.source!r}")
        self.i += 1
        return tok

    def is_word(self, word: str, k: int = 0) -> bool:
        tok = self.peek(k)
        return tok is not None and tok.kind == "WORD" and tok.text == word

    def conj(self, stop_rp: bool) -> Pred:
        parts: list[Pred] = []
        while True:
            tok = self.peek()
            if tok is None or (tok.kind == "RP" and stop_rp):
                break
            if self.is_word("AND"):
                self.i += 1
                continue
            parts.append(self.disj())
        if not parts:
            raise UnsupportedConstruct(f"search: empty expression in {self.source!r}")
        return parts[0] if len(parts) == 1 else (lambda ev: all(p(ev) for p in parts))

    def disj(self) -> Pred:
        parts = [self.neg()]
        while self.is_word("OR"):
            self.i += 1
            parts.append(self.neg())
        return parts[0] if len(parts) == 1 else (lambda ev: any(p(ev) for p in parts))

    def neg(self) -> Pred:
        if self.is_word("NOT"):
            self.i += 1
            inner = self.neg()
            return lambda ev: not inner(ev)
        return self.primary()

    def primary(self) -> Pred:
        tok = self.take()
        if tok.kind == "LP":
            if self.peek() is not None and self.peek().kind == "RP":  # type: ignore[union-attr]
                self.i += 1  # "( )" is the empty expression: it matches every event
                return lambda ev: True
            inner = self.conj(stop_rp=True)
            if self.take().kind != "RP":
                raise UnsupportedConstruct(f"search: unbalanced parentheses in {self.source!r}")
            return inner
        if tok.kind == "STR":
            return _raw_pred(unquote(tok.text))
        if tok.kind == "SUB":
            if self.ctx.subsearch is None:
                raise UnsupportedConstruct("subsearch [ ... ] without a dataset to run it on")
            return compile_search(format_results(self.ctx.subsearch(tok.text.strip())), self.ctx)
        if tok.kind != "WORD":
            raise UnsupportedConstruct(f"search: unexpected {tok.text!r} in {self.source!r}")
        if tok.text in ("XOR",):
            raise UnsupportedConstruct("search operator XOR")
        nxt = self.peek()
        if nxt is not None and nxt.kind == "OP":
            self.i += 1
            return _field_pred(tok.text, nxt.text, _literal(self.take()), self.ctx)
        if self.is_word("IN") and self.peek(1) is not None and self.peek(1).kind == "LP":  # type: ignore[union-attr]
            self.i += 2
            vals: list[str] = []
            while True:
                v = self.take()
                if v.kind == "RP":
                    break
                if v.kind == "COMMA":
                    continue
                vals.append(_literal(v))
            preds = [_field_pred(tok.text, "=", v, self.ctx) for v in vals]
            return lambda ev: any(p(ev) for p in preds)
        if tok.text == "TERM" and nxt is not None and nxt.kind == "LP":
            self.i += 1
            inner_tok = self.take()
            if self.take().kind != "RP":
                raise UnsupportedConstruct("TERM(...) with more than one token")
            return _raw_pred(_literal(inner_tok), exact=True)
        if nxt is not None and nxt.kind == "LP":
            raise UnsupportedConstruct(f"search: function-like term {tok.text}(...)")
        return _raw_pred(tok.text)


def compile_search(text: str, ctx: SearchContext) -> Pred:
    """A predicate over events for the search expression ``text`` (empty text keeps all)."""
    tokens = search_tokens(text)
    if not tokens:
        return lambda ev: True
    p = _Parser(tokens, ctx, text)
    pred = p.conj(stop_rp=False)
    if p.peek() is not None:
        raise UnsupportedConstruct(f"search: unexpected {p.peek().text!r} in {text!r}")  # type: ignore[union-attr]
    return pred



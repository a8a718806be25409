"""Condition trees -> record predicates.

Input is pySigma's post-processed condition tree (``SigmaCondition.parse()``): ``ConditionAND``,
``ConditionOR``, ``ConditionNOT`` over ``ConditionFieldEqualsValueExpression`` (field + one value,
modifiers applied) and ``ConditionValueExpression`` (keyword) leaves; ``1 of x*`` / ``all of them``
have already been resolved into AND/OR nodes by pySigma. Output is one closure ``record -> bool``.

Besides the predicate, :func:`required_values` derives a cheap *prefilter*: top-level string
fields whose (lower-cased) value must be one of a known set for the rule to be able to match at
all (``Operation: New-InboxRule`` ...). The engine uses it to skip rules without evaluating them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import SigmaExists, SigmaFieldReference, SigmaNull

from ..taxonomy import LogsourceSpec, Taxonomy
from .fields import MISSING, Reader, iter_strings, leaves, make_reader
from .values import LeafPred, ValueContext, compile_value, keyword_value, plain_lower, text_of

RecordPred = Callable[[Mapping[str, Any]], bool]
Node = ConditionItem | ConditionFieldEqualsValueExpression | ConditionValueExpression | None


class ConditionCompiler:
    """Compiles the condition trees of one rule (one log source, one set of placeholder values)."""

    def __init__(self, spec: LogsourceSpec | None, taxonomy: Taxonomy, ctx: ValueContext) -> None:
        self.spec = spec
        self.taxonomy = taxonomy
        self.ctx = ctx
        self._readers: dict[str, Reader] = {}

    # ------------------------------------------------------------------ helpers
    def reader(self, field: str) -> Reader:
        r = self._readers.get(field)
        if r is None:
            r = self._readers[field] = make_reader(field, self.spec, self.taxonomy)
        return r

    def is_ip(self, field: str) -> bool:
        if self.spec is None:
            return False
        f = self.spec.field(field)
        return f is not None and f.type == "ip"

    def prefilterable(self, field: str) -> bool:
        """A top-level, non-ip field: its record value can be looked up in a set as it is."""
        if "." in field or self.is_ip(field):
            return False
        return not (self.spec is not None and (f := self.spec.field(field)) is not None and f.is_pattern)

    # ------------------------------------------------------------------ compile
    def compile(self, node: Node) -> RecordPred:
        if isinstance(node, ConditionAND):
            return all_of([self.compile(a) for a in node.args])
        if isinstance(node, ConditionOR):
            return self._compile_or(node)
        if isinstance(node, ConditionNOT):
            inner = self.compile(node.args[0])
            return lambda r: not inner(r)
        if isinstance(node, ConditionFieldEqualsValueExpression):
            return self._field_leaf(node.field, node.value)
        if isinstance(node, ConditionValueExpression):
            return self._keyword_leaf(node.value)
        if node is None:
            raise self.ctx.error("a detection of the condition is empty")
        raise self.ctx.error(f"condition element {type(node).__name__} is not supported")

    def _compile_or(self, node: ConditionOR) -> RecordPred:
        # Merge `field: [a, b, c]` (pySigma: OR of field=a, field=b, ...) into one set lookup.
        by_field: dict[str, set[str]] = {}
        rest: list[Node] = []
        for a in node.args:
            if isinstance(a, ConditionFieldEqualsValueExpression):
                low = plain_lower(a.value)
                if low is not None:
                    by_field.setdefault(a.field, set()).add(low)
                    continue
            rest.append(a)
        preds: list[RecordPred] = []
        for field, vals in by_field.items():
            preds.append(self._set_leaf(field, frozenset(vals)))
        preds.extend(self.compile(a) for a in rest)
        return any_of(preds)

    def _set_leaf(self, field: str, vals: frozenset[str]) -> RecordPred:
        read = self.reader(field)
        if len(vals) == 1:
            (only,) = vals
            return self._value_leaf(field, compile_value_lower(only, self.is_ip(field)))
        ip = self.is_ip(field)
        if ip:
            from ..taxonomy import normalise_ip

            def m(x: Any) -> bool:
                t = text_of(x)
                return t is not None and normalise_ip(t).lower() in vals
        else:
            def m(x: Any) -> bool:
                if x.__class__ is str:
                    return x.lower() in vals
                t = text_of(x)
                return t is not None and t.lower() in vals

        def leaf(r: Mapping[str, Any]) -> bool:
            v = read(r)
            if v.__class__ is list:
                return any(m(x) for x in leaves(v))
            return m(v)
        return leaf

    def _value_leaf(self, field: str, m: LeafPred) -> RecordPred:
        read = self.reader(field)

        def leaf(r: Mapping[str, Any]) -> bool:
            v = read(r)
            if v.__class__ is list:
                for x in leaves(v):  # noqa: SIM110 - hot path, a loop beats any()
                    if m(x):
                        return True
                return False
            return m(v)
        return leaf

    def _field_leaf(self, field: str, value: Any) -> RecordPred:
        read = self.reader(field)
        if isinstance(value, SigmaNull):
            def is_null(r: Mapping[str, Any]) -> bool:
                v = read(r)
                if v is MISSING or v is None:
                    return True
                if v.__class__ is list:
                    return any(x is MISSING or x is None for x in leaves(v))
                return False
            return is_null
        if isinstance(value, SigmaExists):
            want = bool(value.exists)

            def exists(r: Mapping[str, Any]) -> bool:
                v = read(r)
                if v.__class__ is list:
                    present = any(x is not MISSING and x is not None for x in leaves(v))
                else:
                    present = v is not MISSING and v is not None
                return present is want
            return exists
        if isinstance(value, SigmaFieldReference):
            return self._fieldref_leaf(field, value)
        return self._value_leaf(field, compile_value(value, ip=self.is_ip(field), ctx=self.ctx))

    def _fieldref_leaf(self, field: str, ref: SigmaFieldReference) -> RecordPred:
        read_a, read_b = self.reader(field), self.reader(ref.field)
        sw, ew = ref.starts_with, ref.ends_with

        def rel(a: str, b: str) -> bool:
            if sw and ew:
                return b in a
            if sw:
                return a.startswith(b)
            if ew:
                return a.endswith(b)
            return a == b

        def leaf(r: Mapping[str, Any]) -> bool:
            bs = [t.lower() for x in leaves(read_b(r)) if (t := text_of(x)) is not None]
            if not bs:
                return False
            for x in leaves(read_a(r)):
                t = text_of(x)
                if t is not None:
                    low = t.lower()
                    if any(rel(low, b) for b in bs):
                        return True
            return False
        return leaf

    def _keyword_leaf(self, value: Any) -> RecordPred:
        preds = [compile_value(v, ip=False, ctx=self.ctx) for v in keyword_value(value, self.ctx)]
        m = preds[0] if len(preds) == 1 else (lambda x: any(p(x) for p in preds))

        def leaf(r: Mapping[str, Any]) -> bool:
            return any(m(s) for s in iter_strings(r))
        return leaf

    # ------------------------------------------------------------------ prefilter
    def required_values(self, node: Node) -> dict[str, frozenset[str]] | None:
        """Fields whose lower-cased string value must be in a set for ``node`` to be true."""
        if isinstance(node, ConditionFieldEqualsValueExpression):
            low = plain_lower(node.value)
            if low is not None and self.prefilterable(node.field):
                return {node.field: frozenset((low,))}
            return None
        if isinstance(node, ConditionAND):
            merged: dict[str, frozenset[str]] = {}
            for a in node.args:
                req = self.required_values(a)
                for f, vals in (req or {}).items():
                    merged[f] = merged[f] & vals if f in merged else vals
            return merged or None
        if isinstance(node, ConditionOR):
            reqs = [self.required_values(a) for a in node.args]
            if not reqs or any(r is None for r in reqs):
                return None
            common = set.intersection(*(set(r) for r in reqs if r is not None))
            out = {f: frozenset().union(*(r[f] for r in reqs if r is not None)) for f in common}
            return out or None
        return None


def compile_value_lower(target: str, ip: bool) -> LeafPred:
    """Equality with one already lower-cased text (the single-value case of a set lookup)."""
    if ip:
        from ..taxonomy import normalise_ip

        def eq_ip(x: Any) -> bool:
            t = text_of(x)
            return t is not None and normalise_ip(t).lower() == target
        return eq_ip

    def eq(x: Any) -> bool:
        if x.__class__ is str:
            return x.lower() == target
        t = text_of(x)
        return t is not None and t.lower() == target
    return eq


def all_of(preds: list[RecordPred]) -> RecordPred:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda r: a(r) and b(r)
    tup = tuple(preds)

    def pred(r: Mapping[str, Any]) -> bool:
        for p in tup:  # noqa: SIM110 - hot path, a loop beats all()
            if not p(r):
                return False
        return True
    return pred


def any_of(preds: list[RecordPred]) -> RecordPred:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda r: a(r) or b(r)
    tup = tuple(preds)

    def pred(r: Mapping[str, Any]) -> bool:
        for p in tup:  # noqa: SIM110 - hot path, a loop beats any()
            if p(r):
                return True
        return False
    return pred

"""Condition trees -> record predicates.

Input is pySigma's post-processed condition tree (``SigmaCondition.parse()``): ``ConditionAND``,
``ConditionOR``, ``ConditionNOT`` over ``ConditionFieldEqualsValueExpression`` (field + one value,
modifiers applied) and ``ConditionValueExpression`` (keyword) leaves; ``1 of x*`` / ``all of them``
have already been resolved into AND/OR nodes by pySigma. Output is one closure ``record -> bool``.

Besides the predicate, :meth:`ConditionCompiler.required_values` derives a cheap *prefilter*:
top-level fields whose value must be one of a known set of strings (lower-cased) or integers for
the rule to be able to match at all (``Operation: New-InboxRule``, ``RecordType: 275``). The
engine uses it to skip rules without evaluating them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    SigmaExists,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaTimestampPart,
)

from ..taxonomy import LogsourceSpec, Taxonomy, normalise_ip
from .fields import (
    MISSING,
    Generation,
    LoweredField,
    NameValueMemo,
    Reader,
    iter_strings,
    leaves,
    make_reader,
)
from .values import (
    LeafPred,
    TextPred,
    TextTest,
    ValueContext,
    any_text,
    compile_value,
    keyword_value,
    lowered_text_tests,
    plain_lower,
    text_of,
)

RecordPred = Callable[[Mapping[str, Any]], bool]
#: how a prefilter reads its field: lower-cased text, a normalised address, a number
PrefilterKind = Literal["str", "ip", "num"]
Alternative = tuple[str, PrefilterKind, frozenset[Any]]  # (field, kind, keys)
Node = ConditionItem | ConditionFieldEqualsValueExpression | ConditionValueExpression | None


class ConditionCompiler:
    """Compiles the condition trees of one rule (one log source, one set of placeholder values)."""

    def __init__(
        self, spec: LogsourceSpec | None, taxonomy: Taxonomy, ctx: ValueContext,
        lowered: dict[tuple[str, bool], LoweredField] | None = None,
        generation: Generation | None = None,
        nv_memos: dict[str, NameValueMemo] | None = None,
    ) -> None:
        self.spec = spec
        self.taxonomy = taxonomy
        self.ctx = ctx
        self._readers: dict[str, Reader] = {}
        # shared by every rule of an engine: one lower-casing per field and record
        self.lowered = lowered if lowered is not None else {}
        self.generation = generation if generation is not None else Generation()
        self.nv_memos: dict[str, NameValueMemo] = nv_memos if nv_memos is not None else {}

    def lowered_field(self, field: str) -> LoweredField:
        key = (field, self.is_ip(field))
        lf = self.lowered.get(key)
        if lf is None:
            lf = self.lowered[key] = LoweredField(field, key[1], self.generation)
        return lf

    # ------------------------------------------------------------------ helpers
    def reader(self, field: str) -> Reader:
        r = self._readers.get(field)
        if r is None:
            r = self._readers[field] = make_reader(field, self.spec, self.taxonomy, self.nv_memos,
                                                   self.generation)
        return r

    def is_ip(self, field: str) -> bool:
        if self.spec is None:
            return False
        f = self.spec.field(field)
        return f is not None and f.type == "ip"

    def prefilterable(self, field: str) -> bool:
        """A top-level field: its record value can be looked up in a set."""
        return self.top_level(field)

    # ------------------------------------------------------------------ compile
    def compile(self, node: Node) -> RecordPred:
        if isinstance(node, ConditionAND):
            return all_of([self.compile(a) for a in self.and_order(node)])
        if isinstance(node, ConditionOR):
            return self._compile_or(node)
        if isinstance(node, ConditionNOT):
            inner = self.compile(node.args[0])
            return lambda r: not inner(r)
        if isinstance(node, ConditionFieldEqualsValueExpression):
            return self.field_leaf(node.field, node.value)
        if isinstance(node, ConditionValueExpression):
            return self._keyword_leaf(node.value)
        if node is None:
            raise self.ctx.error("a detection of the condition is empty")
        raise self.ctx.error(f"condition element {type(node).__name__} is not supported")

    def cost(self, node: Node) -> int:
        """A rough evaluation cost, to order the operands of AND."""
        if isinstance(node, ConditionFieldEqualsValueExpression):
            if isinstance(node.value, SigmaFieldReference):
                return 6
            if isinstance(node.value, SigmaRegularExpression):
                return 8
            return 1 if self.top_level(node.field) else 3
        if isinstance(node, ConditionValueExpression):
            return 50  # keyword: a walk over the whole record
        if isinstance(node, (ConditionAND, ConditionOR, ConditionNOT)):
            return sum(self.cost(a) for a in node.args)
        return 10

    def and_order(self, node: ConditionAND) -> list[Node]:
        """AND operands in evaluation order. Predicates are pure, so the order changes only the
        cost: cheap tests first, negations (usually true: filters) last."""
        return sorted(node.args, key=lambda a: (isinstance(a, ConditionNOT), self.cost(a)))

    @staticmethod
    def or_groups(node: ConditionOR) -> tuple[dict[str, frozenset[str]], list[Node]]:
        """Split OR operands into `field: [a, b, c]` equality sets (pySigma renders a value list
        as an OR of field=a, field=b, ...) and the rest."""
        by_field: dict[str, set[str]] = {}
        rest: list[Node] = []
        for a in node.args:
            if isinstance(a, ConditionFieldEqualsValueExpression):
                low = plain_lower(a.value)
                if low is not None:
                    by_field.setdefault(a.field, set()).add(low)
                    continue
            rest.append(a)
        return {f: frozenset(v) for f, v in by_field.items()}, rest

    def set_tests(self, field: str, vals: frozenset[str]) -> tuple[TextTest, LeafPred]:
        """Equality with any of ``vals`` (lower-cased): the test on the field's lowered text and
        the same test on any raw leaf value."""
        if self.is_ip(field):
            ips = frozenset(normalise_ip(v).lower() for v in vals)

            def m_ip(x: Any) -> bool:
                t = text_of(x)
                return t is not None and normalise_ip(t).lower() in ips
            return TextTest("in", ips), m_ip

        def m(x: Any) -> bool:
            if x.__class__ is str:
                return x.lower() in vals
            t = text_of(x)
            return t is not None and t.lower() in vals
        return TextTest("in", vals), m

    def value_tests(self, field: str, value: Any) -> tuple[list[TextTest] | None, LeafPred]:
        """A field=value leaf's tests on lowered text (None: not applicable) and on raw leaves."""
        ip = self.is_ip(field)
        return lowered_text_tests(value, ip, self.ctx), compile_value(value, ip=ip, ctx=self.ctx)

    def _compile_or(self, node: ConditionOR) -> RecordPred:
        by_field, rest = self.or_groups(node)
        preds: list[RecordPred] = []
        for field, vals in by_field.items():
            preds.append(self._set_leaf(field, vals))
        preds.extend(self.compile(a) for a in rest)
        return any_of(preds)

    def top_level(self, field: str) -> bool:
        """Read with a plain ``record.get`` (no dots, not a name/value field)?"""
        if "." in field:
            return False
        return not (self.spec is not None and (f := self.spec.field(field)) is not None and f.is_pattern)

    def _set_leaf(self, field: str, vals: frozenset[str]) -> RecordPred:
        """Case-insensitive equality with any of several plain strings: one set lookup."""
        test, m = self.set_tests(field, vals)
        return self._value_leaf(field, m, test.pred)

    def _value_leaf(self, field: str, m: LeafPred, lowered: TextPred | None = None) -> RecordPred:
        """``m`` on every leaf of ``field``; ``lowered``, when given, is the same test on the
        lower-cased (ip: normalised) text of a string, evaluated through the shared memo."""
        if self.top_level(field) and lowered is not None:
            lf = self.lowered_field(field)
            get, gen = lf.get, self.generation

            def top_lowered(r: Mapping[str, Any]) -> bool:
                k = lf._key if lf._n == gen.n else get(r)  # the memo, read inline (hot path)
                if k.__class__ is str:
                    return lowered(k)
                if k is MISSING or k is None:
                    return False
                if k.__class__ is list:
                    for x in leaves(k):  # noqa: SIM110 - hot path, a loop beats any()
                        if m(x):
                            return True
                    return False
                return m(k)
            return top_lowered
        if self.top_level(field):
            def top(r: Mapping[str, Any]) -> bool:
                v = r.get(field, MISSING)
                if v.__class__ is list:
                    for x in leaves(v):  # noqa: SIM110 - hot path, a loop beats any()
                        if m(x):
                            return True
                    return False
                return m(v)
            return top
        read = self.reader(field)
        if lowered is not None and not self.is_ip(field):
            def leaf_lowered(r: Mapping[str, Any]) -> bool:
                v = read(r)
                if v.__class__ is str:
                    return lowered(v.lower())
                if v is MISSING or v is None:
                    return False
                if v.__class__ is list:
                    for x in leaves(v):  # noqa: SIM110 - hot path, a loop beats any()
                        if m(x):
                            return True
                    return False
                return m(v)
            return leaf_lowered

        def leaf(r: Mapping[str, Any]) -> bool:
            v = read(r)
            if v.__class__ is list:
                for x in leaves(v):  # noqa: SIM110 - hot path, a loop beats any()
                    if m(x):
                        return True
                return False
            return m(v)
        return leaf

    def field_leaf_set(self, field: str, vals: frozenset[str]) -> RecordPred:
        """Equality with any of ``vals`` as a closure."""
        return self._set_leaf(field, vals)

    def field_leaf(self, field: str, value: Any) -> RecordPred:
        """One field=value leaf as a closure."""
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
        tests, m = self.value_tests(field, value)
        return self._value_leaf(field, m, any_text(tests) if tests is not None else None)

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
    def _alternative(self, field: str, value: Any) -> Alternative | None:
        if not self.prefilterable(field):
            return None
        low = plain_lower(value)
        if low is not None:
            if self.is_ip(field):
                return (field, "ip", frozenset((normalise_ip(low).lower(),)))
            return (field, "str", frozenset((low,)))
        if isinstance(value, SigmaNumber) and not isinstance(value, SigmaTimestampPart):
            n = value.number
            if isinstance(n, int):
                return (field, "num", frozenset((n,)))
        return None

    def required_values(self, node: Node) -> list[Alternative] | None:
        """A necessary condition for ``node``: a list of alternatives (field, kind, keys), one of
        which the record must satisfy, or None when no cheap condition can be derived.

        kinds: "str" - the field is a string whose lower-case form is a key; "ip" - the same on
        the normalised address; "num" - a number or numeric string equal to an integer key. A
        record whose field has another type (a list, an object...) is never skipped by the engine.
        """
        if isinstance(node, ConditionFieldEqualsValueExpression):
            alt = self._alternative(node.field, node.value)
            return [alt] if alt is not None else None
        if isinstance(node, ConditionAND):
            options = [r for r in (self.required_values(a) for a in node.args) if r is not None]
            return min(options, key=_rank) if options else None
        if isinstance(node, ConditionOR):
            merged: dict[tuple[str, PrefilterKind], frozenset[Any]] = {}
            for a in node.args:
                req = self.required_values(a)
                if req is None:
                    return None
                for f, kind, keys in req:
                    merged[(f, kind)] = merged.get((f, kind), frozenset()) | keys
            return [(f, kind, keys) for (f, kind), keys in merged.items()] or None
        return None


_PREFERRED = ("Operation", "operationName", "category", "RecordType", "Workload")


def _rank(alts: list[Alternative]) -> tuple[int, int, int]:
    """Fewer alternatives first, then well-known selective fields, then fewer keys."""
    pref = min((_PREFERRED.index(f) if f in _PREFERRED else 99) for f, _, _ in alts)
    return (len(alts), pref, sum(len(k) for _, _, k in alts))


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

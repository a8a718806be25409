"""Condition trees -> one generated Python function per rule (the fast path).

The closures of :mod:`.conditions` are the reference semantics; this module emits the same logic
as the source of a single function so that the common leaves cost no Python call: a top-level
string field is read through the shared per-record memo and tested inline (``k in SET``,
``k.startswith(P)``...), AND / OR / NOT become Python's ``and`` / ``or`` / ``not``. Everything else
(nested and name/value fields, null/exists, fieldref, keywords, numbers...) calls the reference
closure of that leaf. Rule values are never written into the source: every constant is passed by
name through the function's globals, so no rule text can inject code. A tree Python cannot compile
(too deeply nested) falls back to the closures. ``tests/test_matcher_properties.py`` checks that
both give the same verdict on random records.
"""

from __future__ import annotations

from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
)
from sigma.types import SigmaExists, SigmaFieldReference, SigmaNull, SigmaNumber, SigmaTimestampPart

from ..cache import compiled_code
from .conditions import ConditionCompiler, Node, RecordPred, any_of
from .fields import MISSING, leaves
from .values import LeafPred, TextTest, compile_value

_INLINE = {
    "eq": "{k} == {c}",
    "in": "{k} in {c}",
    "startswith": "{k}.startswith({c})",
    "endswith": "{k}.endswith({c})",
    "contains": "{c} in {k}",
    "call": "{c}({k})",
}


def _slow(m: LeafPred) -> LeafPred:
    """The leaf test for a field value that is not a string (the memo's raw value)."""

    def slow(k: Any) -> bool:
        if k is MISSING or k is None:
            return False
        if k.__class__ is list:
            for x in leaves(k):  # noqa: SIM110 - hot path, a loop beats any()
                if m(x):
                    return True
            return False
        return m(k)
    return slow


class _Source:
    def __init__(self, cc: ConditionCompiler) -> None:
        self.cc = cc
        self.ns: dict[str, Any] = {"__builtins__": {}, "str": str, "int": int, "MISSING": MISSING,
                                   "GEN": cc.generation}
        self._n = 0

    def const(self, obj: Any) -> str:
        name = f"c{self._n}"
        self._n += 1
        self.ns[name] = obj
        return name

    def expr(self, node: Node) -> str:
        cc = self.cc
        if isinstance(node, ConditionAND):
            return "(" + " and ".join(self.expr(a) for a in cc.and_order(node)) + ")"
        if isinstance(node, ConditionOR):
            by_field, rest = cc.or_groups(node)
            parts = []
            for field, vals in by_field.items():
                test, m = cc.set_tests(field, vals)
                parts.append(self._lowered_leaf(field, [test], m) if cc.top_level(field)
                             else self.call(cc.field_leaf_set(field, vals)))
            parts.extend(self.expr(a) for a in rest)
            return "(" + " or ".join(parts) + ")"
        if isinstance(node, ConditionNOT):
            return "(not " + self.expr(node.args[0]) + ")"
        if isinstance(node, ConditionFieldEqualsValueExpression):
            value = node.value
            special = isinstance(value, (SigmaNull, SigmaExists, SigmaFieldReference))
            if not special:
                inline = self._inline_leaf(node.field, value)
                if inline is not None:
                    return inline
            return self.call(cc.field_leaf(node.field, value))
        return self.call(cc.compile(node))

    def call(self, pred: RecordPred) -> str:
        return f"{self.const(pred)}(r)"

    def _inline_leaf(self, field: str, value: Any) -> str | None:
        cc = self.cc
        if (cc.top_level(field) and isinstance(value, SigmaNumber)
                and not isinstance(value, SigmaTimestampPart) and isinstance(value.number, int)):
            m = compile_value(value, ip=cc.is_ip(field), ctx=cc.ctx)
            name, num, slow = self.const(field), self.const(value.number), self.const(_slow(m))
            return (f"(((v := r.get({name}, MISSING)).__class__ is int and v == {num})"
                    f" or (v.__class__ is not int and {slow}(v)))")
        tests, m = cc.value_tests(field, value)
        if tests is None:
            return None
        if cc.top_level(field):
            return self._lowered_leaf(field, tests, m)
        if cc.is_ip(field):
            return None
        read, slow = self.const(cc.reader(field)), self.const(_slow(m))
        text = self._text(tests, "(k := v.lower())")
        return f"((((v := {read}(r)).__class__ is str) and {text}) or (v.__class__ is not str and {slow}(v)))"

    def _text(self, tests: list[TextTest], first: str) -> str:
        """The OR of ``tests`` on the text ``k``; ``first`` (which may assign k) is used for the
        first occurrence."""
        checks = []
        for i, t in enumerate(tests):
            k = first if i == 0 else "k"
            if t.kind == "any":
                checks.append(f"({k} is not None)")
            else:
                checks.append(_INLINE[t.kind].format(k=k, c=self.const(t.arg)))
        return checks[0] if len(checks) == 1 else "(" + " or ".join(checks) + ")"

    def _lowered_leaf(self, field: str, tests: list[TextTest], m: LeafPred) -> str:
        lf = self.cc.lowered_field(field)
        memo, get, slow = self.const(lf), self.const(lf.get), self.const(_slow(m))
        text = self._text(tests, "k")
        read = f"(k := ({memo}._key if {memo}._n == n else {get}(r)))"
        return f"(({read}.__class__ is str and {text}) or (k.__class__ is not str and {slow}(k)))"


def generate(cc: ConditionCompiler, nodes: list[Node], name: str = "rule") -> RecordPred | None:
    """One function for the OR of ``nodes`` (a rule's conditions), or None when Python cannot
    compile it (the caller then uses the closures)."""
    src = _Source(cc)
    try:
        body = " or ".join(src.expr(n) for n in nodes)
        code = "def pred(r):\n    n = GEN.n\n    return " + body + "\n"
        compiled = compiled_code(code, f"<stormpack rule {name}>")
        exec(compiled, src.ns)  # noqa: S102 - our own generated source; constants passed by name
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return None
    fn: RecordPred = src.ns["pred"]
    return fn


def predicate_for(cc: ConditionCompiler, nodes: list[Node], name: str) -> RecordPred:
    """The generated function, or the reference closures when it cannot be generated."""
    fn = generate(cc, nodes, name)
    return fn if fn is not None else reference_predicate(cc, nodes)


def reference_predicate(cc: ConditionCompiler, nodes: list[Node]) -> RecordPred:
    """The closures only (tests compare the generated function with this)."""
    return any_of([cc.compile(n) for n in nodes])

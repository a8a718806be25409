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
from sigma.types import SigmaExists, SigmaFieldReference, SigmaNull

from .conditions import ConditionCompiler, Node, RecordPred, any_of
from .fields import MISSING, leaves
from .values import LeafPred, TextTest

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
        self.ns: dict[str, Any] = {"__builtins__": {}, "str": str, "GEN": cc.generation}
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
            if cc.top_level(node.field) and not special:
                tests, m = cc.value_tests(node.field, value)
                if tests is not None:
                    return self._lowered_leaf(node.field, tests, m)
            return self.call(cc.field_leaf(node.field, value))
        return self.call(cc.compile(node))

    def call(self, pred: RecordPred) -> str:
        return f"{self.const(pred)}(r)"

    def _lowered_leaf(self, field: str, tests: list[TextTest], m: LeafPred) -> str:
        lf = self.cc.lowered_field(field)
        memo, get, slow = self.const(lf), self.const(lf.get), self.const(_slow(m))
        checks = []
        for t in tests:
            if t.kind == "any":
                checks.append("True")
            else:
                checks.append(_INLINE[t.kind].format(k="k", c=self.const(t.arg)))
        text = checks[0] if len(checks) == 1 else "(" + " or ".join(checks) + ")"
        read = f"(k := ({memo}._key if {memo}._n == n else {get}(r)))"
        return f"(({read}.__class__ is str and {text}) or (k.__class__ is not str and {slow}(k)))"


def generate(cc: ConditionCompiler, nodes: list[Node], name: str = "rule") -> RecordPred | None:
    """One function for the OR of ``nodes`` (a rule's conditions), or None when Python cannot
    compile it (the caller then uses the closures)."""
    src = _Source(cc)
    try:
        body = " or ".join(src.expr(n) for n in nodes)
        code = "def pred(r):\n    n = GEN.n\n    return " + body + "\n"
        compiled = compile(code, f"<stormpack rule {name}>", "exec")
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

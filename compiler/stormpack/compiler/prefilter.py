"""Filter early: cheap tests run before the alias-defining steps.

`| mv-apply` / `| extend` (KQL) and `| eval` (SPL) over every record of a table are expensive. Two
exact prefilters run before them:

1. When a rule's top-level condition is a conjunction, the conjuncts that only read plain columns
   (no alias, no regex) are rendered first: KQL `Table | where <plain> | <steps> | where <rest>`,
   SPL `<base search> <plain> | <steps> | search <rest>`. `a and b` = `where a | where b`.
2. Of the rest, what every branch requires (required.py semantics: an `and` needs what any side
   needs, an `or` what all sides need, a `not` nothing): the values of a plain string column
   (`Col in~ (...)`), else whole terms of the raw columns the aliases are computed from
   (`Col has_any (...)`, terms.py; SPL: bare search terms). Every record the condition matches
   passes it, so the result is the same; only the work is less.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.deferred import DeferredQueryExpression
from sigma.conversion.state import ConversionState
from sigma.types import SigmaRegularExpression

from ..syntax import KQL
from .required import required_values
from .targets import FieldRef
from .terms import needle

ROOT_KEY = "stormpack_root_seen"
PREFILTER_KEY = "stormpack_prefilter"


def _leaves(cond: Any) -> Iterator[Any]:
    if isinstance(cond, (ConditionFieldEqualsValueExpression, ConditionValueExpression)):
        yield cond
    elif isinstance(cond, ConditionItem):
        for a in cond.args:
            yield from _leaves(a)


def _flatten_and(cond: ConditionAND) -> list[Any]:
    out: list[Any] = []
    for a in cond.args:
        out.extend(_flatten_and(a) if isinstance(a, ConditionAND) else [a])
    return out


def is_plain(cond: Any, by_name: Mapping[str, FieldRef]) -> bool:
    for leaf in _leaves(cond):
        if isinstance(leaf.value, SigmaRegularExpression):
            return False
        if isinstance(leaf, ConditionFieldEqualsValueExpression):
            ref = by_name.get(leaf.field)
            if ref is None or ref.steps:
                return False
    return True


def split_root(backend: Any, cond: Any, state: ConversionState, by_name: Mapping[str, FieldRef]) -> Any:
    """None when the root is not split; else the converted rest (the prefilter goes to the state)."""
    ps = cast("dict[str, Any]", state.processing_state)
    if ps.get(ROOT_KEY):
        return None
    ps[ROOT_KEY] = True
    if not any(r.steps for r in by_name.values()):
        return None
    args = _flatten_and(cond) if isinstance(cond, ConditionAND) else [cond]
    plain = [a for a in args if is_plain(a, by_name)]
    rest = [a for a in args if not is_plain(a, by_name)]
    if not rest:
        return None
    parts: list[str] = []
    pre = _join(backend, cond, plain, state) if plain and isinstance(cond, ConditionAND) else ""
    if pre:
        parts.append(pre)
    kql = getattr(backend, "prefilter_dialect", "kql") == "kql"
    extra = derived_prefilter(rest, by_name, kql=kql) if expensive(by_name) else ""
    if extra:
        parts.append(extra)
    if not parts:
        return None
    ps[PREFILTER_KEY] = (" and " if kql else " ").join(parts)
    if not pre:
        return None  # nothing split off: the whole condition is converted as usual
    post = _join(backend, cond, rest, state)
    return post if post else backend.empty_and_expression


# ------------------------------------------------------------------ derived prefilters
_EXPENSIVE_KEYS = ("bag:", "nv:", "array:", "ip:")


def expensive(by_name: Mapping[str, FieldRef]) -> bool:
    """Whether the prelude expands or parses every row: ``mv-apply`` over a name/value or array
    column, ``parse_json`` of a JSON text column, or the address normalisation (SPL: the
    ``mvfind`` / ``case`` evals). A plain ``extend X = tostring(RawEventData.X)`` reads a dynamic
    column that is already parsed and is not worth a second test."""
    return any(
        step.key.startswith(_EXPENSIVE_KEYS) or "parse_json(" in step.text
        for ref in by_name.values()
        for step in ref.steps
    )


_SOURCE = re.compile(r"^(?:tostring\()?(?:parse_json\()?([A-Za-z_][A-Za-z0-9_]*)\)?(?:$|[.\[])")
_APPLY = re.compile(r"^mv-apply __(?:nv|e0) = (.+?) on \(")


def raw_column(ref: FieldRef) -> tuple[str, bool] | None:
    """The KQL column whose text holds a field's value, and whether that text is JSON (the value
    then sits inside a JSON document, possibly escaped); None when unknown."""
    if ref.values or ref.as_string:
        return None
    if ref.kind == "column":
        return (ref.name, False) if ref.type == "string" and not ref.steps else None
    if ref.kind in ("name_value", "array"):
        m = _APPLY.match(ref.steps[0].text) if ref.steps else None
        src = m.group(1) if m else ""
    else:  # computed / ip: the expression or column the value is read from
        src = ref.source
    m2 = _SOURCE.match(src.strip())
    if m2 is None:
        return None
    column = m2.group(1)
    is_json = column != src.strip()
    if ref.kind == "computed" and not src.strip().startswith("tostring("):
        return None
    return column, is_json


MIN_NEEDLE = 3
Atom = tuple[str, str]  # (KQL column, or "" for SPL raw text; needle)


def _leaf_atoms(cond: ConditionFieldEqualsValueExpression, by_name: Mapping[str, FieldRef],
                kql: bool) -> frozenset[Atom] | None:
    ref = by_name.get(cond.field) if cond.field else None
    if ref is None:
        return None
    if kql:
        src = raw_column(ref)
        if src is None:
            return None
        column, is_json = src
        # a normalised address read from JSON may have had escaped white space around it
        anchored = not (ref.kind == "ip" and is_json)
    else:
        if ref.values or ref.kind == "computed":
            return None
        column, anchored = "", ref.kind != "ip"  # Splunk reads every field from the raw JSON
    text = needle(cond.value, anchored=anchored, single_term=not kql)
    # shorter needles are exact too but select little: Kusto's term index holds terms of three
    # characters or more (https://learn.microsoft.com/en-us/kusto/query/datatypes-string-operators)
    return frozenset([(column, text)]) if text and len(text) >= MIN_NEEDLE else None


def required_atoms(cond: Any, by_name: Mapping[str, FieldRef], kql: bool) -> frozenset[Atom] | None:
    """Terms one of which the raw text of every record ``cond`` matches contains (None: no such set)."""
    if isinstance(cond, ConditionFieldEqualsValueExpression):
        return _leaf_atoms(cond, by_name, kql)
    if isinstance(cond, ConditionAND):
        return _best([required_atoms(a, by_name, kql) for a in cond.args])
    if isinstance(cond, ConditionOR):
        out: set[Atom] = set()
        for a in cond.args:
            got = required_atoms(a, by_name, kql)
            if got is None:
                return None
            out |= got
        return frozenset(out)
    return None  # NOT, keywords: nothing required


def _best(options: Sequence[frozenset[Atom] | None]) -> frozenset[Atom] | None:
    found = [o for o in options if o]
    if not found:
        return None
    return min(found, key=lambda o: (len(o), -min(len(n) for _, n in o)))


def _plain_string_columns(by_name: Mapping[str, FieldRef]) -> list[str]:
    return [r.name for r in by_name.values()
            if r.kind == "column" and r.type == "string" and not r.steps and not r.values
            and not r.as_string and r.presence is None]


def derived_prefilter(args: Sequence[Any], by_name: Mapping[str, FieldRef], *, kql: bool) -> str:
    """The prefilter every record matching ``and`` of ``args`` passes, rendered; "" when none."""
    cond: Any = args[0] if len(args) == 1 else ConditionAND(list(args))
    if isinstance(cond, ConditionNOT):
        return ""
    if kql:
        ins = []
        for col in _plain_string_columns(by_name):
            vals = required_values(cond, col)
            if vals:
                ins.append(f"{col} {KQL.in_i_token} ({', '.join(KQL.string(v) for v in sorted(vals))})")
        if ins:
            return " and ".join(ins)
    atoms = required_atoms(cond, by_name, kql)
    if not atoms:
        return ""
    if not kql:
        terms = sorted({n for _, n in atoms})
        return terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"
    by_col: dict[str, list[str]] = {}
    for col, n in sorted(atoms):
        by_col.setdefault(col, []).append(n)
    tests = [
        f"{col} {KQL.has_token} {KQL.string(ns[0])}" if len(ns) == 1
        else f"{col} {KQL.has_any_token} ({', '.join(KQL.string(n) for n in ns)})"
        for col, ns in by_col.items()
    ]
    return tests[0] if len(tests) == 1 else "(" + " or ".join(tests) + ")"


def _join(backend: Any, outer: ConditionAND, args: list[Any], state: ConversionState) -> str:
    parts = []
    for a in args:
        conv = (
            backend.convert_condition(a, state)
            if backend.compare_precedence(outer, a)
            else backend.convert_condition_group(a, state)
        )
        if conv is not None and not isinstance(conv, DeferredQueryExpression):
            parts.append(str(conv))
    joiner = (
        backend.and_token
        if backend.token_separator == backend.and_token
        else backend.token_separator + backend.and_token + backend.token_separator
    )
    return str(joiner.join(parts))

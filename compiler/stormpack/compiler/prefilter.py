"""Filter early: conditions on plain columns run before the alias-defining steps.

`| mv-apply` / `| extend` (KQL) and `| eval` (SPL) over every record of a table are expensive. When
a rule's top-level condition is a conjunction, the conjuncts that only read plain columns (no
alias, no regex) are rendered first: KQL `Table | where <plain> | <steps> | where <rest>`, SPL
`<base search> <plain> | <steps> | search <rest>`. `a and b` = `where a | where b`, so the result
is the same; only the work is less.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, cast

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionValueExpression,
)
from sigma.conversion.deferred import DeferredQueryExpression
from sigma.conversion.state import ConversionState
from sigma.types import SigmaRegularExpression

from .targets import FieldRef

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
    if not isinstance(cond, ConditionAND) or not any(r.steps for r in by_name.values()):
        return None
    args = _flatten_and(cond)
    plain = [a for a in args if is_plain(a, by_name)]
    rest = [a for a in args if not is_plain(a, by_name)]
    if not plain or not rest:
        return None
    pre = _join(backend, cond, plain, state)
    post = _join(backend, cond, rest, state)
    if not pre:
        return None
    ps[PREFILTER_KEY] = pre
    return post if post else backend.empty_and_expression


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

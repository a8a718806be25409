"""`|expand` placeholders (`%name%`): the one place that decides how they reach a query.

Today they are replaced by the values of a values directory (pySigma's value_placeholders), so a
list becomes an `or` of its values. Watchlist / lookup rendering can replace this module later:
`placeholder_items` is the only function the compiler calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from sigma.processing.pipeline import ProcessingItem
from sigma.processing.transformations import (
    QueryExpressionPlaceholderTransformation,
    ValueListPlaceholderTransformation,
)
from sigma.rule import SigmaDetectionItem, SigmaRule
from sigma.types import Placeholder, SigmaString, SigmaType

from ..errors import CompileError, Location
from ..ruleset import load_values

Values = Mapping[str, Sequence[str]]


def resolve_values(values: Values | str | Path | None) -> dict[str, list[str]]:
    """A values mapping, or a values file / directory read with stormpack.ruleset.load_values."""
    if values is None:
        return {}
    if isinstance(values, (str, Path)):
        return load_values(values)
    return {k: [str(v) for v in vs] for k, vs in values.items()}


def placeholder_items() -> list[ProcessingItem]:
    """Processing items that replace every placeholder with its values (pipeline vars)."""
    return [
        *_list_items(),
        ProcessingItem(ValueListPlaceholderTransformation(), identifier="stormpack_placeholders"),
    ]


# ---------------------------------------------------------------------------------- lists mode
# Deployable artifacts (stormpack.artifacts.pack) compile whole-value tenant lists to a watchlist /
# lookup reference instead of their values. Outside `lists_mode` nothing changes.
_LISTS: ContextVar[tuple[str, Mapping[str, str]] | None] = ContextVar("stormpack_lists_mode", default=None)


@contextmanager
def lists_mode(expression: str, ids: Mapping[str, str]) -> Iterator[None]:
    """Within the block, a value that is exactly `%name%` with name in `ids` compiles to
    `expression` ({field}: the target column, {id}: ids[name]); other placeholders keep values."""
    token = _LISTS.set((expression, dict(ids)))
    try:
        yield
    finally:
        _LISTS.reset(token)


class _ListPlaceholderTransformation(QueryExpressionPlaceholderTransformation):
    """pySigma's transformation raises on ANY placeholder inside a longer string, even one it does
    not handle; this one passes such values through to the value-list transformation."""

    def apply_string_value(self, field: str | None, val: SigmaString) -> SigmaType | None:
        p = val.s[0] if len(val.s) == 1 else None
        if isinstance(p, Placeholder) and self.is_handled_placeholder(p):
            return super().apply_string_value(field, val)
        return None


def list_placeholders() -> set[str]:
    """Names compiled to a list reference in the current lists_mode (they need no values)."""
    mode = _LISTS.get()
    return set(mode[1]) if mode is not None else set()


def _list_items() -> list[ProcessingItem]:
    mode = _LISTS.get()
    if mode is None or not mode[1]:
        return []
    expression, ids = mode
    return [
        ProcessingItem(
            _ListPlaceholderTransformation(expression=expression, mapping=dict(ids), include=sorted(ids)),
            identifier="stormpack_placeholder_lists",
        )
    ]


def check_placeholders(
    rule: SigmaRule, items: Sequence[SigmaDetectionItem], values: Values, path: Path, target: str, source: str
) -> None:
    """An unresolved placeholder is a CompileError naming rule, placeholder and values source."""
    for item in items:
        for v in item.value:
            if not isinstance(v, SigmaString):
                continue
            for p in v.s:
                if isinstance(p, Placeholder) and p.name not in values and p.name not in list_placeholders():
                    raise CompileError(
                        f"placeholder %{p.name}% has no value in {source}",
                        Location(path),
                        rule=str(rule.title),
                        target=target,
                        field=item.field,
                    )


def expand_for_check(value: SigmaString, values: Values) -> list[str]:
    """The plain texts a (possibly placeholder) value stands for, for value-map checks."""
    names = [p.name for p in value.s if isinstance(p, Placeholder)]
    if not names:
        return [str(value)]
    if len(value.s) == 1:
        return [str(x) for x in values.get(names[0], [])]
    return [str(value)]

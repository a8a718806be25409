"""`|expand` placeholders (`%name%`): the one place that decides how they reach a query.

They are replaced by the values of a values directory (pySigma's value_placeholders), so a list
becomes an `or` of its values; or, when the caller passes :class:`ListReferences` (the deployable
artifacts, stormpack.artifacts.pack), a whole-value placeholder becomes a reference to the
deployed watchlist / lookup. `placeholder_items` is the only function the compiler calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class ListReferences:
    """Whole-value placeholders compiled to a list reference instead of their values: a value that
    is exactly `%name%` with name in `ids` compiles to `expression` ({field}: the target column,
    {id}: ids[name]); other placeholders keep their values."""

    expression: str
    ids: Mapping[str, str] = field(default_factory=dict)


def placeholder_items(lists: ListReferences | None = None) -> list[ProcessingItem]:
    """Processing items that replace every placeholder with its values (pipeline vars), or with
    its list reference for the names in `lists`."""
    return [
        *_list_items(lists),
        ProcessingItem(ValueListPlaceholderTransformation(), identifier="stormpack_placeholders"),
    ]


class _ListPlaceholderTransformation(QueryExpressionPlaceholderTransformation):
    """pySigma's transformation raises on ANY placeholder inside a longer string, even one it does
    not handle; this one passes such values through to the value-list transformation."""

    def apply_string_value(self, field: str | None, val: SigmaString) -> SigmaType | None:
        p = val.s[0] if len(val.s) == 1 else None
        if isinstance(p, Placeholder) and self.is_handled_placeholder(p):
            return super().apply_string_value(field, val)
        return None


def _list_items(lists: ListReferences | None) -> list[ProcessingItem]:
    if lists is None or not lists.ids:
        return []
    return [
        ProcessingItem(
            _ListPlaceholderTransformation(expression=lists.expression, mapping=dict(lists.ids),
                                           include=sorted(lists.ids)),
            identifier="stormpack_placeholder_lists",
        )
    ]


def check_placeholders(
    rule: SigmaRule, items: Sequence[SigmaDetectionItem], values: Values, path: Path, target: str,
    source: str, lists: ListReferences | None = None,
) -> None:
    """An unresolved placeholder (no value, no list reference) is a CompileError naming rule,
    placeholder and values source."""
    referenced = lists.ids if lists is not None else {}
    for item in items:
        for v in item.value:
            if not isinstance(v, SigmaString):
                continue
            for p in v.s:
                if isinstance(p, Placeholder) and p.name not in values and p.name not in referenced:
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

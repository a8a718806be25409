"""What both backend subclasses share: per-rule field references and the query prelude.

A rule's fields resolve to :class:`FieldRef`s (a plain column, or an alias computed by prelude
steps such as a name/value lookup or a normalised IP). For every rule the backend looks the refs
up once, lets the prefilter split off cheap plain-column conditions, and leaves the prelude (the
prefilter plus every computed column, each step once) in the pipeline state, where the generated
pipeline's template places it between the table / base search and the main condition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from .prefilter import PREFILTER_KEY, split_root
from .targets import FieldRef

PRELUDE_KEY = "stormpack_prelude"


def prelude_of(refs: Mapping[str, FieldRef], sep: str = "\n| ") -> str:
    """The prelude steps of a rule's field references, each step once, in first-use order."""
    seen: set[str] = set()
    out: list[str] = []
    for ref in refs.values():
        for step in ref.steps:
            if step.key not in seen:
                seen.add(step.key)
                out.append(sep + step.text)
    return "".join(out)


class FieldRefBackend:
    """Mixin for a pySigma text backend (put it first in the bases).

    ``prefilter_format`` renders the split-off plain-column conditions in the target's syntax.
    """

    prefilter_format: ClassVar[str]
    last_processing_pipeline: Any

    def __init__(
        self, *args: Any, refs_for: Callable[[Any], Mapping[str, FieldRef]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._refs_for: Callable[[Any], Mapping[str, FieldRef]] = refs_for or (lambda rule: {})
        self._by_name: dict[str, FieldRef] = {}

    def convert_rule(self, rule: SigmaRule, output_format: str | None = None, callback: Any = None) -> Any:
        refs = self._refs_for(rule)
        self._by_name = {r.name: r for r in refs.values()}
        return super().convert_rule(rule, output_format, callback)  # type: ignore[misc]

    def convert_condition(self, cond: Any, state: ConversionState) -> Any:
        rest = split_root(self, cond, state, self._by_name)
        return rest if rest is not None else super().convert_condition(cond, state)  # type: ignore[misc]

    def finish_query(self, rule: SigmaRule | SigmaCorrelationRule, query: Any, state: ConversionState) -> Any:
        if isinstance(rule, SigmaRule):
            pre = state.processing_state.get(PREFILTER_KEY)
            early = self.prefilter_format.format(pre) if pre else ""
            self.last_processing_pipeline.state[PRELUDE_KEY] = early + prelude_of(self._refs_for(rule))
        return super().finish_query(rule, query, state)  # type: ignore[misc]

    def _ref(self, field: str | None) -> FieldRef | None:
        return self._by_name.get(field) if field else None

"""The parts of the matcher the hunt relies on, as protocols (engine, rules, hits)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol


class RuleLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def rule(self) -> Any: ...


class HitLike(Protocol):
    @property
    def rule(self) -> RuleLike: ...
    @property
    def ref(self) -> Any: ...
    @property
    def timestamp(self) -> Any: ...


class CorrelationHitLike(Protocol):
    @property
    def rule(self) -> RuleLike: ...
    @property
    def group(self) -> Mapping[str, object]: ...
    @property
    def refs(self) -> Sequence[Any]: ...
    @property
    def first_seen(self) -> Any: ...
    @property
    def last_seen(self) -> Any: ...


class HuntEngine(Protocol):
    """The part of :class:`stormpack.matcher.Engine` the hunt uses."""

    def classify(self, record: Mapping[str, Any]) -> Any: ...
    def process(self, record: Mapping[str, Any], ref: Any, logsource: Any = None) -> Sequence[Any]: ...
    def finish(self) -> Sequence[Any]: ...


RefFactory = Callable[[str, int], Any]

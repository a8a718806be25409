"""What the matcher reports: references to input records and the hits found in them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from ..errors import TimestampError as TimestampError
from ..ruleset import LoadedRule


@dataclass(frozen=True, order=True, slots=True)
class EventRef:
    """Where a record came from: a source name (file path, fixture case) and its 0-based index."""

    source: str
    index: int


class Hit(NamedTuple):
    """A single-event rule matched one record. ``timestamp`` is the record's log-source time field."""

    rule: LoadedRule
    ref: EventRef
    timestamp: str | None

    def __repr__(self) -> str:
        return f"Hit({self.rule.stem!r}, {self.ref.source}#{self.ref.index}, {self.timestamp!r})"


@dataclass(frozen=True)
class CorrelationHit:
    """A correlation rule fired for one group in one window.

    ``group`` maps each group-by name (alias names as written in the rule) to the value of the
    first event of the window; ``refs`` are the window's events in time order; ``first_seen`` and
    ``last_seen`` are their normalised UTC timestamps (``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``).
    """

    rule: LoadedRule
    group: dict[str, object]
    refs: list[EventRef]
    first_seen: str
    last_seen: str
    metric: float = field(default=0)

    def __repr__(self) -> str:
        refs = ", ".join(f"{r.source}#{r.index}" for r in self.refs)
        return (f"CorrelationHit({self.rule.stem!r}, {self.group!r}, [{refs}], "
                f"{self.first_seen}..{self.last_seen}, metric={self.metric:g})")

"""The counts of a hunt (they always add up) and the rejections and warnings kept for its summary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import EventReadError
from ..readers import Rejected

MAX_LISTED = 1000  # rejected records / warnings kept for the summary (all are reported live)


@dataclass
class HuntStats:
    files: int = 0
    read: int = 0
    evaluated: int = 0
    unrecognised: int = 0
    rejected: int = 0
    matched: int = 0  # records with at least one single-event hit
    skipped: int = 0  # of the evaluated: decided by the prefilter without parsing (no rule can match)
    hits: int = 0
    correlation_hits: int = 0
    rejections: list[Rejected] = field(default_factory=list)
    unusable: list[EventReadError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    warning_count: int = 0
    unrecognised_by_source: dict[str, int] = field(default_factory=dict)
    unrecognised_why: dict[str, str] = field(default_factory=dict)  # file -> what its first one lacks
    converted: dict[str, int] = field(default_factory=dict)  # export shape -> rows converted back
    late: int = 0  # records evaluated, but left out of a correlation (beyond --max-disorder)
    late_samples: list[str] = field(default_factory=list)

    def warn(self, text: str, on_warning: Callable[[str], None] | None) -> None:
        """Count a warning, keep it for the summary (up to a bound), report it as it happens."""
        self.warning_count += 1
        if len(self.warnings) < MAX_LISTED:
            self.warnings.append(text)
        if on_warning is not None:
            on_warning(text)

    @property
    def adds_up(self) -> bool:
        return self.read == self.evaluated + self.unrecognised + self.rejected

    @property
    def complete(self) -> bool:
        """True when every input file was usable, every record could be read and none came too
        late for the correlation rules."""
        return not self.unusable and not self.rejected and not self.late

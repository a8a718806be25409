"""What both query-language syntax objects share: the query step type."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One query step that defines an alias: KQL `extend`/`mv-apply` or SPL `eval` (no leading pipe)."""

    key: str
    text: str

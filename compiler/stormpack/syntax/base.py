"""What both query-language syntax objects share: the query step type and the step shapes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One query step that defines an alias: KQL `extend`/`mv-apply` or SPL `eval` (no leading pipe)."""

    key: str
    text: str


def ip_steps(alias: str, define: Callable[[str, str], str], trimmed: str, unwrapped: str) -> tuple[Step, ...]:
    """The two steps that normalise address ``alias`` as taxonomy.normalise_ip does: white space
    trimmed, then brackets, a port and the IPv4-mapped prefix removed (see ip_normalisation)."""
    return Step(f"ip:{alias}:1", define(alias, trimmed)), Step(f"ip:{alias}:2", define(alias, unwrapped))

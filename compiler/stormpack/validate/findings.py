"""What a validation run reports: one :class:`Finding` per problem, pointing at a file and line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class Finding:
    """One problem. ``check`` is the id exceptions and SARIF use (``stormpack.filename``,
    ``attacktag``, ...); ``rule_id`` is the Sigma id of the rule concerned, when known."""

    check: str
    message: str
    path: str
    line: int | None = None
    severity: Severity = "error"
    rule_id: str | None = None
    field: str | None = None  # the detection field concerned, for exceptions scoped to one field

    def sort_key(self) -> tuple[str, int, str, str]:
        return (self.path, self.line or 0, self.check, self.message)

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.severity}: [{self.check}] {self.message}"


@dataclass
class Report:
    """Findings of a run; ``suppressed`` are findings an exception accepted (with its reason)."""

    findings: list[Finding] = field(default_factory=list)
    suppressed: list[tuple[Finding, str]] = field(default_factory=list)
    rules_checked: int = 0
    files_checked: int = 0
    base_rules: list[str] = field(default_factory=list)  # loaded for correlations, not validated

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def sorted(self) -> list[Finding]:
        return sorted(self.findings, key=Finding.sort_key)


def display_path(p: object) -> str:
    """A path as results show it: relative to the working directory when below it, POSIX form."""
    from pathlib import Path

    path = Path(str(p))
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()

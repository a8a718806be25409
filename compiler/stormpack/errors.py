"""One exception hierarchy for the whole project.

Every error a user can cause (bad rule, bad fixture, bad log line, unmapped field) is a
:class:`StormpackError` carrying the file, the line when known, and what is wrong, so the CLI
can print one clear line and exit non-zero instead of a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Location:
    """Where a problem is: a file and, when known, a 1-based line."""

    path: Path | str | None = None
    line: int | None = None

    def __str__(self) -> str:
        if self.path is None:
            return "<unknown>"
        return f"{self.path}:{self.line}" if self.line is not None else str(self.path)


class StormpackError(Exception):
    """Base class of every error stormpack reports to a user."""

    def __init__(self, message: str, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        if self.location is not None and self.location.path is not None:
            return f"{self.location}: {self.message}"
        return self.message


class RuleLoadError(StormpackError):
    """A rule file cannot be read, is not YAML, or is not valid Sigma."""


class ValuesError(StormpackError):
    """A values (placeholder) file is malformed, or a placeholder has no value."""


class TaxonomyError(StormpackError):
    """A rule uses a field or log source the taxonomy does not define."""


class CompileError(StormpackError):
    """A rule cannot be expressed exactly for a target."""

    def __init__(
        self,
        message: str,
        location: Location | None = None,
        *,
        rule: str | None = None,
        target: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, location)
        self.rule = rule
        self.target = target
        self.field = field

    def __str__(self) -> str:
        parts = []
        if self.rule:
            parts.append(f"rule '{self.rule}'")
        if self.target:
            parts.append(f"target {self.target}")
        if self.field:
            parts.append(f"field '{self.field}'")
        prefix = ", ".join(parts)
        body = f"{prefix}: {self.message}" if prefix else self.message
        if self.location is not None and self.location.path is not None:
            return f"{self.location}: {body}"
        return body


class UnmappedLogsourceError(CompileError):
    """No table / sourcetype of the target holds this log source."""


class UnmappedFieldError(CompileError):
    """The target has no column for this taxonomy field (or the taxonomy lacks it)."""


class NotCollectedError(CompileError):
    """The target's connector does not collect the records a rule needs (data/collection.yml)."""


class MatcherError(StormpackError):
    """A rule cannot be compiled into matcher predicates."""


class FixtureError(StormpackError):
    """A fixture file is malformed or refers to something that does not exist."""


class EventReadError(StormpackError):
    """An input log record cannot be read (bad JSON line, bad CSV row, truncated gzip...)."""


class ArtifactError(StormpackError):
    """A deployable artifact violates a product limit or schema."""


class BaselineError(StormpackError):
    """`stormpack baseline` cannot learn or write a tenant's lists (bad learner data, bad output)."""


class UnspellableError(StormpackError):
    """A name or value a query language has no way to write (stormpack.syntax), e.g. an SPL eval
    field name holding a single quote: Splunk documents no escape for it."""

"""One exception hierarchy for the whole project: every exception class stormpack defines is here.

Every error a user can cause (bad rule, bad fixture, bad log line, unmapped field) is a
:class:`StormpackError` carrying the file, the line when known, and what is wrong, so the CLI
can print one clear line and exit non-zero instead of a traceback. The parts are fields
(``location``, ``rule``, ``target``, ``field``, ``reason``): read them, never split ``str(exc)``.
Anything else escaping a command is a stormpack bug: the CLI prints its traceback and asks for a
report (:mod:`stormpack.cli`). ``tests/test_errors.py`` walks the package and fails on an
exception class outside this hierarchy.

Modules that used to define some of these classes re-export them under the same name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sigma.exceptions import SigmaFeatureNotSupportedByBackendError

if TYPE_CHECKING:
    from .matcher.results import EventRef, Hit


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
    """Base class of every error stormpack reports to a user.

    ``message`` (also ``reason``) says what is wrong, without the parts held in fields: the file
    and line (``location``), and when known the rule, the target and the field. ``str()`` puts them
    together: ``path:line: rule 'T', target t, field 'f': reason``.
    """

    def __init__(
        self,
        message: str,
        location: Location | None = None,
        *,
        rule: str | None = None,
        target: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.rule = rule
        self.target = target
        self.field = field

    @property
    def reason(self) -> str:
        """What is wrong, without file, line, rule, target or field."""
        return self.message

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


class RuleLoadError(StormpackError):
    """A rule file cannot be read, is not YAML, or is not valid Sigma."""


class ValuesError(StormpackError):
    """A values (placeholder) file is malformed, or a placeholder has no value."""


class TaxonomyError(StormpackError):
    """A rule uses a field or log source the taxonomy does not define."""


class CompileError(StormpackError):
    """A rule cannot be expressed exactly for a target (``rule``, ``target``, ``field`` say which)."""


class UnmappedLogsourceError(CompileError):
    """No table / sourcetype of the target holds this log source."""


class UnmappedFieldError(CompileError):
    """The target has no column for this taxonomy field (or the taxonomy lacks it).

    ``unsupported``: the target data's own reason (``{unsupported: reason}``) when that is why."""

    def __init__(
        self, message: str, location: Location | None = None, *, unsupported: str | None = None,
        **parts: str | None,
    ) -> None:
        super().__init__(message, location, **parts)  # rule, target, field
        self.unsupported = unsupported


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


class YamlError(StormpackError):
    """Malformed YAML input."""


class CoverageError(StormpackError):
    """The campaign technique list is malformed or names a technique ATT&CK does not have."""


class NewRuleError(StormpackError):
    """``stormpack new`` cannot write the rule (bad option, file already there...)."""


class FormatError(StormpackError):
    """A rule file cannot be formatted (not YAML, not one mapping, or formatting would change it)."""


class ExceptionsFileError(StormpackError):
    """The exceptions file is malformed."""


class GitError(StormpackError):
    """git is missing, the directory is not a repository, or the ref does not exist."""


# ---------------------------------------------------------------------------- compiler


class Unexpressible(StormpackError, SigmaFeatureNotSupportedByBackendError):
    """A construct this target cannot express exactly (turned into a CompileError by the engine).

    Also a pySigma backend error, so that pySigma's own handling of backend errors applies to it."""


class Uninterpretable(StormpackError):
    """A targets-data expression outside the grammar :mod:`stormpack.shapes.kqlexpr` interprets."""


# ---------------------------------------------------------------------------- readers, matcher


class RecordShapeError(EventReadError):
    """A parsed JSON value is not a usable record."""


class BrokenStreamError(EventReadError):
    """A JSON document stream cannot be read further (bad gzip, read error); the message says why."""


class TimestampError(EventReadError):
    """A record matched a correlation's base rule but its time field is missing or not ISO-8601.

    ``hits`` holds the single-event hits already found in that record, so a caller that reports the
    record and goes on loses nothing.
    """

    def __init__(self, message: str, location: Location | None, ref: EventRef, hits: list[Hit]) -> None:
        super().__init__(message, location)
        self.ref = ref
        self.hits = hits


# ---------------------------------------------------------------------------- query checks


class QueryCheckError(StormpackError):
    """Base class of every query-checker error."""


class CheckerUnavailableError(QueryCheckError):
    """node, tools/kqlcheck/kqlcheck.js or its npm package is missing: run ``make setup``."""


class CheckerFailedError(QueryCheckError):
    """The KQL checker process failed or answered something that is not its documented output."""


class SchemaExportError(QueryCheckError):
    """The Kusto backend's bundled table data holds a column name or type we cannot map."""


class SplSyntaxError(QueryCheckError):
    """An SPL string cannot be decoded or tokenised (unterminated quote, bad escape...)."""


# ---------------------------------------------------------------------------- executors


class UnsupportedConstruct(StormpackError):
    """The query uses an operator, function or argument form the executor does not implement."""


class ExecutorUnavailable(StormpackError):
    """No executor is installed for a target."""


class KqlSyntaxError(StormpackError):
    """Kusto.Language reports a syntax error in a query the executor was asked to run."""


class ParserUnavailable(StormpackError):
    """node or the Kusto.Language package is missing (run `make setup`)."""


class ConfError(StormpackError):
    """A .conf file of the app cannot be read."""


class TimelineError(StormpackError):
    """A built artifact the simulation cannot schedule."""


class UnspellableError(StormpackError):
    """A name or value a query language has no way to write (stormpack.syntax), e.g. an SPL eval
    field name holding a single quote: Splunk documents no escape for it."""

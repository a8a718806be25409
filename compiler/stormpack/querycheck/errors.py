"""Errors of the offline query checkers (KQL parser bridge, schema export, SPL lint)."""

from __future__ import annotations

from ..errors import StormpackError


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

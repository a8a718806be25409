"""The contract between the fixture harness and a query executor.

A harness builds a :class:`Dataset` (target-shaped records, a fixed clock, the tenant lists as
the built artifacts ship them) and hands it with the exact compiled query text to an
:class:`Executor`. The executor returns the rows the query outputs; a non-empty result means the
query fires. A construct the executor does not implement raises :class:`UnsupportedConstruct`
naming it: an executor never skips what it does not understand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ..errors import UnsupportedConstruct as UnsupportedConstruct

Row = dict[str, Any]


@dataclass(frozen=True)
class Dataset:
    """What a query runs over.

    ``tables``: KQL - table name -> rows (``OfficeActivity``, ``CloudAppEvents`` ...);
    SPL - sourcetype -> events (each event carries ``_raw``, ``_time`` (epoch seconds),
    ``index``, ``sourcetype`` and the fields the Splunk add-on extracts at search time).
    ``now``: the fixed clock for ``ago()``/``now()``/``-24h@h`` (timezone-aware UTC).
    ``watchlists``: Sentinel watchlist alias -> rows (``SearchKey`` plus the watchlist columns).
    ``lookups``: Splunk lookup (definition name and CSV file name) -> rows.
    ``macros``: Splunk macro name as macros.conf spells the stanza (``name`` or ``name(2)``) ->
    definition (arguments ``$x$`` substituted by the executor).
    ``functions``: KQL stored functions name -> body, when a query calls one.
    ``schemas``: KQL - table name -> {column: Kusto type}; rows are read as the table types them
    (a string column is never null, a missing one is ""); a row column the schema lacks is an
    error. A table without a schema is read as given.
    """

    tables: Mapping[str, Sequence[Row]]
    now: datetime
    watchlists: Mapping[str, Sequence[Row]] = field(default_factory=dict)
    lookups: Mapping[str, Sequence[Row]] = field(default_factory=dict)
    macros: Mapping[str, str] = field(default_factory=dict)
    functions: Mapping[str, str] = field(default_factory=dict)
    schemas: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


class Executor(Protocol):
    """Runs one query text over a dataset and returns its output rows, in output order."""

    target: str

    def run(self, query: str, data: Dataset) -> list[Row]: ...

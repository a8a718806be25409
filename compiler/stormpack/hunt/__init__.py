"""``stormpack hunt``: stream exported logs through the matcher and report every hit.

The loop is independent of the command line: :func:`run_hunt` takes an engine (anything with
the matcher's ``classify`` / ``process`` / ``finish`` API), the input files and a sink for the
hits, and returns :class:`HuntStats` whose counts always add up::

    read == evaluated + unrecognised + rejected

Every rejected record and every unusable file is reported through the callbacks as it happens
(file, line, what is wrong) and kept (up to a bound) for the summary.

The package holds one job per module: :mod:`.loop` (the loop), :mod:`.contract` (the JSON Lines
output contract), :mod:`.sinks` (the JSON Lines writer and the output file), :mod:`.stats`
(counts), :mod:`.progress` (the terminal progress line), :mod:`.table` (``--format table``) and
:mod:`.protocols` (what the hunt needs of the matcher).
"""

from __future__ import annotations

from .contract import correlation_hit_object, dumps, level_of, rule_meta, single_hit_object
from .loop import PREFILTER_MIN_BYTES, SAMPLE_LINES, run_hunt
from .progress import Progress
from .protocols import CorrelationHitLike, HitLike, HuntEngine, RefFactory, RuleLike
from .sinks import HitSink, JsonlSink, atomic_output, stdout_binary
from .stats import MAX_LISTED, HuntStats
from .table import (
    TABLE_HEADER,
    TableSink,
    _cell,
    _first,
    _printable,
    field_value,
    role_columns,
    rule_fields,
    utc_sort_key,
)

__all__ = [
    "MAX_LISTED", "PREFILTER_MIN_BYTES", "SAMPLE_LINES", "TABLE_HEADER", "CorrelationHitLike",
    "HitLike", "HitSink", "HuntEngine", "HuntStats", "JsonlSink", "Progress", "RefFactory",
    "RuleLike", "TableSink", "_cell", "_first", "_printable", "atomic_output",
    "correlation_hit_object", "dumps", "field_value", "level_of", "role_columns", "rule_fields",
    "rule_meta", "run_hunt", "single_hit_object", "stdout_binary", "utc_sort_key",
]

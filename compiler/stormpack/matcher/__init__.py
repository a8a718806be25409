"""The local Sigma matcher: rules compiled once into Python predicates over JSON records.

Public API (hunt and replay code against exactly this)::

    engine = Engine.build(ruleset, values)        # MatcherError names the rule file on failure
    spec = engine.classify(record)                # LogsourceSpec | None
    hits = engine.process(record, EventRef(source, index))   # list[Hit]
    corr = engine.finish()                        # list[CorrelationHit]

Semantics: docs/matcher.md.
"""

from .correlation import parse_timestamp
from .engine import CompiledRule, Engine
from .results import CorrelationHit, EventRef, Hit, TimestampError

__all__ = [
    "CompiledRule",
    "CorrelationHit",
    "Engine",
    "EventRef",
    "Hit",
    "TimestampError",
    "parse_timestamp",
]

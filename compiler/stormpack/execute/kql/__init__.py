"""KQL executor: the exact query text, parsed by Microsoft's Kusto.Language
(tools/kqlcheck/kqlsyntax.js), evaluated over a :class:`~stormpack.execute.base.Dataset`.

:class:`KqlExecutor` meets the :class:`~stormpack.execute.base.Executor` protocol. What it
implements, and how faithfully, is written down in docs/query-checks.md.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..base import Dataset, Row
from .syntax import KqlSyntaxError, ParserUnavailable, parse, parse_many
from .tabular import Evaluator


class KqlExecutor:
    """Runs KQL (Sentinel / Defender XDR) queries."""

    def __init__(self, target: str = "sentinel") -> None:
        self.target = target

    @staticmethod
    def prepare(queries: Iterable[str]) -> None:
        """Parse a batch of queries in one parser process (optional; `run` parses on demand)."""
        parse_many(queries)

    def run(self, query: str, data: Dataset) -> list[Row]:
        return Evaluator(data).run(parse(query))


__all__ = ["KqlExecutor", "KqlSyntaxError", "ParserUnavailable"]

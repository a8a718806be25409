"""Microsoft's Kusto.Language syntax tree of a query, as JSON (tools/kqlcheck/kqlsyntax.js).

One ``node`` process parses a whole batch; trees are cached by query text for the life of the
Python process, so a query compiled once and run over many fixture cases is parsed once.
A query with a syntax error is rejected (:class:`~stormpack.execute.base.UnsupportedConstruct`
would hide it): :class:`KqlSyntaxError` names the parser's message.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable
from typing import Any

from ...errors import StormpackError
from ...querycheck.kql import KQLCHECK_DIR

SCRIPT = KQLCHECK_DIR / "kqlsyntax.js"
Node = dict[str, Any]

_CACHE: dict[str, Node] = {}


class KqlSyntaxError(StormpackError):
    """Kusto.Language reports a syntax error in a query the executor was asked to run."""


class ParserUnavailable(StormpackError):
    """node or the Kusto.Language package is missing (run `make setup`)."""


def parse_many(queries: Iterable[str]) -> None:
    """Parse every query not cached yet, in one node process."""
    todo = list(dict.fromkeys(q for q in queries if q not in _CACHE))
    if not todo:
        return
    node = shutil.which("node")
    if node is None:
        raise ParserUnavailable("node is not on PATH: the KQL executor needs Kusto.Language (make setup)")
    proc = subprocess.run([node, str(SCRIPT)], input=json.dumps({"queries": todo}), capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise ParserUnavailable(f"{SCRIPT.name} failed ({proc.returncode}): {proc.stderr.strip()}")
    results = json.loads(proc.stdout)["results"]
    for q, res in zip(todo, results, strict=True):
        if res["errors"]:
            e = res["errors"][0]
            raise KqlSyntaxError(f"Kusto.Language: {e['message']} at offset {e['start']} in: {q[:300]}")
        _CACHE[q] = res["tree"]


def parse(query: str) -> Node:
    """The syntax tree of one query (QueryBlock)."""
    parse_many([query])
    return _CACHE[query]

"""Microsoft's Kusto.Language syntax tree of a query, as JSON (tools/kqlcheck/kqlsyntax.js).

One ``node kqlsyntax.js --serve`` process (started on first use, ended when Python exits)
parses every batch; trees are cached by query text for the life of the Python process, so a
query compiled once and run over many fixture cases is parsed once.
A query with a syntax error is rejected (:class:`~stormpack.execute.base.UnsupportedConstruct`
would hide it): :class:`KqlSyntaxError` names the parser's message.
"""

from __future__ import annotations

import atexit
import json
import shutil
import subprocess
from collections.abc import Iterable
from typing import Any

from ...errors import KqlSyntaxError as KqlSyntaxError
from ...errors import ParserUnavailable as ParserUnavailable
from ...querycheck.kql import KQLCHECK_DIR

SCRIPT = KQLCHECK_DIR / "kqlsyntax.js"
Node = dict[str, Any]

_CACHE: dict[str, Node] = {}
_SERVER: list[subprocess.Popen[str]] = []


def parse_many(queries: Iterable[str]) -> None:
    """Parse every query not cached yet, in one node process."""
    todo = list(dict.fromkeys(q for q in queries if q not in _CACHE))
    if not todo:
        return
    proc = _server()
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps({"queries": todo}) + "\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    if not line:
        _SERVER.clear()
        err = proc.stderr.read() if proc.stderr is not None else ""
        raise ParserUnavailable(f"{SCRIPT.name} ended ({proc.wait()}): {err.strip()}")
    results = json.loads(line)["results"]
    for q, res in zip(todo, results, strict=True):
        if res["errors"]:
            e = res["errors"][0]
            raise KqlSyntaxError(f"Kusto.Language: {e['message']} at offset {e['start']} in: {q[:300]}")
        _CACHE[q] = res["tree"]


def _server() -> subprocess.Popen[str]:
    if _SERVER and _SERVER[0].poll() is None:
        return _SERVER[0]
    _SERVER.clear()
    node = shutil.which("node")
    if node is None:
        raise ParserUnavailable("node is not on PATH: the KQL executor needs Kusto.Language (make setup)")
    if not (KQLCHECK_DIR / "node_modules").is_dir():
        raise ParserUnavailable(f"{KQLCHECK_DIR}/node_modules is missing: run make setup")
    proc = subprocess.Popen([node, str(SCRIPT), "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8")
    _SERVER.append(proc)
    atexit.register(_stop, proc)
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def parse(query: str) -> Node:
    """The syntax tree of one query (QueryBlock)."""
    parse_many([query])
    return _CACHE[query]

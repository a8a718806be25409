"""Check KQL with Microsoft's Kusto.Language parser and describe each query's structure.

One ``node tools/kqlcheck/kqlcheck.js`` process checks a whole batch: call :func:`check_kql` with
every query at once. The parser is npm ``@kusto/language-service-next`` (pinned in
``tools/kqlcheck/package-lock.json``, installed by ``make setup``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import CheckerFailedError, CheckerUnavailableError
from .schema import KqlSchema, Target, kql_schema

_T = TypeVar("_T")

REPO_ROOT = Path(__file__).resolve().parents[3]
KQLCHECK_DIR = REPO_ROOT / "tools" / "kqlcheck"
KQLCHECK_SCRIPT = KQLCHECK_DIR / "kqlcheck.js"
KUSTO_PACKAGE = KQLCHECK_DIR / "node_modules" / "@kusto" / "language-service-next"
DEFAULT_TIMEOUT_S = 300.0


# --------------------------------------------------------------------------------------------
# result types


@dataclass(frozen=True)
class Diagnostic:
    """One Kusto.Language diagnostic; ``start``/``length`` are character offsets in the query."""

    severity: str  # "Error", "Warning", ...
    code: str  # e.g. "KS142"
    message: str
    start: int
    length: int

    def __str__(self) -> str:
        return f"{self.severity} {self.code} @{self.start}+{self.length}: {self.message}"


@dataclass(frozen=True)
class Operand:
    """The right-hand side of a comparison. ``value`` is the parser's decoded literal value (for
    a string literal: the unescaped text) or None when the operand is not a literal."""

    literal: bool
    type: str | None  # Kusto type name of the expression ("string", "long", ...)
    text: str  # as written in the query
    value: str | None


@dataclass(frozen=True)
class Comparison:
    """A leaf of a ``where`` predicate: ``left op right...``.

    ``kind`` is the Kusto.Language SyntaxKind (``EqualExpression``, ``InCsExpression``,
    ``FunctionCallExpression``...). For a function call (``ipv4_is_in_range(C, "...")``) ``op`` is
    the function name, ``left`` its first argument and ``right`` the other arguments."""

    kind: str
    op: str | None
    left: str
    left_columns: tuple[str, ...]
    right: tuple[Operand, ...]
    text: str


@dataclass(frozen=True)
class LogicLeaf:
    index: int  # into Filter.comparisons


@dataclass(frozen=True)
class LogicNot:
    operand: Logic


@dataclass(frozen=True)
class LogicBool:
    op: str  # "and" | "or"
    operands: tuple[Logic, ...]


Logic = LogicLeaf | LogicNot | LogicBool


@dataclass(frozen=True)
class Filter:
    """One ``where`` operator anywhere in the query (``nested``: inside another operator, e.g.
    ``mv-apply``, rather than in a statement's top-level pipeline)."""

    statement: int
    nested: bool
    predicate: str
    logic: Logic | None
    comparisons: tuple[Comparison, ...]


@dataclass(frozen=True)
class Operator:
    name: str  # first keyword: "where", "summarize", "mv-apply", ...
    kind: str  # SyntaxKind: FilterOperator, SummarizeOperator, ...
    text: str


@dataclass(frozen=True)
class Statement:
    kind: str  # ExpressionStatement, LetStatement, ...
    text: str
    name: str | None  # the declared name of a let statement
    source_kind: str | None  # SyntaxKind of the pipeline's source (NameReference for a table)
    source: str | None  # text of the pipeline's source, e.g. "OfficeActivity"
    operators: tuple[Operator, ...]


@dataclass(frozen=True)
class StringLiteral:
    text: str
    value: str
    start: int


@dataclass(frozen=True)
class KqlReport:
    """Everything the parser says about one query."""

    query: str
    diagnostics: tuple[Diagnostic, ...]
    statements: tuple[Statement, ...]
    filters: tuple[Filter, ...]
    string_literals: tuple[StringLiteral, ...]
    tables: tuple[str, ...]

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "Error")

    @property
    def ok(self) -> bool:
        return not self.errors


# --------------------------------------------------------------------------------------------
# decoding the checker's JSON (strictly: anything unexpected is a CheckerFailedError)


def _get(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise CheckerFailedError(f"kqlcheck output: {where} has no '{key}'")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CheckerFailedError(f"kqlcheck output: {where}.{key} has an unexpected type")
    return value


def _records(obj: Any, key: str, where: str, make: Callable[..., _T], **kinds: type) -> tuple[_T, ...]:
    """The list ``key`` of ``obj``: each item an object with the keys of ``kinds`` (values of those
    types, read in that order), made into ``make(**values)``."""
    at = f"{where}.{key}"
    return tuple(make(**{k: _get(item, k, kind, at) for k, kind in kinds.items()})
                 for item in _get(obj, key, list, where))


def _opt_str(obj: Any, key: str, where: str) -> str | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is not None and not isinstance(value, str):
        raise CheckerFailedError(f"kqlcheck output: {where}.{key} has an unexpected type")
    return value


def _operand(obj: Any, where: str) -> Operand:
    return Operand(
        literal=_get(obj, "literal", bool, where),
        type=_opt_str(obj, "type", where),
        text=_get(obj, "text", str, where),
        value=_opt_str(obj, "value", where),
    )


def _comparison(obj: Any, where: str) -> Comparison:
    return Comparison(
        kind=_get(obj, "kind", str, where),
        op=_opt_str(obj, "op", where),
        left=_get(obj, "left", str, where),
        left_columns=tuple(str(c) for c in _get(obj, "left_columns", list, where)),
        right=tuple(_operand(o, f"{where}.right") for o in _get(obj, "right", list, where)),
        text=_get(obj, "text", str, where),
    )


def _logic(obj: Any, count: int, where: str) -> Logic:
    if isinstance(obj, dict) and len(obj) == 1:
        ((key, value),) = obj.items()
        if key == "cmp" and isinstance(value, int) and 0 <= value < count:
            return LogicLeaf(value)
        if key == "not":
            return LogicNot(_logic(value, count, where))
        if key in ("and", "or") and isinstance(value, list) and value:
            return LogicBool(key, tuple(_logic(v, count, where) for v in value))
    raise CheckerFailedError(f"kqlcheck output: {where}.logic is malformed")


def _filter(obj: Any, where: str) -> Filter:
    comparisons = tuple(
        _comparison(c, f"{where}.comparisons") for c in _get(obj, "comparisons", list, where)
    )
    raw_logic = obj.get("logic") if isinstance(obj, dict) else None
    return Filter(
        statement=_get(obj, "statement", int, where),
        nested=_get(obj, "nested", bool, where),
        predicate=_get(obj, "predicate", str, where),
        logic=None if raw_logic is None else _logic(raw_logic, len(comparisons), where),
        comparisons=comparisons,
    )


def _statement(obj: Any, where: str) -> Statement:
    source = obj.get("source") if isinstance(obj, dict) else None
    return Statement(
        kind=_get(obj, "kind", str, where),
        text=_get(obj, "text", str, where),
        name=_opt_str(obj, "name", where),
        source_kind=None if source is None else _get(source, "kind", str, f"{where}.source"),
        source=None if source is None else _get(source, "text", str, f"{where}.source"),
        operators=_records(obj, "operators", where, Operator, name=str, kind=str, text=str),
    )


def _report(query: str, obj: Any, index: int) -> KqlReport:
    where = f"results[{index}]"
    return KqlReport(
        query=query,
        diagnostics=_records(obj, "diagnostics", where, Diagnostic, severity=str, code=str, message=str,
                             start=int, length=int),
        statements=tuple(_statement(s, f"{where}.statements") for s in _get(obj, "statements", list, where)),
        filters=tuple(_filter(f, f"{where}.filters") for f in _get(obj, "filters", list, where)),
        string_literals=_records(obj, "string_literals", where, StringLiteral,
                                 text=str, value=str, start=int),
        tables=tuple(str(t) for t in _get(obj, "tables", list, where)),
    )


# --------------------------------------------------------------------------------------------
# running the checker


def node_executable() -> str:
    """The node binary (``$STORMPACK_NODE`` or ``node`` on PATH)."""
    explicit = os.environ.get("STORMPACK_NODE")
    node = explicit or shutil.which("node")
    if not node or not Path(node).exists():
        raise CheckerUnavailableError(
            "node (Node.js 20) is not installed or not on PATH; the KQL checker needs it "
            "(install Node.js, then run make setup)"
        )
    return node


def ensure_checker() -> tuple[str, Path]:
    """(node, kqlcheck.js) or a :class:`CheckerUnavailableError` saying how to fix it."""
    node = node_executable()
    if not KQLCHECK_SCRIPT.is_file():
        raise CheckerUnavailableError(f"{KQLCHECK_SCRIPT} is missing (is this a full checkout of stormpack?)")
    if not (KUSTO_PACKAGE / "Kusto.Language.Bridge.js").is_file():
        raise CheckerUnavailableError(
            f"{KUSTO_PACKAGE} is missing: run make setup (npm ci in tools/kqlcheck)"
        )
    return node, KQLCHECK_SCRIPT


def run_checker(request: Mapping[str, object], timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """Send one request to kqlcheck.js and return its decoded JSON answer."""
    node, script = ensure_checker()
    payload = json.dumps(request, ensure_ascii=True)
    try:
        proc = subprocess.run(
            [node, str(script)],
            input=payload.encode("ascii"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CheckerFailedError(f"{script}: no answer within {timeout:.0f} s") from exc
    except OSError as exc:
        raise CheckerUnavailableError(f"cannot run {node}: {exc}") from exc
    if proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        raise CheckerFailedError(f"{script} exited with {proc.returncode}: {stderr or '(no message)'}")
    try:
        answer = json.loads(proc.stdout.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckerFailedError(f"{script} answered something that is not JSON: {exc}") from exc
    if not isinstance(answer, dict):
        raise CheckerFailedError(f"{script} answered a JSON value that is not an object")
    return answer


def check_kql(
    queries: Sequence[str],
    *,
    target: Target = "sentinel",
    schema: KqlSchema | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> list[KqlReport]:
    """Parse and analyse every query against ``schema`` (default: the exported schema of
    ``target``, see :func:`stormpack.querycheck.schema.kql_schema`), in one node process.

    Returns one :class:`KqlReport` per query, in order. A query with errors is reported, not
    raised; only a broken or missing checker raises (:class:`CheckerUnavailableError`,
    :class:`CheckerFailedError`)."""
    if isinstance(queries, str):
        raise TypeError("check_kql takes a sequence of queries, not one string")
    if not queries:
        return []
    used = schema if schema is not None else kql_schema(target)
    request: dict[str, object] = dict(used.to_request())
    request["queries"] = list(queries)
    answer = run_checker(request, timeout)
    results = _get(answer, "results", list, "answer")
    if len(results) != len(queries):
        raise CheckerFailedError(f"kqlcheck answered {len(results)} results for {len(queries)} queries")
    return [_report(q, r, i) for i, (q, r) in enumerate(zip(queries, results, strict=True))]


def parser_version() -> str:
    """The version of the installed ``@kusto/language-service-next`` package."""
    ensure_checker()
    data = json.loads((KUSTO_PACKAGE / "package.json").read_text(encoding="utf-8"))
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, str):
        raise CheckerFailedError(f"{KUSTO_PACKAGE / 'package.json'} has no version")
    return version

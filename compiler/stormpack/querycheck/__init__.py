"""Offline query checkers.

* :func:`check_kql` parses KQL with Microsoft's Kusto.Language parser (npm
  ``@kusto/language-service-next``, driven by ``tools/kqlcheck/kqlcheck.js``) against the real
  table schemas exported from the Kusto backend (:mod:`.schema`), and returns the diagnostics plus
  a structural summary of each query (pipeline operators, ``where`` comparisons, decoded literals).
* :func:`lint_spl` checks the structure of an SPL search; :func:`decode_spl_quoted` and
  :func:`split_search_terms` decode SPL strings and search terms the way Splunk documents it.

See ``docs/query-checks.md``.
"""

from __future__ import annotations

from .errors import (
    CheckerFailedError,
    CheckerUnavailableError,
    QueryCheckError,
    SchemaExportError,
    SplSyntaxError,
)
from .kql import (
    Comparison,
    Diagnostic,
    Filter,
    KqlReport,
    Logic,
    LogicBool,
    LogicLeaf,
    LogicNot,
    Operand,
    Operator,
    Statement,
    StringLiteral,
    check_kql,
)
from .schema import KqlFunction, KqlSchema, kql_schema
from .spl import (
    SearchTerm,
    SearchValue,
    SplCommand,
    decode_spl_quoted,
    encode_spl_quoted,
    lint_spl,
    split_commands,
    split_search_terms,
)

__all__ = [
    "CheckerFailedError",
    "CheckerUnavailableError",
    "Comparison",
    "Diagnostic",
    "Filter",
    "KqlFunction",
    "KqlReport",
    "KqlSchema",
    "Logic",
    "LogicBool",
    "LogicLeaf",
    "LogicNot",
    "Operand",
    "Operator",
    "QueryCheckError",
    "SchemaExportError",
    "SearchTerm",
    "SearchValue",
    "SplCommand",
    "SplSyntaxError",
    "Statement",
    "StringLiteral",
    "check_kql",
    "decode_spl_quoted",
    "encode_spl_quoted",
    "kql_schema",
    "lint_spl",
    "split_commands",
    "split_search_terms",
]

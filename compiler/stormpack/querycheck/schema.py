"""Table schemas for the KQL checker, exported from the Kusto backend's own bundled data.

Source of truth (never hand-typed): ``sigma.pipelines.azuremonitor.tables.AZURE_MONITOR_TABLES``
(Log Analytics / Microsoft Sentinel tables) and ``sigma.pipelines.microsoftxdr.tables.
MICROSOFT_XDR_TABLES`` (Defender XDR advanced hunting), both shipped by
pysigma-backend-kusto 1.0.1 and generated from Microsoft's documentation.

What this module adds on top of that data, all documented in ``docs/query-checks.md``:

* the backends' type names (``String``, ``Double``, ``boolean``, ``BigInt``...) mapped to Kusto
  scalar types (:data:`TYPE_MAP`); an unknown type is an error, never a silent ``string``;
* column names cleaned of documentation residue the generator scraped along (a leading space,
  a trailing ``` `* ``` or ``` ` [*](#mdi-only) ``` footnote marker);
* ``EntraIdSignInEvents`` (defender): Microsoft renamed ``AADSignInEventsBeta`` to
  ``EntraIdSignInEvents`` in December 2025; the backend's data predates the rename, so the new
  table gets exactly the columns of ``AADSignInEventsBeta`` (which is kept too);
* ``_GetWatchlist(alias)`` (sentinel): the workspace function that reads a Sentinel watchlist,
  declared as returning a table with ``SearchKey:string``;
* ``adx``: not a product schema but the pack's own tables for raw exports
  (``data/adx_tables.yml``, the same file ``build/adx/tables.kql`` creates them from).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

from ..compiler.registry import targets_in
from .errors import SchemaExportError

Target = str  # a KQL target (one of TARGETS)
#: every target whose queries are KQL (the target registry)
TARGETS: tuple[Target, ...] = targets_in("kql")

# data_type as spelled in the backend's tables.py -> Kusto scalar type.
TYPE_MAP: Mapping[str, str] = {
    "string": "string",
    "String": "string",
    "datetime": "datetime",
    "DateTime": "datetime",
    "real": "real",
    "Double": "real",
    "int": "int",
    "long": "long",
    "BigInt": "long",
    "bool": "bool",
    "Bool": "bool",
    "boolean": "bool",
    "dynamic": "dynamic",
    "Guid": "guid",
}

RENAMED_TABLES: Mapping[str, str] = {
    # new name -> table of the backend data whose columns it has (Microsoft rename, Dec 2025)
    "EntraIdSignInEvents": "AADSignInEventsBeta",
}

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Columns = Mapping[str, str]


@dataclass(frozen=True)
class KqlFunction:
    """A stored (workspace) function the checker should know, e.g. ``_GetWatchlist``."""

    name: str
    parameters: str  # Kusto parameter list, e.g. "(alias:string)"
    body: str  # Kusto function body, e.g. "{ datatable(SearchKey:string)[] }"
    description: str = ""


@dataclass(frozen=True)
class KqlSchema:
    """Tables (name -> column -> Kusto type) and functions one KQL target can query."""

    name: str
    tables: Mapping[str, Columns]
    functions: tuple[KqlFunction, ...] = field(default=())

    def to_request(self) -> dict[str, object]:
        """The ``schema`` / ``functions`` part of a kqlcheck.js request."""
        return {
            "schema": {t: dict(cols) for t, cols in self.tables.items()},
            "functions": {
                f.name: {"parameters": f.parameters, "body": f.body, "description": f.description}
                for f in self.functions
            },
        }


WATCHLIST_FUNCTION = KqlFunction(
    name="_GetWatchlist",
    parameters="(alias:string)",
    body="{ datatable(SearchKey:string)[] }",
    description="Microsoft Sentinel: the items of the watchlist named alias (SearchKey: its search key)",
)


def clean_column_name(table: str, raw: str) -> str:
    """The real column name behind a backend column key (drops scraped footnote markers)."""
    name = raw.strip().split("`", 1)[0].strip()
    if not _IDENTIFIER.fullmatch(name):
        raise SchemaExportError(f"table '{table}': column {raw!r} is not a Kusto identifier after cleaning")
    return name


BackendTables = Mapping[str, Mapping[str, Mapping[str, str]]]


def convert_tables(source: str, tables: BackendTables) -> dict[str, dict[str, str]]:
    """Map one backend table dict ``{table: {column: {"data_type": ...}}}`` to ``{table: {column: type}}``."""
    out: dict[str, dict[str, str]] = {}
    for table, columns in tables.items():
        if not _IDENTIFIER.fullmatch(table):
            raise SchemaExportError(f"{source}: table name {table!r} is not a Kusto identifier")
        converted: dict[str, str] = {}
        for raw_name, spec in columns.items():
            name = clean_column_name(table, raw_name)
            data_type = spec.get("data_type")
            if data_type is None or data_type not in TYPE_MAP:
                raise SchemaExportError(
                    f"{source}: column '{table}.{raw_name}' has data_type {data_type!r}, "
                    f"which has no Kusto type in TYPE_MAP"
                )
            kusto_type = TYPE_MAP[data_type]
            if name in converted and converted[name] != kusto_type:
                raise SchemaExportError(
                    f"{source}: table '{table}' lists column '{name}' twice with types "
                    f"{converted[name]} and {kusto_type}"
                )
            converted[name] = kusto_type
        out[table] = converted
    return out


def _backend_tables(target: Target) -> tuple[str, BackendTables]:
    from ..compiler.registry import target_data
    from ..compiler.schema import raw_tables

    return raw_tables(str(target_data(target)["schema"]))


@cache
def kql_schema(target: Target) -> KqlSchema:
    """The schema of every table (and workspace function) a ``sentinel``, ``defender`` or ``adx``
    query can use."""
    if target not in TARGETS:
        raise SchemaExportError(f"unknown KQL target {target!r}; expected one of {', '.join(TARGETS)}")
    source, backend = _backend_tables(target)
    tables = convert_tables(source, backend)
    functions: tuple[KqlFunction, ...] = ()
    if target == "defender":
        for new, old in RENAMED_TABLES.items():
            if old not in tables:
                raise SchemaExportError(f"{source}: table '{old}' (source of '{new}') is missing")
            tables.setdefault(new, dict(tables[old]))
    elif target == "sentinel":
        functions = (WATCHLIST_FUNCTION,)
    return KqlSchema(name=target, tables=tables, functions=functions)


def schema_json(target: Target) -> str:
    """The exported schema as JSON text: ``{"schema": {...}, "functions": {...}}``."""
    return json.dumps(kql_schema(target).to_request(), indent=1, sort_keys=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m stormpack.querycheck sentinel|defender|adx``: print the exported schema."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in TARGETS:
        print(f"usage: python -m stormpack.querycheck {'|'.join(TARGETS)}", file=sys.stderr)
        return 2
    try:
        sys.stdout.write(schema_json(args[0]) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped early (`| head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0

"""Column names and types of the real tables, from the Kusto backend's bundled schemas (tables.py).

Never hand-typed: `azure_monitor` is sigma.pipelines.azuremonitor.tables.AZURE_MONITOR_TABLES
(Sentinel / Log Analytics), `microsoft_xdr` is sigma.pipelines.microsoftxdr.tables.MICROSOFT_XDR_TABLES
(Defender XDR advanced hunting). `stormpack_adx` is the pack's own table design for raw exports
in Azure Data Explorer (data/adx_tables.yml), which build/adx/tables.kql creates.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from ..errors import TaxonomyError

SCHEMAS: tuple[str, ...] = ("azure_monitor", "microsoft_xdr", "stormpack_adx")


def raw_tables(schema: str) -> tuple[str, Mapping[str, Mapping[str, Mapping[str, Any]]]]:
    """(where the tables come from, table -> column -> {"data_type": ...}) of one schema."""
    if schema == "azure_monitor":
        from sigma.pipelines.azuremonitor.tables import AZURE_MONITOR_TABLES

        return "sigma.pipelines.azuremonitor.tables.AZURE_MONITOR_TABLES", AZURE_MONITOR_TABLES
    if schema == "microsoft_xdr":
        from sigma.pipelines.microsoftxdr.tables import MICROSOFT_XDR_TABLES

        return "sigma.pipelines.microsoftxdr.tables.MICROSOFT_XDR_TABLES", MICROSOFT_XDR_TABLES
    if schema == "stormpack_adx":
        from .adx_tables import DATA, adx_tables

        return f"stormpack/{DATA}", {t.name: {c: {"data_type": ty} for c, ty in t.columns.items()}
                                     for t in adx_tables()}
    raise TaxonomyError(f"unknown table schema '{schema}' (known: {', '.join(SCHEMAS)})")


def _raw(schema: str) -> Mapping[str, Mapping[str, Mapping[str, Any]]]:
    return raw_tables(schema)[1]


def normalise_type(t: str) -> str:
    """tables.py spells a few types loosely ('boolean'); Kusto's name is 'bool'."""
    return {"boolean": "bool"}.get(t, t)


@cache
def table_columns(schema: str, table: str) -> Mapping[str, str]:
    """Column -> Kusto type of one table."""
    tables = _raw(schema)
    if table not in tables:
        raise TaxonomyError(f"table {table} is not in the Kusto backend's {schema} schema")
    return {col: normalise_type(str(spec["data_type"])) for col, spec in tables[table].items()}


def all_tables(schema: str) -> Mapping[str, Mapping[str, str]]:
    return {t: table_columns(schema, t) for t in _raw(schema)}

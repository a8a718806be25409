"""Which entity columns (Account, IP, CloudApplication, Mailbox) a Sentinel query can return.

A single-event query returns every column of its table, so an entity can come from any column of
the table (``settings.SENTINEL_TABLE_COLUMNS``) or from a field the rule tests (the compiler's
``fields`` map). A correlation returns only its group-by columns, so only those feed entities.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from . import settings
from .model import QueryLike, RuleMeta, base_table


@dataclass(frozen=True)
class EntityColumn:
    """One entity the query exposes: ``| extend <column> = <expression>``."""

    entity_type: str
    identifier: str
    column: str
    expression: str
    field: str  # taxonomy field it comes from


def kql_ident(name: str) -> str:
    """A column name as KQL writes it: bare when an identifier, ``['a.b']`` otherwise."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return name
    return "['" + name.replace("'", "\\'") + "']"


def entity_columns(query: QueryLike, meta: RuleMeta) -> list[EntityColumn]:
    """The first available source of every entity type, in ``settings.ENTITY_SOURCES`` order."""
    table_cols: Mapping[str, str] = settings.SENTINEL_TABLE_COLUMNS.get(
        base_table(query.table), {})
    chosen: dict[str, EntityColumn] = {}
    for src in settings.ENTITY_SOURCES:
        if src.entity_type in chosen:
            continue
        expr: str | None = None
        if meta.is_correlation:
            name = meta.group_column_for(src.field)
            if name is not None:
                expr = kql_ident(name)  # a correlation returns each group under its group-by name
        else:
            expr = table_cols.get(src.field) or query.fields.get(src.field)
        if expr:
            chosen[src.entity_type] = EntityColumn(
                src.entity_type, src.identifier, src.column, expr, src.field
            )
    return list(chosen.values())


def extend_clause(columns: list[EntityColumn]) -> str:
    """``| extend A = x, B = y`` (empty when there is nothing to extend)."""
    if not columns:
        return ""
    return "| extend " + ", ".join(f"{c.column} = {c.expression}" for c in columns)

"""Which entity columns (Account, IP, CloudApplication, Mailbox) a Sentinel query can return.

A single-event query returns every column of its table, so an entity can come from a field the
rule tests (the compiler's ``fields`` map, already computed by the query) or from any taxonomy field
the Sentinel target data maps to a column or a one-expression computation (derived from
``data/targets/sentinel.yml`` through the compiler's own field resolution, so an entity IP is
normalised exactly as the rules' IP conditions are). A correlation returns only its group-by
columns, so only those feed entities.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..compiler.targets import kql_expression, load_target, resolve_field
from ..errors import StormpackError
from ..taxonomy import load_taxonomy
from . import settings
from .model import QueryLike, RuleMeta


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
            expr = query.fields.get(src.field) or _table_expression(query.logsource, src.field)
        if expr:
            chosen[src.entity_type] = EntityColumn(
                src.entity_type, src.identifier, src.column, expr, src.field
            )
    return list(chosen.values())


def _table_expression(logsource: str, field: str) -> str | None:
    """The Sentinel expression of a taxonomy field the rule itself does not test, if it has one."""
    tax = load_taxonomy()
    ls = tax.logsources.get(logsource)
    if ls is None or ls.field(field) is None:
        return None
    target = load_target("sentinel")
    try:
        ref = resolve_field(target, target.logsource(logsource), ls, tax, field)
    except StormpackError:  # not available on Sentinel: no entity from it
        return None
    return kql_expression(ref)


def extend_clause(columns: list[EntityColumn]) -> str:
    """``| extend A = x, B = y`` (empty when there is nothing to extend)."""
    if not columns:
        return ""
    return "| extend " + ", ".join(f"{c.column} = {c.expression}" for c in columns)

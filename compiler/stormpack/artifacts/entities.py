"""Which entity columns (Account, IP, CloudApplication, Mailbox) a Sentinel query can return.

A single-event query returns every column of its table, so an entity can come from a field the
rule tests (the compiler's ``fields`` map, already computed by the query) or from any taxonomy field
the Sentinel target data maps to a column or a one-expression computation (derived from
``data/targets/sentinel.yml`` through the compiler's own field resolution, so an entity IP is
normalised exactly as the rules' IP conditions are). A correlation returns only its group-by
columns and its members (``addresses``, ``apps``: the sets of the first window that fires), so
an IP / CloudApplication entity without such a group-by is the window's first member (the
whole sets are the alert's custom details, ``settings.CORRELATION_DETAILS``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..compiler.targets import kql_expression, load_target, resolve_field
from ..errors import StormpackError
from ..syntax import KQL
from ..taxonomy import load_taxonomy
from . import settings
from .model import QueryLike, RuleMeta
from .settings import EntitySource


@dataclass(frozen=True)
class EntityColumn:
    """One entity the query exposes: ``| extend <column> = <expression>``."""

    entity_type: str
    identifier: str
    column: str
    expression: str
    field: str  # taxonomy field(s) it comes from, comma-separated in preference order


def kql_ident(name: str) -> str:
    """A column name as KQL writes it (:meth:`KqlSyntax.ident`)."""
    return KQL.ident(name)


def entity_columns(query: QueryLike, meta: RuleMeta) -> list[EntityColumn]:
    """Every entity type with at least one available source, in ``settings.ENTITY_SOURCES``
    order. Several available sources of one type become ``coalesce(a, b, ...)``: the first
    non-empty value (https://learn.microsoft.com/en-us/kusto/query/coalesce-function), since
    one table's records fill different columns (OfficeActivity: admin records ``ClientIP``,
    mailbox records ``Client_IPAddress``)."""
    found: dict[str, list[tuple[str, str, EntitySource]]] = {}
    for src in settings.ENTITY_SOURCES:
        expr: str | None = None
        if meta.is_correlation:
            name = meta.group_column_for(src.field)
            if name is not None:
                expr = KQL.ident(name)  # a correlation returns each group under its group-by name
        else:
            expr = query.fields.get(src.field) or _table_expression(
                query.logsource, src.field, source=query.source)
        if expr and all(expr != e for e, _f, _s in found.get(src.entity_type, [])):
            found.setdefault(src.entity_type, []).append((expr, src.field, src))
    if meta.is_correlation:  # no group-by of that type: the window's first member
        members = dict(settings.CORRELATION_MEMBER_ENTITIES)
        for src in settings.ENTITY_SOURCES:
            column = members.get(src.entity_type)
            if column is not None and src.entity_type not in found:
                found[src.entity_type] = [(f"tostring({column}[0])", column, src)]
    out: list[EntityColumn] = []
    for _etype, options in found.items():
        first = options[0][2]
        exprs = [e for e, _f, _s in options]
        expr = KQL.coalesce(exprs)
        out.append(EntityColumn(first.entity_type, first.identifier, first.column, expr,
                                ", ".join(f for _e, f, _s in options)))
    return out


def _table_expression(logsource: str, field: str, target_name: str = "sentinel",
                      source: str = "") -> str | None:
    """The KQL expression of a taxonomy field the rule itself does not test, if the target has one
    (on the table of ``source``, the ``--windows-source`` choice the rule was compiled for)."""
    tax = load_taxonomy()
    ls = tax.logsources.get(logsource)
    if ls is None or ls.field(field) is None:
        return None
    target = load_target(target_name)
    if source and target.sources is not None and source in target.sources.choices:
        target = target.with_source(source)
    try:
        ref = resolve_field(target, target.logsource(logsource), ls, tax, field)
    except StormpackError:  # not available on this target: no entity from it
        return None
    return kql_expression(ref)


def defender_ip_expression(query: QueryLike, native: str) -> str:
    """The alert IP of a Defender XDR row: the table's native address column, else the first
    non-empty taxonomy address field of the record (CloudAppEvents keeps the audit record's
    ``ClientIP`` / ``ClientIPAddress`` in ``RawEventData``), normalised as the rules' IP tests."""
    exprs = [native]
    for src in settings.ENTITY_SOURCES:
        if src.entity_type != "IP":
            continue
        expr = query.fields.get(src.field) or _table_expression(query.logsource, src.field, "defender")
        if expr and expr not in exprs:
            exprs.append(expr)
    return KQL.coalesce(exprs)


def extend_clause(columns: list[EntityColumn]) -> str:
    """``| extend A = x, B = y`` (empty when there is nothing to extend)."""
    if not columns:
        return ""
    return "| extend " + ", ".join(f"{c.column} = {c.expression}" for c in columns)

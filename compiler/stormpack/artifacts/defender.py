"""Microsoft Defender XDR: custom detection rules in the Microsoft Graph ``detectionRule`` shape.

One ``build/defender/<stem>.json`` per applicable rule, ready for
``POST https://graph.microsoft.com/beta/security/rules/detectionRules``. Applicable: a
single-event query on a table a custom detection can run on (``settings.DEFENDER_TABLES``);
the query is made to return ``Timestamp``, ``ReportId`` and the impacted-asset column. A
correlation returns aggregated groups without ``ReportId``, so it is reported as not
applicable rather than emitted broken.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ArtifactError, Location
from ..syntax import KQL
from . import settings
from .entities import defender_ip_expression
from .model import QueryLike, RuleMeta, base_table
from .schedule import after_table, defender_plan, defender_slice

#: the column holding the alert's IP entity (the table's address, else the record's)
IP_ENTITY_COLUMN = "IPCustomEntity"


@dataclass(frozen=True)
class DefenderRule:
    display_name: str
    query: str
    period: str
    title: str
    description: str
    severity: str
    category: str
    techniques: tuple[str, ...]
    asset_identifier: str
    stem: str
    source: Location
    enabled: bool = True  # ``isEnabled``: off while a tenant list holds placeholders
    ip_column: str | None = None  # the projected column of the alert's IP entity
    asset_type: str = "impactedUserAsset"  # or impactedDeviceAsset (Device* tables)

    def to_graph(self) -> dict[str, Any]:
        alert: dict[str, Any] = {
            "title": self.title,
            "description": self.description,
            "severity": self.severity,
            "category": self.category,
            "recommendedActions": None,
            "mitreTechniques": list(self.techniques),
            "impactedAssets": [
                {
                    "@odata.type": f"#microsoft.graph.security.{self.asset_type}",
                    "identifier": self.asset_identifier,
                }
            ],
        }
        if self.ip_column:
            # https://learn.microsoft.com/en-us/graph/api/resources/security-entitymappingconfiguration
            alert["entityMappings"] = {"ips": [{"@odata.type": "#microsoft.graph.security.ipEntityMapping",
                                                "addressColumn": self.ip_column}]}
        return {
            "displayName": self.display_name,
            "isEnabled": self.enabled,
            "queryCondition": {"queryText": self.query},
            "schedule": {"period": self.period},
            "detectionAction": {
                "alertTemplate": alert,
                "organizationalScope": None,
                "responseActions": [],
            },
        }


def not_applicable(query: QueryLike, meta: RuleMeta) -> str | None:
    """Why a compiled Defender query cannot become a custom detection (None = it can)."""
    if meta.is_correlation:
        return "correlation results carry no ReportId, which a custom detection requires"
    if base_table(query) not in settings.DEFENDER_TABLES:
        return f"table {query.table} is not one a custom detection of this pack runs on"
    return None


def project_columns(query: QueryLike) -> list[str]:
    """Timestamp, ReportId, the asset column, the table's context columns and the simple
    columns the rule tests (dynamic paths such as RawEventData.AppId stay out of ``project``)."""
    table = settings.DEFENDER_TABLES[base_table(query)]
    cols = [*settings.DEFENDER_REQUIRED_COLUMNS, table.asset_column, *table.extra_columns]
    for col in query.fields.values():
        if KQL.is_ident(col) and col not in cols:
            cols.append(col)
    return cols


def build_rule(query: QueryLike, meta: RuleMeta) -> DefenderRule:
    table = settings.DEFENDER_TABLES[base_table(query)]
    period, plan = defender_plan(meta)
    text = after_table(query.query.rstrip(), defender_slice(plan), meta.location())
    columns = project_columns(query)
    if table.ip_column:
        text += f"\n| extend {IP_ENTITY_COLUMN} = {defender_ip_expression(query, table.ip_column)}"
        columns.append(IP_ENTITY_COLUMN)
    text += "\n| project " + ", ".join(columns)
    tactic = meta.attack.tactics[0] if meta.attack.tactics else "SuspiciousActivity"
    return DefenderRule(
        display_name=meta.title,
        query=text,
        period=period,
        title=meta.title,
        description=meta.description or meta.title,
        severity=settings.DEFENDER_SEVERITY_BY_LEVEL[meta.level],
        category=tactic,
        techniques=meta.attack.techniques,
        asset_identifier=table.asset_identifier,
        stem=meta.stem,
        source=meta.location(),
        ip_column=IP_ENTITY_COLUMN if table.ip_column else None,
        asset_type=table.asset_type,
    )


def hunting_query(query: QueryLike, meta: RuleMeta) -> str:
    """The advanced hunting query of a time-bounded rule: the compiled query and its columns,
    no schedule and no settled slice (the analyst picks the time range)."""
    if meta.time_bound is not None:
        head = (f"// {meta.title}\n// Hunting query, not a custom detection: matches only events from "
                f"{meta.time_bound.label()}, older than a custom detection's 30-day lookback.\n")
    else:
        head = (f"// {meta.title}\n// Hunting query, not a custom detection: "
                f"{meta.hunting_reason()}.\n")
    return head + query.query.rstrip() + "\n| project " + ", ".join(project_columns(query)) + "\n"


def write_hunting(queries: Sequence[tuple[str, str]], out_dir: Path) -> list[Path]:
    """``<stem>.kql`` per (stem, hunting query): save them as shared queries in advanced hunting."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, text in queries:
        p = out_dir / f"{stem}.kql"
        p.write_text(text, encoding="utf-8")
        written.append(p)
    return written


def problems(rule: DefenderRule) -> list[str]:
    out: list[str] = []
    if not rule.display_name.strip() or len(rule.display_name) > settings.DEFENDER_DISPLAY_NAME_MAX:
        out.append(f"displayName must be 1 to {settings.DEFENDER_DISPLAY_NAME_MAX} characters")
    if rule.period not in settings.DEFENDER_PERIODS:
        out.append(f"schedule.period '{rule.period}' is not one of {', '.join(settings.DEFENDER_PERIODS)}")
    if rule.severity not in settings.DEFENDER_SEVERITIES:
        out.append(f"severity '{rule.severity}' is not one of {', '.join(settings.DEFENDER_SEVERITIES)}")
    allowed = {"impactedUserAsset": settings.DEFENDER_USER_ASSET_IDENTIFIERS,
               "impactedDeviceAsset": settings.DEFENDER_DEVICE_ASSET_IDENTIFIERS}.get(rule.asset_type, ())
    if rule.asset_identifier not in allowed:
        out.append(f"impacted-asset identifier '{rule.asset_identifier}' is not allowed")
    last = rule.query.rsplit("\n", 1)[-1]
    for col in (*settings.DEFENDER_REQUIRED_COLUMNS, *([rule.ip_column] if rule.ip_column else [])):
        if not re.search(rf"\b{col}\b", last):
            out.append(f"the query's final project does not return {col}")
    return out


def validate(rule: DefenderRule) -> None:
    found = problems(rule)
    if found:
        raise ArtifactError(
            f"Defender XDR custom detection '{rule.display_name}' is invalid: " + "; ".join(found),
            rule.source,
        )


def write(rules: Sequence[DefenderRule], out_dir: Path) -> list[Path]:
    for r in rules:
        validate(r)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for r in rules:
        p = out_dir / f"{r.stem}.json"
        p.write_text(json.dumps(r.to_graph(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(p)
    return written

"""Microsoft Sentinel: analytics rules in the Azure-Sentinel YAML schema, and one ARM template.

``build/sentinel/<stem>.yaml`` is the Azure-Sentinel repository shape (``1h``, ``gt``);
``build/sentinel/azuredeploy.json`` holds every rule as an ARM template the portal's
Analytics -> Import accepts (ISO-8601 durations, ``GreaterThan``; apiVersion
:data:`settings.SENTINEL_ARM_API_VERSION` takes parent techniques only). Every rule is checked
against the product limits first (:func:`validate`); a violation is an :class:`ArtifactError`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from ..compiler.kql_correlation import GROUPS_FIRED
from ..errors import ArtifactError, Location
from ..syntax import KQL
from . import firstseen, settings
from .durations import to_iso, to_short
from .entities import EntityColumn, entity_columns, extend_clause
from .model import QueryLike, RuleMeta, base_table
from .schedule import after_table, sentinel_plan

TRIGGER_OPERATORS = {"gt": "GreaterThan", "lt": "LessThan", "eq": "Equal", "ne": "NotEqual"}
_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


@dataclass(frozen=True)
class FieldMapping:
    identifier: str
    column_name: str


@dataclass(frozen=True)
class EntityMapping:
    entity_type: str
    field_mappings: tuple[FieldMapping, ...]


@dataclass(frozen=True)
class SentinelRule:
    """One scheduled analytics rule, product-neutral until rendered as YAML or ARM."""

    id: str
    name: str
    description: str
    severity: str
    connectors: tuple[settings.Connector, ...]
    frequency: timedelta
    period: timedelta
    trigger_operator: str
    trigger_threshold: int
    tactics: tuple[str, ...]
    techniques: tuple[str, ...]  # sub-techniques kept (YAML relevantTechniques)
    query: str
    entity_mappings: tuple[EntityMapping, ...]
    version: str
    stem: str
    source: Location
    enabled: bool = True  # ARM ``enabled``: off while a tenant list holds placeholders
    #: alert custom details: (key, column); a correlation's members (settings.CORRELATION_DETAILS)
    custom_details: tuple[tuple[str, str], ...] = ()

    @property
    def parent_techniques(self) -> list[str]:
        out: list[str] = []
        for t in self.techniques:
            p = t.split(".", 1)[0]
            if p not in out:
                out.append(p)
        return out

    def to_yaml_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "severity": self.severity,
            "requiredDataConnectors": _connectors(self.connectors),
            "queryFrequency": to_short(self.frequency),
            "queryPeriod": to_short(self.period),
            "triggerOperator": self.trigger_operator,
            "triggerThreshold": self.trigger_threshold,
            "tactics": list(self.tactics),
            "relevantTechniques": list(self.techniques),
            "query": self.query,
        }
        if self.entity_mappings:
            d["entityMappings"] = _entities(self.entity_mappings)
        if self.custom_details:
            d["customDetails"] = dict(self.custom_details)
        d["version"] = self.version
        d["kind"] = "Scheduled"
        return d

    def to_arm_resource(self) -> dict[str, Any]:
        props: dict[str, Any] = {
            "displayName": _arm_literal(self.name),
            "description": _arm_literal(self.description),
            "severity": self.severity,
            "enabled": self.enabled,
            "query": _arm_literal(self.query),
            "queryFrequency": to_iso(self.frequency),
            "queryPeriod": to_iso(self.period),
            "triggerOperator": TRIGGER_OPERATORS[self.trigger_operator],
            "triggerThreshold": self.trigger_threshold,
            "suppressionDuration": to_iso(self.frequency),
            "suppressionEnabled": False,
            "tactics": list(self.tactics),
            "techniques": self.parent_techniques,
            "eventGroupingSettings": {"aggregationKind": "SingleAlert"},
        }
        if self.entity_mappings:
            props["entityMappings"] = _entities(self.entity_mappings)
        if self.custom_details:
            props["customDetails"] = dict(self.custom_details)
        return {
            "id": "[concat(resourceId('Microsoft.OperationalInsights/workspaces/providers', "
            f"parameters('workspace'), 'Microsoft.SecurityInsights'),'/alertRules/{self.id}')]",
            "name": f"[concat(parameters('workspace'),'/Microsoft.SecurityInsights/{self.id}')]",
            "type": "Microsoft.OperationalInsights/workspaces/providers/alertRules",
            "kind": "Scheduled",
            "apiVersion": settings.SENTINEL_ARM_API_VERSION,
            "properties": props,
        }


def _connectors(conns: Sequence[settings.Connector]) -> list[dict[str, Any]]:
    by_id: dict[str, list[str]] = {}
    for c in conns:
        types = by_id.setdefault(c.connector_id, [])
        if c.data_type not in types:
            types.append(c.data_type)
    return [{"connectorId": k, "dataTypes": v} for k, v in by_id.items()]


def _entities(mappings: Sequence[EntityMapping]) -> list[dict[str, Any]]:
    return [
        {
            "entityType": m.entity_type,
            "fieldMappings": [{"identifier": f.identifier, "columnName": f.column_name}
                              for f in m.field_mappings],
        }
        for m in mappings
    ]


def _arm_literal(text: str) -> str:
    """ARM evaluates a string that starts with '[' and ends with ']' as an expression: escape it."""
    return "[" + text if text.startswith("[") and text.endswith("]") else text


# ------------------------------------------------------------------------------- building
def schedule(meta: RuleMeta) -> tuple[timedelta, timedelta]:
    """(queryFrequency, queryPeriod) of the schedule model (:func:`.schedule.sentinel_plan`)."""
    plan = sentinel_plan(meta)
    return plan.frequency, plan.lookback


def ingestion_filter(frequency: timedelta) -> str:
    """Keep the records that arrived since the previous run (Microsoft Learn, "Handle ingestion
    delay in scheduled analytics rules"): with queryPeriod covering the delay, each record is
    reported by exactly one run."""
    return f"| where ingestion_time() > ago({to_short(frequency)})"


PRIOR_PREFIX = "stormpack_prior_"


def new_groups_only(text: str, meta: RuleMeta, frequency: timedelta) -> str:
    """A correlation that alerts on a group only in the run that completes it: the query as
    compiled, less (``join kind=leftanti`` on the group-by columns) the groups the same query
    finds over the records ingested up to the previous run (each table read through
    ``let stormpack_prior_<T> = T | where ingestion_time() <= ago(<interval>)``). Without it,
    every run whose lookback holds a group alerts on it again (docs/deploy.md, section 5)."""
    tables = [c.data_type for c in settings.SENTINEL_CONNECTORS.values()]
    ref = re.compile(r"(^|\()(\s*)(" + "|".join(map(re.escape, tables)) + r")\b", re.M)
    used = list(dict.fromkeys(m.group(3) for m in ref.finditer(text)))
    if not used or not meta.group_by:
        raise ArtifactError(f"correlation '{meta.title}': no table reference or no group-by to cut "
                            "already alerted groups on", meta.location())
    prior = ref.sub(lambda m: f"{m.group(1)}{m.group(2)}{PRIOR_PREFIX}{m.group(3)}", text)
    # the cut needs only the groups: the member lines after GROUPS_FIRED are left out of it
    # (Sentinel queries are limited to 10,000 characters)
    cut = prior.find("\n" + GROUPS_FIRED + "\n")
    if cut >= 0:
        prior = prior[: cut + 1 + len(GROUPS_FIRED)]
    lets = "".join(f"let {PRIOR_PREFIX}{t} = {t} | where ingestion_time() <= ago({to_short(frequency)});\n"
                   for t in used)
    keys = ", ".join(KQL.ident(g) for g in meta.group_by)
    return (f"{lets}let stormpack_prior = {prior};\n{text}\n"
            f"| join kind=leftanti (stormpack_prior) on {keys}")


def _connectors_of(query: QueryLike, meta: RuleMeta) -> list[settings.Connector]:
    """The connectors feeding the table the rule compiled against: the log source's (Defender
    tables by default), or, for a Windows rule built with ``--windows-source``, its table's
    (:data:`settings.SENTINEL_TABLE_CONNECTORS`)."""
    table = base_table(query)
    source = query.source
    if source not in ("", "defender"):
        conns = settings.SENTINEL_TABLE_CONNECTORS.get(table)
        if conns is None:
            raise ArtifactError(f"no Sentinel data connector is known for table {table} "
                                f"(--windows-source {source})", meta.location())
        return list(conns)
    out = []
    for key in meta.logsources:
        conn = settings.SENTINEL_CONNECTORS.get(key)
        if conn is None:
            raise ArtifactError(f"no Sentinel data connector is known for log source {key}",
                                meta.location())
        out.append(conn)
    return out


def build_rule(query: QueryLike, meta: RuleMeta) -> SentinelRule:
    """The analytics rule of one compiled Sentinel query (not yet validated)."""
    cols: list[EntityColumn] = entity_columns(query, meta)
    text = query.query.rstrip()
    description = meta.description or meta.title
    if meta.first_seen is not None:
        plan = sentinel_plan(meta)
        assert plan.window is not None
        text = firstseen.sentinel_query(text, meta, plan.frequency, plan.delay, plan.window)
        description += firstseen.sentinel_note(meta, plan.window)
    elif meta.is_correlation:
        text = new_groups_only(text, meta, sentinel_plan(meta).frequency)
    ext = extend_clause(cols)
    if ext:
        text = f"{text}\n{ext}"
    connectors = list(_connectors_of(query, meta))
    freq, period = schedule(meta)
    if not meta.is_correlation:
        text = after_table(text, ingestion_filter(freq), meta.location())
    version = str(meta.custom.get(settings.ATTR_VERSION, settings.DEFAULT_RULE_VERSION))
    return SentinelRule(
        id=meta.id,
        name=meta.title,
        description=description,
        severity=settings.SEVERITY_BY_LEVEL[meta.level],
        connectors=tuple(connectors),
        frequency=freq,
        period=period,
        trigger_operator="gt",
        trigger_threshold=0,
        tactics=meta.attack.tactics,
        techniques=meta.attack.techniques,
        query=text,
        entity_mappings=tuple(
            EntityMapping(c.entity_type, (FieldMapping(c.identifier, c.column),)) for c in cols
        ),
        version=version,
        stem=meta.stem,
        source=meta.location(),
        custom_details=settings.CORRELATION_DETAILS if meta.is_correlation else (),
    )


@dataclass(frozen=True)
class HuntingQuery:
    """A Sentinel hunting query (Azure-Sentinel ``Hunting Queries`` YAML schema): run on demand
    over a time range the analyst picks, never scheduled."""

    id: str
    name: str
    description: str
    connectors: tuple[settings.Connector, ...]
    tactics: tuple[str, ...]
    techniques: tuple[str, ...]
    query: str
    entity_mappings: tuple[EntityMapping, ...]
    version: str
    stem: str
    source: Location

    def to_yaml_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "requiredDataConnectors": _connectors(self.connectors),
            "tactics": list(self.tactics),
            "relevantTechniques": list(self.techniques),
            "query": self.query,
        }
        if self.entity_mappings:
            d["entityMappings"] = _entities(self.entity_mappings)
        d["version"] = self.version
        return d


def hunting_note(meta: RuleMeta) -> str:
    """Why a rule is a hunting query (catalogue, descriptions)."""
    if meta.time_bound is not None:
        return (f"matches only events from {meta.time_bound.label()}, older than any scheduled run reads "
                "(Sentinel looks back at most 14 days, Defender XDR 30 days): shipped as a hunting query")
    return f"shipped as a hunting query, not a scheduled rule: {meta.hunting_reason()}"


def build_hunting(query: QueryLike, meta: RuleMeta) -> HuntingQuery:
    """The hunting query of a hunting-only rule: the compiled query and its entities, with no
    schedule and no ingestion-time slice (the analyst picks the time range, e.g. 2023)."""
    rule = build_rule(query, meta)
    text = query.query.rstrip()
    ext = extend_clause(entity_columns(query, meta))
    if ext:
        text = f"{text}\n{ext}"
    return HuntingQuery(
        id=rule.id, name=rule.name,
        description=f"{rule.description} Hunting query: {hunting_note(meta)}.",
        connectors=rule.connectors, tactics=rule.tactics, techniques=rule.techniques, query=text,
        entity_mappings=rule.entity_mappings, version=rule.version, stem=rule.stem, source=rule.source)


def write_hunting(queries: Sequence[HuntingQuery], out_dir: Path) -> list[Path]:
    """``<stem>.yaml`` per hunting query (Sentinel Repositories deploy the folder)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for q in queries:
        if len(q.query) > settings.SENTINEL_QUERY_MAX:
            raise ArtifactError(f"Sentinel hunting query '{q.name}': query is {len(q.query)} characters, "
                                f"more than {settings.SENTINEL_QUERY_MAX}", q.source)
        d = q.to_yaml_dict()
        for key in ("description", "query"):
            d[key] = "\n".join(line.rstrip() for line in str(d[key]).splitlines())
        p = out_dir / f"{q.stem}.yaml"
        p.write_text(yaml.dump(d, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100),
                     encoding="utf-8")
        written.append(p)
    return written


# ------------------------------------------------------------------------------- validation
def problems(rule: SentinelRule) -> list[str]:
    """Every product-limit violation of a rule, as sentences (empty = importable)."""
    out: list[str] = []
    try:
        uuid.UUID(rule.id)
    except ValueError:
        out.append(f"id '{rule.id}' is not a GUID")
    if not rule.name.strip():
        out.append("name is empty")
    if len(rule.name) > settings.SENTINEL_NAME_MAX:
        out.append(f"name is {len(rule.name)} characters, more than {settings.SENTINEL_NAME_MAX}")
    if not rule.description.strip():
        out.append("description is empty")
    if len(rule.description) > settings.SENTINEL_DESCRIPTION_MAX:
        out.append(f"description is {len(rule.description)} characters, "
                   f"more than {settings.SENTINEL_DESCRIPTION_MAX}")
    if len(rule.query) > settings.SENTINEL_QUERY_MAX:
        out.append(f"query is {len(rule.query)} characters, more than {settings.SENTINEL_QUERY_MAX}")
    if rule.severity not in settings.SENTINEL_SEVERITIES:
        out.append(f"severity '{rule.severity}' is not one of {', '.join(settings.SENTINEL_SEVERITIES)}")
    if not rule.connectors:
        out.append("requiredDataConnectors is empty")
    lo, hi = settings.SENTINEL_PERIOD_MIN, settings.SENTINEL_PERIOD_MAX
    for label, value in (("queryFrequency", rule.frequency), ("queryPeriod", rule.period)):
        if not lo <= value <= hi:
            out.append(f"{label} {_show(value)} is outside {_show(lo)} .. {_show(hi)}")
        elif value.total_seconds() % 60:
            out.append(f"{label} {value} is not a whole number of minutes")
    if rule.period < rule.frequency:
        out.append(f"queryPeriod {_show(rule.period)} is shorter than queryFrequency {_show(rule.frequency)}")
    if rule.trigger_operator not in TRIGGER_OPERATORS:
        out.append(f"triggerOperator '{rule.trigger_operator}' is not one of {', '.join(TRIGGER_OPERATORS)}")
    if not 0 <= rule.trigger_threshold <= settings.SENTINEL_TRIGGER_THRESHOLD_MAX:
        out.append(f"triggerThreshold {rule.trigger_threshold} is outside 0 .. "
                   f"{settings.SENTINEL_TRIGGER_THRESHOLD_MAX}")
    for t in rule.tactics:
        if t not in settings.SENTINEL_TACTICS:
            out.append(f"tactic '{t}' is not a Sentinel tactic")
    for t in rule.techniques:
        if not re.fullmatch(r"T\d{4}(\.\d{3})?", t):
            out.append(f"technique '{t}' is not an ATT&CK technique id")
    n = len(rule.entity_mappings)
    if n and not settings.SENTINEL_ENTITIES_MIN <= n <= settings.SENTINEL_ENTITIES_MAX:
        out.append(f"{n} entity mappings; Sentinel takes {settings.SENTINEL_ENTITIES_MIN} to "
                   f"{settings.SENTINEL_ENTITIES_MAX}")
    for m in rule.entity_mappings:
        k = len(m.field_mappings)
        if not settings.SENTINEL_FIELD_MAPPINGS_MIN <= k <= settings.SENTINEL_FIELD_MAPPINGS_MAX:
            out.append(f"entity {m.entity_type} has {k} field mappings; Sentinel takes "
                       f"{settings.SENTINEL_FIELD_MAPPINGS_MIN} to {settings.SENTINEL_FIELD_MAPPINGS_MAX}")
        for f in m.field_mappings:
            if not re.search(rf"\b{re.escape(f.column_name)}\b", rule.query):
                out.append(f"entity {m.entity_type} maps column {f.column_name}, which the query "
                           "does not return")
    if not _SEMVER.match(rule.version):
        out.append(f"version '{rule.version}' is not semantic (x.y.z)")
    return out


def _show(td: timedelta) -> str:
    try:
        return to_short(td)
    except ValueError:
        return str(td)


def validate(rule: SentinelRule) -> None:
    found = problems(rule)
    if found:
        raise ArtifactError(
            f"Sentinel analytics rule '{rule.name}' violates product limits: " + "; ".join(found),
            rule.source,
        )


# ------------------------------------------------------------------------------- writing
class _BlockDumper(yaml.SafeDumper):
    pass


def _str_repr(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    if len(data) > 80 and data == data.strip() and "  " not in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=">")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_BlockDumper.add_representer(str, _str_repr)


def render_yaml(rule: SentinelRule) -> str:
    d = rule.to_yaml_dict()
    # a block scalar cannot carry trailing spaces on lines; strip them so `|` is always usable
    for key in ("description", "query"):
        d[key] = "\n".join(line.rstrip() for line in str(d[key]).splitlines())
    return yaml.dump(d, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)


def arm_template(rules: Sequence[SentinelRule]) -> dict[str, Any]:
    return {
        "$schema": settings.ARM_SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": {
            "workspace": {
                "type": "String",
                "metadata": {"description": "Name of the Log Analytics workspace of Microsoft Sentinel"},
            }
        },
        "resources": [r.to_arm_resource() for r in rules],
    }


def write(rules: Sequence[SentinelRule], out_dir: Path) -> list[Path]:
    """Validate every rule, then write ``<stem>.yaml`` per rule and ``azuredeploy.json``."""
    for r in rules:
        validate(r)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for r in rules:
        p = out_dir / f"{r.stem}.yaml"
        p.write_text(render_yaml(r), encoding="utf-8")
        written.append(p)
    arm = out_dir / "azuredeploy.json"
    arm.write_text(json.dumps(arm_template(rules), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    written.append(arm)
    return written

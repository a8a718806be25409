"""Target data (data/targets/<target>.yml): where each taxonomy log source and field lives on a target.

This module reads the data and resolves a rule's field to a :class:`FieldRef`: the column or alias
a query refers to, its type on the target, and the query steps that define an alias. It does not
render conditions (that is the backends' job) and it is the only place that knows the data format.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from functools import cache
from typing import Any, Literal

from ..errors import TaxonomyError, UnmappedFieldError, UnmappedLogsourceError
from ..syntax import KQL, SPL, QuerySyntax, for_backend
from ..syntax import Step as Step  # re-exported: the step type lives with the syntax objects
from ..taxonomy import FieldSpec, LogsourceSpec, Taxonomy, load_taxonomy
from .registry import TARGETS as TARGETS  # the list of targets lives in the registry
from .registry import target_data, target_info
from .schema import table_columns

RefKind = Literal["column", "computed", "ip", "array", "name_value"]
KQL_ARRAY_SEP = KQL.array_sep  # the separator of KQL array aliases (stormpack.syntax.kql)


@dataclass(frozen=True)
class FieldRef:
    """How one rule field is read on one target."""

    field: str  # as the rule writes it
    target: str
    logsource: str
    kind: RefKind
    name: str  # column or alias the condition refers to
    type: str  # type of `name` on the target: string, int, long, bool, datetime, dynamic, real
    taxonomy_type: str
    steps: tuple[Step, ...] = ()
    values: Mapping[str, tuple[str, ...]] = dc_field(default_factory=dict)
    strict_values: bool = False
    as_string: bool = False  # numeric rule values are compared as text
    source: str = ""  # human description of where the value comes from (docs)
    list_name: str | None = None  # KQL arrays: the dynamic list alias (for exists / null)
    # KQL: a predicate true when the value is present at all. `tostring()` of a missing bag key
    # is "" (https://learn.microsoft.com/en-us/kusto/query/tostring-function), so `name == ""`
    # alone cannot tell a missing value from an empty one; Sigma's `''` matches only the latter.
    presence: str | None = None


@dataclass(frozen=True)
class Unsupported:
    field: str
    reason: str


@dataclass(frozen=True)
class LogsourceTarget:
    key: str
    table: str | None  # KQL table; None for Splunk
    schema_table: str | None
    time: str
    filter: str | None
    raw_root: str | None
    sourcetype: str | None
    category: str | None
    macro: str | None
    fields: Mapping[str, Any]
    unsupported: str | None = None
    # Splunk: base-search terms used instead of sourcetype/category (Windows event logs are told
    # apart by ``source`` and ``EventCode``, several channels in one search)
    search: str | None = None
    # KQL: a Windows event's EventData XML read by name (the Sysmon ``Event`` table): every taxonomy
    # field not listed in ``fields`` is the text of the ``<Data Name="field">`` element
    event_data: Mapping[str, str] | None = None

    def splunk_terms(self) -> str:
        """The Splunk base-search terms after ``index=...`` (what the pipeline template writes)."""
        if self.search:
            return self.search
        out = SPL.term("sourcetype", str(self.sourcetype))
        return out + (" " + SPL.term("category", self.category) if self.category else "")


@dataclass(frozen=True)
class SourceChoice:
    """One way a workspace may hold a group of log sources (``windows_sources`` in the data)."""

    key: str
    title: str
    connector: str
    docs: tuple[str, ...]
    logsources: Mapping[str, LogsourceTarget]  # every log source of the group (some unsupported)


@dataclass(frozen=True)
class SourceGroup:
    """Alternative tables for a group of log sources: the admin names the ones the workspace has
    (``stormpack compile --windows-source``), in order; each rule gets the first that can hold it."""

    option: str
    logsources: tuple[str, ...]
    default: str
    choices: Mapping[str, SourceChoice]


@dataclass(frozen=True)
class TargetSpec:
    name: str
    title: str
    backend: Literal["kusto", "splunk"]
    schema: str | None
    vars: Mapping[str, Any]
    logsources: Mapping[str, LogsourceTarget]
    sources: SourceGroup | None = None
    source: str | None = None  # the choice of ``sources`` these logsources are (None: no group)

    def with_source(self, key: str) -> TargetSpec:
        """This target with the group's log sources read from choice ``key``."""
        if self.sources is None or key not in self.sources.choices:
            known = ", ".join(self.sources.choices) if self.sources else "none"
            option = self.sources.option if self.sources else "windows-source"
            raise UnmappedLogsourceError(
                f"--{option} {key}: {self.name} has no such source (known: {known})", target=self.name
            )
        merged = dict(self.logsources)
        merged.update(self.sources.choices[key].logsources)
        return TargetSpec(self.name, self.title, self.backend, self.schema, self.vars, merged,
                          self.sources, key)

    def source_of(self, logsource: str) -> SourceChoice | None:
        """The source choice a log source is read from, None when it is not in the group."""
        if self.sources is None or self.source is None or logsource not in self.sources.logsources:
            return None
        return self.sources.choices[self.source]

    @property
    def is_kql(self) -> bool:
        return self.backend == "kusto"

    @property
    def syntax(self) -> QuerySyntax:
        """How this target's query language spells names, literals and steps."""
        return for_backend(self.backend)

    def logsource(self, key: str, rule_title: str = "") -> LogsourceTarget:
        lt = self.logsources.get(key)
        if lt is None or lt.unsupported:
            reason = lt.unsupported if lt is not None else "no mapping in data/targets"
            raise UnmappedLogsourceError(
                f"log source {key} is not available on {self.name}: {reason}",
                rule=rule_title or None,
                target=self.name,
            )
        return lt

    def columns(self, lt: LogsourceTarget) -> Mapping[str, str]:
        if not self.is_kql or lt.table is None:
            return {}
        assert self.schema is not None
        return table_columns(self.schema, lt.schema_table or lt.table)


def _parse_logsources(data: Mapping[str, Any]) -> dict[str, LogsourceTarget]:
    lss: dict[str, LogsourceTarget] = {}
    for key, ls in data.items():
        fields: dict[str, Any] = {}
        if ls.get("fields_from"):
            fields.update(data[ls["fields_from"]].get("fields") or {})
        fields.update(ls.get("fields") or {})
        event_data = ls.get("event_data")
        lss[key] = LogsourceTarget(
            key=key,
            table=ls.get("table"),
            schema_table=ls.get("schema_table"),
            time=str(ls.get("time", "_time")),
            filter=ls.get("filter"),
            raw_root=ls.get("raw_root"),
            sourcetype=ls.get("sourcetype"),
            category=ls.get("category"),
            macro=ls.get("macro"),
            fields=fields,
            unsupported=ls.get("unsupported"),
            search=ls.get("search"),
            event_data={str(k): str(v) for k, v in event_data.items()} if event_data else None,
        )
    return lss


def _parse_sources(name: str, data: Mapping[str, Any] | None,
                   logsources: Mapping[str, LogsourceTarget]) -> SourceGroup | None:
    """``windows_sources``: the default choice is the log sources' own entries; every other choice
    must say, for every log source of the group, where it lives or why it cannot be read."""
    if not data:
        return None
    where = f"data/targets/{name}.yml: windows_sources"
    group = tuple(str(k) for k in data["logsources"])
    default = str(data["default"])
    choices: dict[str, SourceChoice] = {}
    for key, c in data["choices"].items():
        own = _parse_logsources(c.get("logsources") or {})
        if key == default:
            if own:
                raise TaxonomyError(f"{where}.choices.{key}: the default reads the log sources above")
            own = {k: logsources[k] for k in group}
        if set(own) != set(group):
            raise TaxonomyError(
                f"{where}.choices.{key} must map every log source of the group "
                f"({', '.join(group)}), an unavailable one with `unsupported: reason`"
            )
        docs = tuple(str(u) for u in c.get("docs") or ())
        if not docs:
            raise TaxonomyError(f"{where}.choices.{key}: `docs` must cite the connector's documentation")
        choices[str(key)] = SourceChoice(str(key), str(c["title"]), str(c["connector"]), docs, own)
    if default not in choices:
        raise TaxonomyError(f"{where}: default {default} is not a choice")
    return SourceGroup(str(data.get("option", "windows-source")), group, default, choices)


def _parse_target(name: str, data: Mapping[str, Any]) -> TargetSpec:
    lss = _parse_logsources(data["logsources"])
    backend = data["backend"]
    if backend not in ("kusto", "splunk"):
        raise TaxonomyError(f"data/targets/{name}.yml: unknown backend {backend}")
    if (backend == "kusto") != (target_info(name).language == "kql"):
        raise TaxonomyError(f"data/targets/{name}.yml: backend {backend} does not write "
                            f"{target_info(name).language}")
    return TargetSpec(
        name=name,
        title=str(data["title"]),
        backend=backend,
        schema=data.get("schema"),
        vars=dict(data.get("vars") or {}),
        logsources=lss,
        sources=(group := _parse_sources(name, data.get("windows_sources"), lss)),
        source=group.default if group is not None else None,
    )


@cache
def load_target(name: str) -> TargetSpec:
    target_info(name)  # an unknown target fails here, naming the known ones
    return _parse_target(name, target_data(name))


# ------------------------------------------------------------------------------ alias names
def sanitize(name: str) -> str:
    """An identifier made from a field name (`AppAccessContext.UniqueTokenId` ->
    `AppAccessContext_UniqueTokenId`)."""
    out = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not KQL.is_ident(out):
        out = "f_" + out
    return out


def element_alias(root: str, element: str) -> str:
    """Alias of a name/value element; names that are not identifiers get a short hash suffix."""
    base = f"{root}_{sanitize(element)}"
    if re.fullmatch(r"[A-Za-z0-9_]+", element):
        return base
    return f"{base}_{hashlib.sha1(element.encode()).hexdigest()[:6]}"


# thin aliases of the syntax objects (stormpack.syntax), kept for the modules that import them
def kql_escape(value: str) -> str:
    """The body of a KQL double-quoted string literal for ``value`` (:meth:`KqlSyntax.escape`)."""
    return KQL.escape(value)


def kql_string(value: str) -> str:
    """A KQL double-quoted string literal (:meth:`KqlSyntax.string`)."""
    return KQL.string(value)


def spl_string(value: str) -> str:
    """An SPL double-quoted string literal (:meth:`SplSyntax.string`)."""
    return SPL.string(value)


def _not_colliding(alias: str, columns: Mapping[str, str]) -> str:
    return alias if alias not in columns else alias + "_value"


# ------------------------------------------------------------------------------ IP steps
def kql_ip_steps(alias: str, source: str) -> tuple[Step, ...]:
    """Normalise an address exactly as taxonomy.normalise_ip does (:meth:`KqlSyntax.ip_steps`)."""
    return KQL.ip_steps(alias, source)


def _constant(text: str) -> Callable[[re.Match[str]], str]:
    """A re.sub replacement that inserts ``text`` as it is (no backslash processing)."""
    return lambda _m: text


def kql_expression(ref: FieldRef) -> str | None:
    """One KQL expression computing a field without its prelude, or None when it needs more.

    A plain column is itself; a computed or normalised-IP field is its chain of
    ``extend <alias> = ...`` steps folded into one expression (each step's alias replaced by the
    previous step's expression). Name/value and array fields need ``mv-apply``: None.
    """
    if ref.kind not in ("column", "computed", "ip"):
        return None
    if not ref.steps:
        return ref.name
    expr: str | None = None
    prefix = KQL.extend(ref.name, "")
    for step in ref.steps:
        if not step.text.startswith(prefix):
            return None
        body = step.text[len(prefix):]
        if expr is not None:
            previous = f"({expr})"
            body = re.sub(rf"\b{re.escape(ref.name)}\b", _constant(previous), body)
        expr = body
    return expr


def spl_ip_steps(alias: str, source: str) -> tuple[Step, ...]:
    """The SPL normalisation of an address (:meth:`SplSyntax.ip_steps`)."""
    return SPL.ip_steps(alias, source)


def kql_array_steps(alias: str, source: str, path: str) -> tuple[str, tuple[Step, ...]]:
    """mv-apply over a JSON array collecting `path` of every element (:meth:`KqlSyntax.array_steps`)."""
    return KQL.array_steps(alias, source, path)


# ------------------------------------------------------------------------------ resolution
def _kql_type_of_taxonomy(t: str) -> str:
    return {"int": "int", "bool": "string", "datetime": "string"}.get(t, "string")


def resolve_field(
    target: TargetSpec,
    lt: LogsourceTarget,
    ls: LogsourceSpec,
    taxonomy: Taxonomy,
    fname: str,
    rule_title: str = "",
) -> FieldRef:
    """Resolve a rule field; raises UnmappedFieldError naming rule, field and target."""
    spec: FieldSpec | None = ls.field(fname)
    if spec is None:
        raise UnmappedFieldError(
            f"field is not in the taxonomy for log source {ls.key} (see docs/taxonomy.md)",
            rule=rule_title or None,
            target=target.name,
            field=fname,
        )
    raw = lt.fields.get(spec.name)
    columns = target.columns(lt)
    if isinstance(raw, Mapping) and "unsupported" in raw:
        raise UnmappedFieldError(
            f"not available on {target.name} ({lt.table or lt.sourcetype}): {raw['unsupported']}",
            rule=rule_title or None,
            target=target.name,
            field=fname,
            unsupported=str(raw["unsupported"]),
        )
    if spec.is_pattern:
        return _resolve_name_value(target, lt, taxonomy, spec, fname, raw, rule_title)
    if raw is None and target.is_kql and lt.event_data:
        return _resolve_event_data(target, lt, spec, fname, columns)
    if raw is None:
        if target.is_kql and lt.raw_root:
            ctype = "int" if spec.type == "int" else "string"
            raw = {"expr": KQL.convert(ctype, KQL.path(lt.raw_root, fname)), "type": ctype}
        elif not target.is_kql:
            raw = fname
        else:
            raise UnmappedFieldError(
                f"no column mapped in data/targets/{target.name}.yml for log source {ls.key}",
                rule=rule_title or None,
                target=target.name,
                field=fname,
            )
    return _resolve_plain(target, lt, spec, fname, raw, columns)


def event_data_steps(lt: LogsourceTarget) -> tuple[str, Step]:
    """The bag of a Windows event's EventData (``<Data Name="N">text</Data>`` elements, read
    through ``parse_xml``: https://learn.microsoft.com/en-us/kusto/query/parse-xml-function turns
    ``<e name="v">text</e>`` into ``{"@name": "v", "#text": "text"}`` and repeated elements into an
    array), name -> text; returns (bag alias, step)."""
    ed = lt.event_data
    assert ed is not None
    bag = ed.get("bag", "EventData_bag")
    apply = Step(
        f"bag:{bag}",
        f"mv-apply __xd = {ed['source']} on (summarize {bag} = make_bag(bag_pack("
        f"tostring(__xd[{kql_string(ed['name'])}]), tostring(__xd[{kql_string(ed['value'])}]))))",
    )
    return bag, apply


def _resolve_event_data(
    target: TargetSpec, lt: LogsourceTarget, spec: FieldSpec, fname: str, columns: Mapping[str, str]
) -> FieldRef:
    bag, apply = event_data_steps(lt)
    alias = _not_colliding(sanitize(fname), columns)
    ext = Step(f"nv:{alias}", f"extend {alias} = tostring({bag}[{kql_string(fname)}])")
    return FieldRef(
        field=fname,
        target=target.name,
        logsource=lt.key,
        kind="name_value",
        name=alias,
        type="string",
        taxonomy_type=spec.type,
        steps=(apply, ext),
        as_string=spec.type == "int",
        source=f'the text of <Data Name="{fname}"> in {lt.table}.EventData (XML)',
        presence=f"bag_has_key({bag}, {kql_string(fname)})",
    )


def _values(raw: Any) -> tuple[dict[str, tuple[str, ...]], bool]:
    if not isinstance(raw, Mapping) or "values" not in raw:
        return {}, False
    vals = {
        str(k): tuple(str(x) for x in (v if isinstance(v, list) else [v])) for k, v in raw["values"].items()
    }
    return vals, bool(raw.get("strict_values", False))


def _resolve_plain(
    target: TargetSpec,
    lt: LogsourceTarget,
    spec: FieldSpec,
    fname: str,
    raw: Any,
    columns: Mapping[str, str],
) -> FieldRef:
    values, strict = _values(raw)
    common: dict[str, Any] = dict(
        field=fname,
        target=target.name,
        logsource=lt.key,
        taxonomy_type=spec.type,
        values=values,
        strict_values=strict,
    )
    if isinstance(raw, Mapping) and "array" in raw:
        arr = raw["array"]
        if not target.is_kql:
            col = str(arr["field"])
            return FieldRef(kind="array", name=col, type="string", source=col, **common)
        alias = _not_colliding(sanitize(fname), columns)
        list_alias, steps = kql_array_steps(alias, str(arr["source"]), str(arr.get("path", "")))
        src = f"{arr['source']}[*]" + (f".{arr['path'].replace('[]', '[*]')}" if arr.get("path") else "")
        return FieldRef(
            kind="array",
            name=alias,
            type="string",
            steps=steps,
            list_name=list_alias,
            source=f"any element of {src}",
            **common,
        )
    if isinstance(raw, Mapping) and "expr" in raw:
        expr = str(raw["expr"])
        ctype = str(raw.get("type", "string"))
        alias = _not_colliding(sanitize(fname), columns)
        if spec.type == "ip":
            ip_alias = _not_colliding(sanitize(fname) + "_addr", columns)
            steps = target.syntax.ip_steps(ip_alias, expr)
            return FieldRef(kind="ip", name=ip_alias, type="string", steps=steps, source=expr, **common)
        step = Step(f"computed:{alias}", target.syntax.define(alias, expr))
        as_string = spec.type == "int" and ctype == "string"
        return FieldRef(
            kind="computed", name=alias, type=ctype, steps=(step,), as_string=as_string, source=expr, **common
        )
    col = str(raw["column"]) if isinstance(raw, Mapping) else str(raw)
    if target.is_kql:
        found = columns.get(col)
        if found is None:
            raise TaxonomyError(
                f"data/targets/{target.name}.yml: {lt.key}.{fname} maps to column {col}, "
                f"which table {lt.schema_table or lt.table} does not have"
            )
        ctype = found
    else:
        ctype = "string"
    if spec.type == "ip":
        ip_alias = _not_colliding(sanitize(fname) + "_addr", columns)
        steps = target.syntax.ip_steps(ip_alias, col)
        return FieldRef(kind="ip", name=ip_alias, type="string", steps=steps, source=col, **common)
    as_string = spec.type == "int" and ctype == "string" and target.is_kql
    return FieldRef(kind="column", name=col, type=ctype, as_string=as_string, source=col, **common)


def _resolve_name_value(
    target: TargetSpec,
    lt: LogsourceTarget,
    taxonomy: Taxonomy,
    spec: FieldSpec,
    fname: str,
    raw: Any,
    rule_title: str,
) -> FieldRef:
    split = taxonomy.name_value_root(fname)
    if split is None or not isinstance(raw, Mapping) or "name_value" not in raw:
        raise UnmappedFieldError(
            f"name/value field has no mapping in data/targets/{target.name}.yml",
            rule=rule_title or None,
            target=target.name,
            field=fname,
        )
    root, element = split
    nv = raw["name_value"]
    alias = element_alias(root.root, element)
    common: dict[str, Any] = dict(field=fname, target=target.name, logsource=lt.key, taxonomy_type=spec.type)
    if target.is_kql:
        src = str(nv["source"])
        steps, presence = KQL.name_value_steps(alias, f"{root.root}_bag", src, root.name, root.value, element)
        return FieldRef(
            kind="name_value",
            name=alias,
            type="string",
            steps=steps,
            source=f"{root.value} of the {src} element whose {root.name} is '{element}'",
            presence=presence,
            **common,
        )
    arr = str(nv["array"])
    ev = SPL.name_value_step(alias, arr, root.name, root.value, element)
    return FieldRef(
        kind="name_value",
        name=alias,
        type="string",
        steps=(ev,),
        source=f"{arr}.{root.value} at the index of {arr}.{root.name} = '{element}'",
        **common,
    )


def resolve_for_rule(
    target: TargetSpec, ls: LogsourceSpec, fields: list[str], rule_title: str = ""
) -> dict[str, FieldRef]:
    """Every field a rule uses -> its FieldRef (first error raised)."""
    taxonomy = load_taxonomy()
    lt = target.logsource(ls.key, rule_title)
    return {f: resolve_field(target, lt, ls, taxonomy, f, rule_title) for f in fields}

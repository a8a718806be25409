"""compile_rules: the rule files, for one target, into queries (or the reason they cannot be).

Rules are parsed fresh for every call (pySigma mutates rules in place), referenced rules first.
Before pySigma runs, every field of every rule is resolved against the taxonomy and the target
data, so an unknown field, an unavailable log source or field, or a value the target cannot spell
is a CompileError naming rule, field and target, with the rule file and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation, SetStateTransformation
from sigma.rule import SigmaDetectionItem, SigmaRule
from sigma.types import SigmaBool, SigmaNumber, SigmaString

from .. import derived, firstseen
from ..errors import (
    CompileError,
    Location,
    NotCollectedError,
    StormpackError,
    TaxonomyError,
    UnmappedLogsourceError,
)
from ..naming import output_name
from ..ruleset import LoadedRule, RuleSet, iter_detection_items, load_ruleset
from ..syntax import SPL
from ..taxonomy import LogsourceSpec, load_taxonomy
from . import firstseen as firstseen_render
from . import kql_correlation
from .availability import decide
from .kusto import StormKustoBackend, Unexpressible
from .pipeline_gen import CLI_STATE_KEY, build_pipeline, load_pipeline_text
from .placeholders import (
    ListReferences,
    Values,
    check_placeholders,
    expand_for_check,
    placeholder_items,
    resolve_values,
)
from .splunk import StormSplunkBackend, splunk_rename
from .targets import (
    TARGETS,
    FieldRef,
    LogsourceTarget,
    Step,
    TargetSpec,
    kql_expression,
    kql_string,
    load_target,
    resolve_field,
    resolve_for_rule,
    sanitize,
    spl_string,
)


@dataclass(frozen=True)
class CompiledQuery:
    rule_id: str
    title: str
    level: str | None
    path: Path
    stem: str
    target: str
    logsource: str  # taxonomy log source key ("a+b" for a correlation over several)
    table: str  # KQL table(s), or the Splunk data source description
    query: str
    fields: dict[str, str]  # sigma field -> target column / alias the query uses
    is_correlation: bool
    name: str = (
        ""  # output file name without extension: stem, or stem__<title slug> if the file holds several rules
    )
    tables: tuple[str, ...] = ()  # KQL: the tables the query reads, in order (empty for Splunk)
    # the target's source choice the table was taken from (``--windows-source``), and why that one
    source: str = ""
    source_why: str = ""


@dataclass
class CompileResult:
    target: str
    queries: list[CompiledQuery] = field(default_factory=list)
    skipped: list[tuple[LoadedRule, str]] = field(default_factory=list)  # could not compile
    errors: list[CompileError] = field(default_factory=list)  # the same, as errors
    not_generated: list[LoadedRule] = field(default_factory=list)  # only used by a correlation

    @property
    def ok(self) -> bool:
        return not self.errors


def iter_items(rule: SigmaRule) -> Iterable[SigmaDetectionItem]:
    return (item for _, item in iter_detection_items(rule))


def _located(exc: CompileError, lr: LoadedRule) -> CompileError:
    if exc.location is None or exc.location.path is None:
        exc.location = lr.location(exc.field) if exc.field else Location(lr.path)
    if exc.rule is None:
        exc.rule = lr.title
    return exc


def _check_values(ref: FieldRef, item: SigmaDetectionItem, values: Values, lr: LoadedRule) -> None:
    if not ref.strict_values:
        return
    for v in item.value:
        if isinstance(v, SigmaNumber):
            texts = [str(v)]
        elif isinstance(v, SigmaString):
            if v.contains_special() and not any(type(p).__name__ == "Placeholder" for p in v.s):
                raise CompileError(
                    f"wildcards cannot be mapped to {ref.target}'s spellings of this field",
                    rule=lr.title,
                    target=ref.target,
                    field=ref.field,
                )
            texts = expand_for_check(v, values)
        elif isinstance(v, SigmaBool):
            texts = [str(v.boolean).lower()]
        else:
            continue
        for t in texts:
            if t not in ref.values:
                raise CompileError(
                    f"value {t!r} has no known spelling on {ref.target} (known: "
                    f"{', '.join(sorted(ref.values, key=lambda x: (len(x), x)))}); add it to "
                    f"data/targets/{ref.target}.yml",
                    rule=lr.title,
                    target=ref.target,
                    field=ref.field,
                )


def _member_kql(ref: FieldRef) -> str | None:
    """A member column as the product stores it: an address's normalisation starts with
    ``extend X_addr = trim(@"\\s+", tostring(<column>))``; the member is ``tostring(<column>)``."""
    if ref.kind == "ip" and ref.steps:
        m = re.fullmatch(r'extend \w+ = trim\(@"\\s\+", (tostring\(.*\))\)', ref.steps[0].text)
        return m.group(1) if m else None
    return kql_expression(ref)


def _member_spl(ref: FieldRef) -> str | None:
    if ref.kind == "ip" and ref.steps:  # eval X_addr=trim(<field>): the member is <field>
        m = re.fullmatch(r"eval \w+=trim\((.*)\)", ref.steps[0].text)
        return m.group(1) if m else None
    if ref.kind == "column" and not ref.steps:
        return SPL.eval_ref(ref.name)
    return None


class _Compiler:
    def __init__(
        self, ruleset: RuleSet, target: TargetSpec, values: dict[str, list[str]], values_source: str,
        lists: ListReferences | None = None,
    ):
        self.ruleset = ruleset
        self.target = target
        self.values = values
        self.values_source = values_source
        self.lists = lists
        self.taxonomy = load_taxonomy()
        self.refs: dict[int, dict[str, FieldRef]] = {}
        self.logsource: dict[int, LogsourceSpec] = {}
        self.failed: dict[int, CompileError] = {}
        self.corr: dict[int, tuple[list[str], str | None, dict[str, dict[str, str]]]] = {}

    # ------------------------------------------------------------------ before pySigma
    def prepare(self, lr: LoadedRule) -> None:
        rule = lr.rule
        assert isinstance(rule, SigmaRule)
        try:
            ls = self.taxonomy.logsource_for(rule.logsource, lr.title)
        except TaxonomyError as exc:
            raise UnmappedLogsourceError(
                exc.reason,
                Location(lr.path, lr.line_of("logsource")),
                rule=lr.title,
                target=self.target.name,
            ) from None
        decision = decide(rule, ls.key, self.target.name)
        if decision.kind == "refuse":
            raise NotCollectedError(
                decision.reason, Location(lr.path), rule=lr.title, target=self.target.name
            )
        items = list(iter_items(rule))
        fields = list(dict.fromkeys(i.field for i in items if i.field is not None))
        refs = resolve_for_rule(self.target, ls, fields, lr.title)
        check_placeholders(rule, items, self.values, lr.path, self.target.name, self.values_source,
                           self.lists)
        for item in items:
            if item.field is not None:
                _check_values(refs[item.field], item, self.values, lr)
        self.refs[id(rule)] = refs
        self.logsource[id(rule)] = ls

    def refs_for(self, rule: Any) -> Mapping[str, FieldRef]:
        return self.refs.get(id(rule), {})

    # ------------------------------------------------------------------ pipeline
    def pipeline(self) -> ProcessingPipeline:
        items: list[ProcessingItem] = [
            ProcessingItem(SetStateTransformation(CLI_STATE_KEY, True), identifier="stormpack_cli_flag"),
            *placeholder_items(self.lists),
        ]
        per_ls: dict[str, dict[str, str]] = {}
        for rid, refs in self.refs.items():
            key = self.logsource[rid].key
            for f, r in refs.items():
                if r.kind == "name_value" or derived.is_derived(f):
                    per_ls.setdefault(key, {})[f] = r.name
        for key, mapping in sorted(per_ls.items()):
            ls = self.taxonomy.logsources[key]
            items.append(
                ProcessingItem(
                    FieldMappingTransformation(dict(sorted(mapping.items()))),
                    identifier=f"stormpack_{key}_name_value",
                    rule_conditions=[LogsourceCondition(**ls.sigma_logsource)],
                )
            )
        cli = ProcessingPipeline(items=items, vars=dict(self.values), name="stormpack_cli", priority=1)
        spec = self.target
        if spec.sources is None or spec.source == spec.sources.default:
            shipped = ProcessingPipeline.from_yaml(load_pipeline_text(spec.name))
        else:  # another source choice: the same generator over its tables, never a second mapping
            shipped = ProcessingPipeline.from_yaml(yaml.safe_dump(build_pipeline(spec), sort_keys=False))
        return cli + shipped

    # ------------------------------------------------------------------ correlations
    def capture_correlation(self, corr: SigmaCorrelationRule) -> None:
        """Group-by, value field and aliases as written (pySigma's field mapping mutates them)."""
        group = [str(g) for g in (corr.group_by or [])]
        cond = corr.condition
        fr = getattr(cond, "fieldref", None) if cond is not None else None
        value = (fr if isinstance(fr, str) else fr[0]) if fr else None
        aliases: dict[str, dict[str, str]] = {}
        for alias in corr.aliases or []:
            aliases[str(alias.alias)] = {str(ref.reference): str(f) for ref, f in alias.mapping.items()}
        self.corr[id(corr)] = (group, value, aliases)

    def correlation_fields(self, corr: SigmaCorrelationRule) -> list[str]:
        group, value, _ = self.corr[id(corr)]
        return group + ([value] if value else [])

    def field_on(self, corr: SigmaCorrelationRule, rule: SigmaRule, name: str) -> str:
        _, _, aliases = self.corr[id(corr)]
        mapping = aliases.get(name)
        if mapping is not None:
            for reference, fname in mapping.items():
                if reference in (rule.name, str(rule.id)):
                    return fname
        return name

    def add_correlation_fields(self, corr: SigmaCorrelationRule) -> None:
        """The referenced rules' queries must also define the fields the correlation groups by."""
        for ref in corr.rules or []:
            rule = ref.rule
            if isinstance(rule, SigmaRule) and id(rule) in self.refs:
                for name, fref in self.correlation_refs(corr, rule).items():
                    self.refs[id(rule)].setdefault(self.field_on(corr, rule, name), fref)

    def correlation_refs(self, corr: SigmaCorrelationRule, rule: SigmaRule) -> dict[str, FieldRef]:
        ls = self.logsource[id(rule)]
        lt = self.target.logsource(ls.key, str(rule.title))
        out = {}
        for name in self.correlation_fields(corr):
            fname = self.field_on(corr, rule, name)
            d = derived.derivation(fname, ls.key)
            if d is not None:
                out[name] = self.derived_ref(d, lt)
                continue
            out[name] = resolve_field(self.target, lt, ls, self.taxonomy, fname, str(corr.title))
        return out

    def derived_ref(self, d: derived.Derivation, lt: LogsourceTarget) -> FieldRef:
        """A derived field (stormpack/derived.py) as a computed alias defined by its steps."""
        alias = sanitize(d.field)
        if self.target.is_kql:
            texts = derived.kql_steps(d, self.target.name, alias, self.values, kql_string)
        else:
            texts = derived.spl_steps(d, alias, self.values, spl_string)
        return FieldRef(
            field=d.field, target=self.target.name, logsource=lt.key, kind="computed", name=alias,
            type="string", taxonomy_type="string",
            steps=tuple(Step(f"derived:{alias}:{i}", t) for i, t in enumerate(texts)),
            source=f"{d.key} looked up in the two-column list {d.pairs}",
        )

    def splunk_group_names(self, corr: SigmaCorrelationRule, query: str) -> str:
        """Give the output columns of a Splunk correlation the group-by names the rule writes.

        pySigma's field mapping turns a group-by field into the column the search computes
        (``ClientIP`` -> ``ClientIP_addr``, the normalised address), so ``stats ... by`` outputs
        that name; the KQL rendering projects the written name. A trailing ``rename`` makes the
        Splunk result carry the same column names as the rule and the KQL queries."""
        group, _, aliases = self.corr[id(corr)]
        renames: dict[str, str] = {}
        for name in group:
            if name in aliases:
                continue
            for ref in corr.rules or []:
                rule = ref.rule
                if isinstance(rule, SigmaRule):
                    col = self.correlation_refs(corr, rule)[name].name
                    if col != name:
                        renames.setdefault(col, name)
        return splunk_rename(query, renames)

    def member_refs(self, rule: SigmaRule) -> dict[str, list[FieldRef]]:
        """Role (address, app) -> the refs of the member fields a referenced rule's log source
        has on this target (kql_correlation.MEMBER_FIELDS order); fields it lacks are left out."""
        ls = self.logsource[id(rule)]
        lt = self.target.logsource(ls.key, str(rule.title))
        out: dict[str, list[FieldRef]] = {}
        for role, fields in kql_correlation.MEMBER_FIELDS.items():
            for f in fields:
                if ls.field(f) is None:
                    continue
                try:
                    out.setdefault(role, []).append(resolve_field(self.target, lt, ls, self.taxonomy, f))
                except StormpackError:
                    continue
        return out

    def member_exprs(self, rule: SigmaRule) -> dict[str, tuple[str, ...]]:
        """KQL: each member field as one short expression (name/value fields are skipped). An
        address is read as its product column, trimmed (the first step of its normalisation):
        members are shown, not compared, and the folded normalisation would multiply the
        query's length (Sentinel: 10,000 characters)."""
        out: dict[str, tuple[str, ...]] = {}
        for role, refs in self.member_refs(rule).items():
            exprs = tuple(dict.fromkeys(e for r in refs if (e := _member_kql(r)) is not None))
            if exprs:
                out[role] = exprs
        return out

    def spl_members(self, corr: SigmaCorrelationRule) -> dict[str, tuple[str, ...]]:
        """SPL: each member field of every referenced rule as one eval expression (a plain
        field, or an address trimmed as the first step of its normalisation)."""
        out: dict[str, list[str]] = {}
        for ref in corr.rules or []:
            rule = ref.rule
            if not isinstance(rule, SigmaRule) or id(rule) not in self.logsource:
                continue
            for role, refs in self.member_refs(rule).items():
                for r in refs:
                    e = _member_spl(r)
                    if e is not None and e not in out.setdefault(role, []):
                        out[role].append(e)
        return {role: tuple(v) for role, v in out.items() if v}

    def kql_correlation(self, corr: SigmaCorrelationRule) -> str:
        subs = []
        for rule in kql_correlation.referenced(corr):
            ls = self.logsource[id(rule)]
            lt = self.target.logsource(ls.key, str(rule.title))
            result = rule.get_conversion_result()
            if len(result) != 1:
                raise Unexpressible(f"referenced rule '{rule.title}' compiles to {len(result)} queries")
            subs.append(
                kql_correlation.SubRule(
                    rule_id=str(rule.name or rule.id),
                    query=str(result[0]),
                    time=lt.time,
                    refs=self.correlation_refs(corr, rule),
                    members=self.member_exprs(rule),
                )
            )
        group, value, _ = self.corr[id(corr)]
        spec = firstseen.spec_of(corr)
        if spec is not None:
            return firstseen_render.render_kql(spec, subs)
        return kql_correlation.render(corr, subs, group, value)

    def splunk_first_seen(self, corr: SigmaCorrelationRule, spec: firstseen.FirstSeen) -> str:
        """The SPL of a first-seen correlation (:mod:`.firstseen`)."""
        rule = kql_correlation.referenced(corr)[0]
        result = rule.get_conversion_result()
        if len(result) != 1:
            raise Unexpressible(f"referenced rule '{rule.title}' compiles to {len(result)} queries")
        refs = self.correlation_refs(corr, rule)
        search = str(result[0])
        for name in spec.keys:
            for step in refs[name].steps:
                if step.text not in search:
                    search += "\n| " + step.text
        return firstseen_render.render_spl(spec, search, {k: refs[k].name for k in spec.keys},
                                           members=self.spl_members(corr))

    # ------------------------------------------------------------------ run
    def backend(self) -> Any:
        pipe = self.pipeline()
        if self.target.is_kql:
            return StormKustoBackend(
                processing_pipeline=pipe, refs_for=self.refs_for, correlation=self.kql_correlation
            )
        return StormSplunkBackend(processing_pipeline=pipe, refs_for=self.refs_for, members=self.spl_members)

    def describe_source(self, ls_key: str) -> str:
        lt = self.target.logsources[ls_key]
        if self.target.is_kql:
            return f"{lt.table}" + (f" ({lt.filter})" if lt.filter else "")
        return lt.splunk_terms()

    def compiled(self, lr: LoadedRule, query: str) -> CompiledQuery:
        rule = lr.rule
        if isinstance(rule, SigmaCorrelationRule):
            subs = [r.rule for r in rule.rules or []]
            keys = list(dict.fromkeys(self.logsource[id(r)].key for r in subs))
            fields: dict[str, str] = {}
            for r in subs:
                assert isinstance(r, SigmaRule)
                for name, ref in self.correlation_refs(rule, r).items():
                    fields.setdefault(name, ref.name)
            logsource = "+".join(keys)
            table = " + ".join(dict.fromkeys(self.describe_source(k) for k in keys))
        else:
            refs = self.refs[id(rule)]
            keys = [self.logsource[id(rule)].key]
            logsource = keys[0]
            table = self.describe_source(logsource)
            fields = {f: r.name for f, r in refs.items()}
        tables = tuple(dict.fromkeys(t for k in keys if (t := self.target.logsources[k].table)))
        choice = self.target.source_of(logsource)
        level = getattr(rule, "level", None)
        name = output_name(lr, self.ruleset)
        return CompiledQuery(
            rule_id=lr.id,
            title=lr.title,
            level=str(level.name).lower() if level is not None else None,
            path=lr.path,
            stem=lr.stem,
            target=self.target.name,
            logsource=logsource,
            table=table,
            query=query,
            fields=fields,
            is_correlation=lr.is_correlation,
            name=name,
            tables=tables,
            source=choice.key if choice is not None else "",
            source_why=(f"{choice.title}: the default --{self.target.sources.option}"
                        if choice is not None and self.target.sources is not None
                        and choice.key == self.target.sources.default else ""),
        )

    def run(self) -> CompileResult:
        result = CompileResult(target=self.target.name)
        for lr in self.ruleset:
            if isinstance(lr.rule, SigmaRule):
                try:
                    self.prepare(lr)
                except CompileError as exc:
                    self.failed[id(lr.rule)] = _located(exc, lr)
            else:
                self.capture_correlation(lr.rule)
        for lr in self.ruleset:
            corr = lr.rule
            if isinstance(corr, SigmaCorrelationRule):
                try:
                    self.add_correlation_fields(corr)
                except CompileError as exc:
                    self.failed[id(corr)] = _located(exc, lr)
        backend = self.backend()
        for lr in self.ruleset:
            rule = lr.rule
            err = self.failed.get(id(rule))
            if err is None and isinstance(rule, SigmaCorrelationRule):
                bad = [r.rule for r in rule.rules or [] if id(r.rule) in self.failed]
                if bad:
                    err = CompileError(
                        "references rule(s) that do not compile for this target: "
                        + ", ".join(f"'{b.title}'" for b in bad),
                        Location(lr.path),
                        rule=lr.title,
                        target=self.target.name,
                    )
            if err is None:
                try:
                    spec = firstseen.spec_of(rule)
                    if spec is not None and not self.target.is_kql:
                        assert isinstance(rule, SigmaCorrelationRule)
                        queries = [self.splunk_first_seen(rule, spec)]
                    elif isinstance(rule, SigmaCorrelationRule):
                        queries = backend.convert_correlation_rule(rule)
                    else:
                        queries = backend.convert_rule(rule)
                except (SigmaError, StormpackError, NotImplementedError) as exc:
                    # pySigma's documented errors (sigma.exceptions; NotImplementedError from a
                    # backend method it leaves to subclasses) and ours (Unexpressible...): a
                    # construct this target cannot express. Anything else (AssertionError,
                    # TypeError, KeyError...) is a bug and escapes: the CLI reports it as one.
                    if isinstance(exc, CompileError):
                        err = _located(exc, lr)
                    elif isinstance(exc, StormpackError) and not isinstance(exc, SigmaError):
                        err = CompileError(
                            exc.message,
                            exc.location or Location(lr.path),
                            rule=lr.title,
                            target=self.target.name,
                        )
                    else:  # pySigma's message is args[0]; its str() appends " in <source>"
                        msg = str(exc.args[0]) if isinstance(exc, SigmaError) and exc.args else str(exc)
                        err = CompileError(msg, Location(lr.path), rule=lr.title, target=self.target.name)
                else:
                    if not queries:
                        result.not_generated.append(lr)
                    for q in queries:
                        text = str(q)
                        if (isinstance(rule, SigmaCorrelationRule) and not self.target.is_kql
                                and spec is None):
                            text = self.splunk_group_names(rule, text)
                        result.queries.append(self.compiled(lr, text))
                    continue
            self.failed[id(rule)] = err
            result.errors.append(err)
            result.skipped.append((lr, str(err)))
        return result


def compile_rules(
    rule_paths: Sequence[str | Path],
    target: str,
    values: Values | str | Path | None = None,
    sources: Sequence[str] | None = None,
    *,
    lists: ListReferences | None = None,
) -> CompileResult:
    """Compile every rule under `rule_paths` for `target` (one of TARGETS).

    `values` is a placeholder mapping, or a values file / directory (None: no placeholders);
    `lists` compiles the placeholders it names to a watchlist / lookup reference instead.
    `sources` names, in order, the choices of the target's source group the workspace has
    (Sentinel's ``--windows-source``; None: the default): each rule of the group is compiled to
    the first choice whose table has every field it uses (:func:`merge_sources`).
    Rule files that cannot be read raise RuleLoadError; per-rule problems land in `.skipped`.
    """
    if target not in TARGETS:
        raise CompileError(f"unknown target '{target}' (known: {', '.join(TARGETS)})", target=target)
    spec = load_target(target)
    vals = resolve_values(values)
    vsource = str(values) if isinstance(values, (str, Path)) else "the given values"
    choices = list(dict.fromkeys(sources or ()))
    if choices and spec.sources is None:
        raise CompileError(f"target {target} has no alternative sources to choose from", target=target)
    if not choices or (spec.sources is not None and choices == [spec.sources.default]):
        return _Compiler(load_ruleset(rule_paths), spec, vals, vsource, lists).run()
    per_source = [(c, _Compiler(load_ruleset(rule_paths), spec.with_source(c), vals, vsource, lists).run())
                  for c in choices]
    return merge_sources(spec, per_source)


def merge_sources(spec: TargetSpec, per_source: Sequence[tuple[str, CompileResult]]) -> CompileResult:
    """One result from a compilation per source choice (in the admin's order): rules outside the
    group as the first compiled them; a rule of the group as the first choice that compiled it,
    with the refusals of the choices before it as the reason; refused by every choice, the error
    names each choice's reason (the missing field or log source)."""
    assert spec.sources is not None
    group = set(spec.sources.logsources)
    taxonomy = load_taxonomy()

    def in_group(lr: LoadedRule) -> bool:
        rule = lr.rule
        if not isinstance(rule, SigmaRule):
            return False
        try:
            return taxonomy.logsource_for(rule.logsource, lr.title).key in group
        except TaxonomyError:
            return False

    first = per_source[0][1]
    out = CompileResult(target=first.target, not_generated=list(first.not_generated))
    by_id: list[tuple[str, dict[str, list[CompiledQuery]], dict[str, tuple[LoadedRule, str]],
                      dict[str, CompileError]]] = []
    for choice, res in per_source:
        queries: dict[str, list[CompiledQuery]] = {}
        for q in res.queries:
            queries.setdefault(q.rule_id, []).append(q)
        skipped = {lr.id: (lr, why) for lr, why in res.skipped}
        errors = {lr.id: err for (lr, _), err in zip(res.skipped, res.errors, strict=True)}
        by_id.append((choice, queries, skipped, errors))
    order: list[tuple[str, LoadedRule | None]] = []
    seen: set[str] = set()
    for q in first.queries:
        if q.rule_id not in seen:
            seen.add(q.rule_id)
            order.append((q.rule_id, None))
    for failed, _ in first.skipped:
        if failed.id not in seen:
            seen.add(failed.id)
            order.append((failed.id, failed))
    option = spec.sources.option
    for rid, maybe in order:
        grouped = maybe is None and any(q.logsource in group for q in by_id[0][1].get(rid, []))
        grouped = grouped or (maybe is not None and in_group(maybe))
        if not grouped:
            if rid in by_id[0][1]:
                out.queries.extend(by_id[0][1][rid])
            else:
                skipped_lr, why = by_id[0][2][rid]
                out.skipped.append((skipped_lr, why))
                out.errors.append(by_id[0][3][rid])
            continue
        refusals: list[str] = []
        for choice, queries, _, errors in by_id:
            if rid in queries:
                names = [c for c, *_ in by_id]
                why = (f"first of --{option} {','.join(names)} whose table has every field the rule uses"
                       + (" (" + "; ".join(refusals) + ")" if refusals else ""))
                out.queries.extend(replace(q, source_why=why) for q in queries[rid])
                break
            err = errors[rid]
            refusals.append(f"{choice}: " + (f"field '{err.field}' " if err.field else "") + err.message)
        else:
            skipped_lr, _ = by_id[0][2][rid]
            err = by_id[0][3][rid]
            merged = CompileError(
                f"no --{option} named can hold this rule: " + "; ".join(refusals),
                err.location,
                rule=err.rule,
                target=err.target,
            )
            out.skipped.append((skipped_lr, str(merged)))
            out.errors.append(merged)
    return out

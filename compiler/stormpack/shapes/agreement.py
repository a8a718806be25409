"""Agreement between the matcher and a compiled query: one rule, one target, one record.

:func:`target_rule` takes a fresh copy of a rule, applies the target's SHIPPED pipeline
(pipelines/<target>.yml, after the same CLI items ``stormpack compile`` puts in front: the CLI
flag, placeholder values, name/value field names) with pySigma, and compiles the mapped rule with
the matcher's own predicates over the target's column and alias names. :meth:`TargetRule.verdict`
evaluates it on a record derived for the target (:mod:`.derive`) after materialising the aliases
(:mod:`.materialise`) and applying the table filter / Splunk base search. The verdict must equal
the matcher's verdict on the source record; where it cannot, the difference is named in
stormpack/shapes/differences.yml.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation, SetStateTransformation
from sigma.rule import SigmaRule
from sigma.types import SigmaExists, SigmaNull, SigmaString, SpecialChars

from ..compiler.engine import iter_items
from ..compiler.pipeline_gen import CLI_STATE_KEY, load_pipeline_text
from ..compiler.placeholders import placeholder_items
from ..compiler.targets import FieldRef, LogsourceTarget, TargetSpec, load_target, resolve_for_rule
from ..matcher.conditions import ConditionCompiler, RecordPred, any_of
from ..matcher.fields import MISSING, Generation
from ..matcher.values import ValueContext
from ..ruleset import LoadedRule
from ..taxonomy import FieldSpec, LogsourceSpec, Taxonomy, load_taxonomy
from .derive import derive, filter_passes
from .forms import column_forms
from .kqlexpr import Uninterpretable
from .materialise import Materialise, declared_field, materialiser, present_column


def _pipeline(target: TargetSpec, ls: LogsourceSpec, refs: Mapping[str, FieldRef],
              values: dict[str, list[str]]) -> ProcessingPipeline:
    name_value = {f: r.name for f, r in refs.items() if r.kind == "name_value"}
    items: list[ProcessingItem] = [
        ProcessingItem(SetStateTransformation(CLI_STATE_KEY, True), identifier="stormpack_cli_flag"),
        *placeholder_items(),
    ]
    if name_value:
        items.append(ProcessingItem(FieldMappingTransformation(dict(sorted(name_value.items()))),
                                    identifier=f"stormpack_{ls.key}_name_value",
                                    rule_conditions=[LogsourceCondition(**ls.sigma_logsource)]))
    cli = ProcessingPipeline(items=items, vars=dict(values), name="stormpack_cli", priority=1)
    return cli + ProcessingPipeline.from_dict(copy.deepcopy(_shipped(target.name)))


@cache
def _shipped(target: str) -> dict[str, Any]:
    """The shipped pipeline file of a target, parsed once (a fresh pipeline is built per rule)."""
    data = yaml.load(load_pipeline_text(target), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert isinstance(data, dict)
    return data


def _derived_spec(ls: LogsourceSpec, refs: Mapping[str, FieldRef]) -> LogsourceSpec:
    """A log-source spec whose fields are the target's names (ip aliases stay ``ip``)."""
    fields: dict[str, FieldSpec] = {}
    for r in refs.values():
        ftype = "ip" if r.kind == "ip" else ("array" if r.kind == "array" else "string")
        fields[r.name] = FieldSpec(name=r.name, type=ftype, description=r.source)  # type: ignore[arg-type]
    return LogsourceSpec(key=ls.key, product=ls.product, service=ls.service, category=ls.category,
                         title=ls.title, timestamp=ls.timestamp, event_id=ls.event_id,
                         recognise={}, fields=fields)


@dataclass
class TargetRule:
    """A rule as one target's pipeline maps it, runnable on derived rows."""

    target: TargetSpec
    lt: LogsourceTarget
    logsource: LogsourceSpec
    predicate: RecordPred
    materialisers: list[Materialise]
    refs: Mapping[str, FieldRef]
    generation: Generation

    def row(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The derived row of a source record with this rule's aliases materialised."""
        row = derive(self.target.name, self.logsource.key, record).row
        for m in self.materialisers:
            m(row)
        return row

    def verdict(self, record: Mapping[str, Any]) -> bool:
        """The compiled query's verdict on the record as the target stores it."""
        row = self.row(record)
        if self.target.is_kql:
            if not filter_passes(self.lt, row):
                return False
        elif self.lt.category is not None and not _same_text(row.get("category"), self.lt.category):
            return False
        self.generation.n += 1  # the matcher's per-record memos hold for one generation
        return self.predicate(row)


class KqlConditionCompiler(ConditionCompiler):
    """The matcher's predicates with Kusto's reading of ``null`` and ``|exists``: the backend
    compiles a string field's ``null`` to ``isempty()`` and ``|exists`` to ``isnotempty()``;
    ``isempty()`` is true for null and for ``""``
    (https://learn.microsoft.com/en-us/kusto/query/isempty-function,
    https://learn.microsoft.com/en-us/kusto/query/isnotempty-function), and a string column is
    never null, so ``""`` is how a row says "no value". Every other leaf is the matcher's."""

    def __init__(self, *args: Any, presence: frozenset[str] = frozenset(), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.presence = presence  # name/value aliases: bag_has_key() is known on the row

    def _present_and_empty(self, field: str) -> RecordPred:
        """'' on a name/value element: ``(bag_has_key(bag, "X") and X == "")``."""
        read, flag = self.reader(field), present_column(field)
        return lambda r: r.get(flag) is True and read(r) == ""

    def _set_leaf(self, field: str, vals: frozenset[str]) -> RecordPred:
        """A value list (pySigma's OR of field=value) holding ''."""
        if field not in self.presence or "" not in vals:
            return super()._set_leaf(field, vals)
        empty = self._present_and_empty(field)
        if vals == {""}:
            return empty
        rest = super()._set_leaf(field, vals - {""})
        return lambda r: empty(r) or rest(r)

    def field_leaf(self, field: str, value: Any) -> RecordPred:
        if isinstance(value, SigmaString) and not value.s and field in self.presence:
            return self._present_and_empty(field)
        if isinstance(value, SigmaString) and len(value.s) == 1 and value.s[0] is SpecialChars.WILDCARD_MULTI:
            # '*' alone: `isnotempty(X)` (Kusto has no null strings: "any value" is "not empty")
            empty = self._empty(field)
            return lambda r: not empty(r)
        if isinstance(value, SigmaExists):
            empty = self._empty(field)
            if value.exists:
                return lambda r: not empty(r)
            return empty
        if isinstance(value, SigmaNull):
            return self._empty(field)
        return super().field_leaf(field, value)

    def _empty(self, field: str) -> RecordPred:
        read = self.reader(field)

        def is_empty(r: Mapping[str, Any]) -> bool:
            v = read(r)
            if v is MISSING or v is None or v == "":
                return True
            if v.__class__ is list:  # an array alias: `array_length(list) == 0`
                return len(v) == 0
            return False
        return is_empty


def _same_text(value: Any, text: str) -> bool:
    return isinstance(value, str) and value.lower() == text.lower()


def target_rule(lr: LoadedRule, target_name: str, values: dict[str, list[str]],
                taxonomy: Taxonomy | None = None) -> TargetRule:
    """Map a fresh copy of a single-event rule with the target's pipeline and compile it.

    Raises the compiler's errors when the rule does not compile for the target, and
    :class:`~.kqlexpr.Uninterpretable` when a field form cannot be interpreted in Python.
    """
    tax = taxonomy or load_taxonomy()
    rule = copy.deepcopy(lr.rule)
    assert isinstance(rule, SigmaRule)
    target = load_target(target_name)
    ls = tax.logsource_for(rule.logsource, lr.title)
    lt = target.logsource(ls.key, lr.title)
    fields = list(dict.fromkeys(i.field for i in iter_items(rule) if i.field is not None))
    refs = resolve_for_rule(target, ls, fields, lr.title)
    if target.is_kql:  # the row must be derivable for every field the rule reads
        _, bad = column_forms(lt, tax)
        for f in fields:
            reason = bad.get(declared_field(lt, f))
            if reason is not None:
                raise Uninterpretable(f"cannot derive the {lt.table} row for {f}: {reason}")
    mats = [materialiser(target, lt, tax, r) for r in refs.values()]
    _pipeline(target, ls, refs, values).apply(rule)
    generation = Generation()
    spec, ctx = _derived_spec(ls, refs), ValueContext(lr.title, values)
    cc = (KqlConditionCompiler(spec, tax, ctx, generation=generation,
                               presence=frozenset(r.name for r in refs.values() if r.presence))
          if target.is_kql else ConditionCompiler(spec, tax, ctx, generation=generation))
    predicate = any_of([cc.compile(c.parse()) for c in rule.detection.parsed_condition])
    return TargetRule(target, lt, ls, predicate, mats, refs, generation)

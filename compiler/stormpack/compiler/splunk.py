"""Our Splunk (SPL) backend: pySigma-backend-splunk 2.1.0 with stormpack's fixes.

* The base search (index/sourcetype/category, or an admin's macro) always comes first: the
  pipeline template prepends it, so no query (and no correlation sub-search) starts with `| rex`.
  Upstream's "move leading field=value terms before the rex" fix-up is therefore switched off.
* Aliases (normalised addresses, name/value elements) are `| eval`ed after the base search and the
  condition follows as `| search`, so they compare like any field.
* Field names with `{}` (JSON arrays: `Parameters{}.Name`) stay unquoted; SPL search matches a
  multivalue field when ANY value matches, which is the taxonomy's array semantics.
* `|re` on an array field fails (`regex` would test the values joined, not each element).
* `|cidr` compares the normalised address: `F="10.0.0.0/8"` is a CIDR match in `search`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from sigma.backends.splunk.splunk import SplunkBackend
from sigma.conditions import ConditionFieldEqualsValueExpression, ConditionValueExpression
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.correlations import (
    SigmaCorrelationFieldAliases,
    SigmaCorrelationRule,
    SigmaCorrelationType,
    SigmaRuleReference,
)
from sigma.rule import SigmaRule
from sigma.types import SigmaString, SpecialChars

from ..syntax import SPL
from .kql_correlation import threshold
from .kusto import Unexpressible
from .refbackend import FieldRefBackend


def splunk_rename(query: str, renames: dict[str, str]) -> str:
    """``query`` followed by ``| rename`` of each computed column to its written name (quoted when
    the name is not a plain word); unchanged when there is nothing to rename."""
    if not renames:
        return query
    q = SPL.word_field
    return query + "\n| rename " + ", ".join(f"{q(c)} AS {q(n)}" for c, n in renames.items())


class StormSplunkBackend(FieldRefBackend, SplunkBackend):
    name: ClassVar[str] = "stormpack Splunk backend"
    finalize_correlation_subqueries = True
    field_quote_pattern: ClassVar[re.Pattern[str]] = re.compile(r"^[\w.{}]+$")
    # upstream returns no query at all when every ANDed part is a deferred `| regex`
    empty_and_expression: ClassVar[str] = "*"
    prefilter_format: ClassVar[str] = " {}"
    prefilter_dialect: ClassVar[str] = "spl"

    def finalize_query_default(
        self, rule: SigmaRule | SigmaCorrelationRule, query: str, index: int, state: ConversionState
    ) -> str:
        # the base search is prepended by the pipeline template, so upstream's reordering is not needed
        out = TextQueryBackend.finalize_query_default(self, rule, query, index, state)  # type: ignore[arg-type]
        if isinstance(rule, SigmaRule) and rule.fields:
            out = f"{out}\n| table " + ",".join(rule.fields)
        return str(out)

    def __init__(
        self, *args: Any,
        members: Callable[[SigmaCorrelationRule], Mapping[str, tuple[str, ...]]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._members = members or (lambda rule: {})

    # ------------------------------------------------------------------ correlations
    def convert_correlation_search_field_normalization_expression(
        self, aliases: SigmaCorrelationFieldAliases, rule_reference: SigmaRuleReference
    ) -> str:
        """Each alias as an ``eval`` COPY of its field (upstream: ``rename``, which removes the
        field): the member columns still read the original field afterwards (the app alias of a
        mail read is ClientAppId, also its member app). Eval:
        https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Eval."""
        copies = [f"{SPL.eval_name(alias.alias)}={SPL.eval_ref(fname)}"
                  for alias in aliases for ref, fname in alias.mapping.items() if ref == rule_reference]
        return " | eval " + ", ".join(copies) if copies else ""

    def _convert_correlation(
        self, rule: SigmaCorrelationRule, output_format: str | None = None, method: str = "stats"
    ) -> list[str]:
        return [self._sliding(rule)]

    # every correlation type is the one sliding-window search
    convert_correlation_event_count_rule = _convert_correlation
    convert_correlation_value_count_rule = _convert_correlation
    convert_correlation_temporal_rule = _convert_correlation
    convert_correlation_temporal_ordered_rule = _convert_correlation

    def _sliding(self, rule: SigmaCorrelationRule) -> str:
        """A correlation over SLIDING windows (docs/compiler.md, "Correlation windows"): after
        ``sort 0 _time`` (ascending, no result limit), ``streamstats time_window=<timespan> ...
        by <group>`` computes, for every event, the count / distinct count / first time and the
        member sets over the events of its group in the timespan that ends at it; the group
        fires at its first event whose window satisfies the condition (``dedup`` keeps the first
        result per group). Group values are lower-cased (case-insensitive grouping, as the
        matcher's). temporal_ordered (two rules A, B): the window of a B event holds an A event
        strictly earlier. Commands: https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Sort,
        .../Streamstats, .../Dedup."""
        ctype = rule.type
        search = self.convert_correlation_search(rule)
        span = self.convert_timespan(rule.timespan, "stats")
        group = [str(g) for g in (rule.group_by or [])]
        if not group:
            raise Unexpressible("a correlation without group-by is not supported for SPL here")
        keys = " ".join(SPL.field(g) for g in group)
        evals = [f"{SPL.eval_name(g)}={SPL.lower(SPL.eval_ref(g))}" for g in group]
        members = self._members(rule)
        for role, col in (("address", "stormpack_address"), ("app", "stormpack_app")):
            exprs = members.get(role, ())
            if exprs:
                evals.append(f"{col}={SPL.coalesce(exprs)}")
        member_aggs = ("values(stormpack_address) as addresses values(stormpack_app) as apps "
                       "min(_time) as first_time")
        tail = ["| eval last_time=_time",
                f"| table {keys} {{metric}} first_time last_time addresses apps"]
        if ctype == SigmaCorrelationType.TEMPORAL_ORDERED:
            refs = rule.rules or []
            if len(refs) != 2:
                raise Unexpressible(
                    "temporal_ordered with more than two rules cannot be expressed exactly in SPL here")
            template = self.correlation_search_multi_rule_query_expression
            first, second = (self.convert_correlation_ruleid(r.rule.name or r.rule.id, template)
                             for r in refs)
            evals.append(f"stormpack_first=if({SPL.term('event_type', first)}, _time, null())")
            body = [f"| streamstats time_window={span} min(stormpack_first) as stormpack_first_time "
                    f"dc(event_type) as rule_count {member_aggs} by {keys}",
                    f"| where {SPL.term('event_type', second)} AND stormpack_first_time < _time"]
            metric = "rule_count"
        else:
            need = threshold(rule)
            if ctype == SigmaCorrelationType.EVENT_COUNT:
                metric, agg = "event_count", "count as event_count"
            elif ctype == SigmaCorrelationType.VALUE_COUNT:
                cond = rule.condition
                fr = getattr(cond, "fieldref", None)
                value = fr if isinstance(fr, str) else fr[0] if fr else None
                if not value:
                    raise Unexpressible("value_count correlation needs condition.field")
                evals.append(f"stormpack_value={SPL.lower(SPL.eval_ref(str(value)))}")
                metric, agg = "value_count", "dc(stormpack_value) as value_count"
            elif ctype == SigmaCorrelationType.TEMPORAL:
                metric, agg = "event_type_count", "dc(event_type) as event_type_count"
            else:
                raise Unexpressible(f"correlation type {ctype} is not supported for SPL")
            body = [f"| streamstats time_window={span} {agg} {member_aggs} by {keys}",
                    f"| where {metric} >= {need}"]
        lines = [search.rstrip(), "", "| eval " + ", ".join(evals), "| sort 0 _time", *body,
                 f"| dedup {keys}", *(t.format(metric=metric) for t in tail)]
        return "\n".join(lines)

    def convert_condition_field_eq_val_re(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        ref = self._by_name.get(cond.field or "")
        if ref is not None and ref.kind == "array":
            raise Unexpressible(
                f"|re on array field {ref.field}: SPL regex cannot test each element of a multivalue field"
            )
        return super().convert_condition_field_eq_val_re(cond, state)

    def convert_condition_val_str(self, cond: ConditionValueExpression, state: ConversionState) -> Any:
        value = cond.value
        assert isinstance(value, SigmaString)
        if any(p is SpecialChars.WILDCARD_SINGLE for p in value.s):
            raise Unexpressible("SPL search terms have no single-character wildcard")
        return super().convert_condition_val_str(cond, state)

    def convert_value_str(self, s: SigmaString, state: ConversionState) -> str:
        if any(p is SpecialChars.WILDCARD_SINGLE for p in s.s):
            raise Unexpressible("SPL search terms have no single-character wildcard ('?' in a value)")
        if any(isinstance(p, str) and "*" in p for p in s.s):
            raise Unexpressible("SPL search terms cannot match a literal '*' (escaped \\* in a value)")
        return str(super().convert_value_str(s, state))

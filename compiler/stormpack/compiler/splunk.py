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
from typing import Any, ClassVar

from sigma.backends.splunk.splunk import SplunkBackend
from sigma.conditions import ConditionFieldEqualsValueExpression, ConditionValueExpression
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule
from sigma.types import SigmaString, SpecialChars

from .kusto import Unexpressible
from .refbackend import FieldRefBackend


def splunk_rename(query: str, renames: dict[str, str]) -> str:
    """``query`` followed by ``| rename`` of each computed column to its written name (quoted when
    the name is not a plain word); unchanged when there is nothing to rename."""
    if not renames:
        return query
    def q(name: str) -> str:
        return name if re.fullmatch(r"\w+", name) else f'"{name}"'
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

    def convert_correlation_temporal_ordered_rule(
        self, rule: SigmaCorrelationRule, output_format: str | None = None, method: str = "stats"
    ) -> list[str]:
        """Two rules in order: the first rule's earliest event before the second's latest, per window.

        ``bin _time`` overwrites ``_time`` with its bucket, so the event times are kept in
        ``stormpack_time`` first: min/max of the binned ``_time`` are equal within a bucket and
        ``first_time < last_time`` could never hold (found by the SPL executor, issue #9)."""
        refs = rule.rules or []
        if len(refs) != 2:
            raise Unexpressible(
                "temporal_ordered with more than two rules cannot be expressed exactly in SPL here"
            )
        template = self.correlation_search_multi_rule_query_expression
        first, second = (self.convert_correlation_ruleid(r.rule.name or r.rule.id, template) for r in refs)
        search = self.convert_correlation_search(rule)
        span = self.convert_timespan(rule.timespan, method)
        groupby = self.convert_correlation_aggregation_groupby_from_template(rule.group_by, "stats")
        return [
            f"{search}\n\n| eval stormpack_time=_time\n| bin _time span={span}\n"
            f'| stats min(eval(if(event_type="{first}", stormpack_time, null()))) as first_time '
            f'max(eval(if(event_type="{second}", stormpack_time, null()))) as last_time by _time{groupby}\n\n'
            "| where isnotnull(first_time) AND isnotnull(last_time) AND first_time < last_time"
        ]

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

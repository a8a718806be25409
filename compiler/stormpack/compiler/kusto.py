"""Our Kusto (KQL) backend: pySigma-backend-kusto 1.0.1 with the constructs it gets wrong fixed.

* field names are never quoted as string literals (`'A.b'` is a constant): identifiers stay bare,
  anything else becomes `['name']`;
* `null` is `isempty()` on strings (Kusto strings are never null), `isnull()` on other types;
* keywords become `* has "x"` (upstream emits `"a" or "b"`, which is invalid KQL);
* a wildcard inside a value becomes a case-insensitive anchored regex (upstream: case-sensitive,
  or order-losing `contains` pairs inside lists);
* `|cidr` uses ipv4_is_in_range / ipv6_is_in_range by the network's version, on normalised addresses;
* booleans compare as `== true` on bool columns and as text on string columns;
* array fields have any-element semantics over a "\\nA\\nB\\n" alias; operators that cannot be
  expressed exactly fail;
* `|all` on plain values stays `and`ed equality (upstream's `has_all` is a term match);
* correlation rules (event_count, value_count, temporal, temporal_ordered) are rendered by
  :mod:`stormpack.compiler.kql_correlation`.

The table and the alias-defining steps are prepended by the pipeline's postprocessing template;
this backend hands it the exact steps of the fields a rule uses as `stormpack_prelude`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from sigma.backends.kusto.kusto import KustoBackend
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationRule
from sigma.types import (
    SigmaBool,
    SigmaCIDRExpression,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SpecialChars,
)

from ..errors import Unexpressible as Unexpressible
from ..syntax import KQL
from .refbackend import FieldRefBackend
from .targets import FieldRef


def sigma_string_to_regex(s: SigmaString, any_char: str = ".", anchor: bool = True) -> str:
    """Regex (RE2 syntax) for a Sigma string with wildcards, anchored unless told otherwise."""
    parts: list[str] = []
    for p in s.s:
        if p is SpecialChars.WILDCARD_MULTI:
            parts.append(any_char + "*")
        elif p is SpecialChars.WILDCARD_SINGLE:
            parts.append(any_char)
        elif isinstance(p, str):
            parts.append(re.escape(p))
        else:
            raise Unexpressible(f"placeholder {p} left in value")
    body = "".join(parts)
    return "^" + body + "$" if anchor else body


def _plain(s: SigmaString) -> str:
    return "".join(p for p in s.s if isinstance(p, str))


def _has_inner_wildcard(s: SigmaString) -> bool:
    inner = s.s[1:-1] if len(s.s) > 2 else ()
    specials = [p for p in s.s if not isinstance(p, str)]
    if any(not isinstance(p, str) for p in inner):
        return True
    return any(p is SpecialChars.WILDCARD_SINGLE for p in specials)


class StormKustoBackend(FieldRefBackend, KustoBackend):
    name: ClassVar[str] = "stormpack Kusto backend"
    identifier: ClassVar[str] = "kusto"
    finalize_correlation_subqueries = True
    convert_and_as_in: ClassVar[bool] = False
    field_null_expression: ClassVar[str] = KQL.is_empty("{field}")
    prefilter_format: ClassVar[str] = "\n| where {}"
    prefilter_dialect: ClassVar[str] = "kql"

    def __init__(
        self,
        *args: Any,
        refs_for: Callable[[Any], Mapping[str, FieldRef]] | None = None,
        correlation: Callable[[SigmaCorrelationRule], str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, refs_for=refs_for, **kwargs)
        self._correlation = correlation


    # ---------------------------------------------------------------- fields
    def escape_and_quote_field(self, field_name: str) -> str:
        return KQL.ident(field_name)

    # ---------------------------------------------------------------- strings
    def convert_value_str(self, s: SigmaString | SigmaNumber, state: ConversionState) -> str:
        # upstream escapes only backslash and quote; a raw line break would end the literal
        return KQL.escape_line_breaks(str(super().convert_value_str(s, state)))

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        ref = self._ref(cond.field)
        value = cond.value
        assert isinstance(value, SigmaString)
        field = self.escape_and_quote_field(cond.field)
        if ref is not None and ref.kind == "array":
            return self._array_str(field, value)
        if not value.s and ref is not None and ref.presence is not None:
            # '' is "present and empty": a missing name/value element reads as "" after tostring()
            return f"({ref.presence} and {field} == {KQL.string('')})"
        if len(value.s) == 1 and value.s[0] is SpecialChars.WILDCARD_MULTI:
            # '*' alone: any value; Kusto has no null strings, so "any" means "not empty"
            return KQL.is_not_empty(field)
        if ref is not None and ref.type not in ("string", "dynamic"):
            if ref.type in ("int", "long", "real") and not value.contains_special():
                return f"{field} == {self._number_literal(_plain(value), cond.field)}"
            if value.contains_special():
                return f"tostring({field}) matches regex {KQL.string('(?i)' + sigma_string_to_regex(value))}"
            return f"tostring({field}) =~ {self.convert_value_str(value, state)}"
        if _has_inner_wildcard(value):
            return f"{field} matches regex {KQL.string('(?i)' + sigma_string_to_regex(value))}"
        return super().convert_condition_field_eq_val_str(cond, state)

    def _number_literal(self, text: str, field: str | None) -> str:
        if not re.fullmatch(r"-?\d+", text):
            raise Unexpressible(f"value '{text}' is not a number but field {field} is numeric here")
        return text

    def _array_str(self, field: str, value: SigmaString) -> str:
        sep = KQL.array_sep
        text = _plain(value)
        if "\n" in text:
            raise Unexpressible("array values must not contain a line break")
        specials = [p for p in value.s if not isinstance(p, str)]
        starts = bool(value.s) and value.s[0] is SpecialChars.WILDCARD_MULTI
        ends = bool(value.s) and value.s[-1] is SpecialChars.WILDCARD_MULTI
        if not specials:
            return f"{field} contains {KQL.string_raw(sep + KQL.escape(text) + sep)}"
        if _has_inner_wildcard(value) or len(specials) > 2:
            rx = sigma_string_to_regex(value, any_char="[^\\n]", anchor=False)
            rx_full = "(?i)(^|\\n)" + rx + "(\\n|$)"
            return f"{field} matches regex {KQL.string(rx_full)}"
        if starts and ends:
            return f"{field} contains {KQL.string(text)}"
        if ends:
            return f"{field} contains {KQL.string_raw(sep + KQL.escape(text))}"
        return f"{field} contains {KQL.string_raw(KQL.escape(text) + sep)}"

    # ---------------------------------------------------------------- lists
    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> Any:
        args = cond.args
        first = args[0]
        assert isinstance(first, ConditionFieldEqualsValueExpression)
        ref = self._ref(first.field)
        plain = all(
            isinstance(a, ConditionFieldEqualsValueExpression)
            and isinstance(a.value, SigmaString)
            and not a.value.contains_special()
            for a in args
        )
        if (
            isinstance(cond, ConditionOR)
            and plain
            and (ref is None or ref.type in ("string",))
            and (ref is None or ref.kind != "array")
            and (ref is None or ref.presence is None or all(a.value.s for a in args))  # type: ignore[union-attr]
        ):
            return super().convert_condition_as_in_expression(cond, state)
        token = f" {self.or_token if isinstance(cond, ConditionOR) else self.and_token} "
        parts = [str(self.convert_condition(a, state)) for a in args]
        return "(" + token.join(parts) + ")"

    def decide_convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> bool:
        ok: bool = super().decide_convert_condition_as_in_expression(cond, state)
        if not ok:
            return False
        # numbers, and any list on a non-string column, are rendered one by one
        return all(
            isinstance(a, ConditionFieldEqualsValueExpression) and isinstance(a.value, SigmaString)
            for a in cond.args
        )

    # ---------------------------------------------------------------- numbers / booleans
    def convert_condition_field_eq_val_num(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        ref = self._ref(cond.field)
        field = self.escape_and_quote_field(cond.field)
        if ref is not None and ref.kind == "array":
            return self._array_str(field, SigmaString(str(cond.value)))
        if ref is not None and ref.type in ("string", "dynamic"):
            return (
                f"{field} == {KQL.string(str(cond.value))}"
                if ref.type == "string"
                else f"tostring({field}) == {KQL.string(str(cond.value))}"
            )
        return f"{field} == {cond.value}"

    def convert_condition_field_eq_val_bool(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        ref = self._ref(cond.field)
        field = self.escape_and_quote_field(cond.field)
        assert isinstance(cond.value, SigmaBool)
        text = "true" if cond.value.boolean else "false"
        if ref is not None and ref.type == "bool":
            return f"{field} == {text}"
        if ref is not None and ref.type in ("int", "long"):
            return f"{field} == {1 if cond.value.boolean else 0}"
        if ref is not None and ref.kind == "array":
            return self._array_str(field, SigmaString(text))
        return f"{field} =~ {KQL.string(text)}"

    # ---------------------------------------------------------------- null / exists
    def convert_condition_field_eq_val_null(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        ref = self._ref(cond.field)
        field = self.escape_and_quote_field(cond.field)
        if ref is not None and ref.kind == "array" and ref.list_name:
            return f"array_length({ref.list_name}) == 0"
        if ref is not None and ref.type not in ("string",):
            return KQL.is_null(field)
        return KQL.is_empty(field)

    def convert_condition_field_exists(self, cond: Any, state: ConversionState) -> Any:
        ref = self._ref(cond.field)
        if ref is not None and ref.kind == "array" and ref.list_name:
            return f"array_length({ref.list_name}) > 0"
        return super().convert_condition_field_exists(cond, state)

    def convert_condition_field_not_exists(self, cond: Any, state: ConversionState) -> Any:
        ref = self._ref(cond.field)
        if ref is not None and ref.kind == "array" and ref.list_name:
            return f"array_length({ref.list_name}) == 0"
        return super().convert_condition_field_not_exists(cond, state)

    # ---------------------------------------------------------------- regex / cidr
    def convert_condition_field_eq_val_re(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        ref = self._ref(cond.field)
        if ref is not None and ref.kind == "array":
            raise Unexpressible(
                f"|re on array field {ref.field}: any-element regex matching cannot be "
                "expressed exactly in KQL"
            )
        assert isinstance(cond.value, SigmaRegularExpression)
        out = super().convert_condition_field_eq_val_re(cond, state)
        return KQL.escape_line_breaks(out) if isinstance(out, str) else out

    def convert_condition_field_eq_val_cidr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        ref = self._ref(cond.field)
        if ref is not None and ref.kind != "ip":
            raise Unexpressible(f"|cidr needs an ip field; {ref.field} is {ref.taxonomy_type}")
        value = cond.value
        assert isinstance(value, SigmaCIDRExpression)
        net = value.network
        return KQL.ip_in_range(net.version, self.escape_and_quote_field(cond.field), net.with_prefixlen)

    # ---------------------------------------------------------------- keywords
    def convert_condition_val_str(self, cond: ConditionValueExpression, state: ConversionState) -> Any:
        value = cond.value
        assert isinstance(value, SigmaString)
        if _has_inner_wildcard(value):
            raise Unexpressible("a keyword with a wildcard inside the value cannot be searched in KQL")
        return f"* has {KQL.string(_plain(value))}"

    def convert_condition_val_num(self, cond: ConditionValueExpression, state: ConversionState) -> Any:
        return f"* has {KQL.string(str(cond.value))}"

    def convert_condition_val_re(self, cond: ConditionValueExpression, state: ConversionState) -> Any:
        raise Unexpressible("a regular expression without a field (keyword |re) cannot be expressed in KQL")

    # ---------------------------------------------------------------- correlations
    def _correlate(self, rule: SigmaCorrelationRule) -> list[str]:
        if self._correlation is None:
            raise Unexpressible("correlation rules need `stormpack compile`")
        return [self._correlation(rule)]

    def _convert_correlation(
        self, rule: SigmaCorrelationRule, output_format: str | None = None, method: str = "default"
    ) -> list[str]:
        return self._correlate(rule)

    # every correlation type is the one stormpack correlation
    convert_correlation_event_count_rule = _convert_correlation
    convert_correlation_value_count_rule = _convert_correlation
    convert_correlation_temporal_rule = _convert_correlation
    convert_correlation_temporal_ordered_rule = _convert_correlation

    correlation_methods: ClassVar[dict[str, str]] = {
        "default": "stormpack KQL correlation (sliding windows: a row_cumsum sweep per group)"
    }
    default_correlation_method: ClassVar[str] = "default"

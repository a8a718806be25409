"""Prefilters never reject a record the unfiltered query accepts (issue 10 point 9).

The needle of a Sigma value (compiler/terms.py) must be found by Kusto's `has` (the KQL executor's
implementation of the documented term semantics) in the raw text of every record whose field
matches the value: the value itself (a plain column), the value inside a JSON document (however
the serialiser escapes it), or a computed address with white space around it. Property-tested over
values mixing letters, digits, separators, underscores, quotes and non-ASCII characters.
"""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st
from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionNOT, ConditionOR
from sigma.types import SigmaNumber, SigmaString, SpecialChars

from stormpack.compiler.prefilter import derived_prefilter, required_atoms
from stormpack.compiler.targets import FieldRef, Step
from stormpack.compiler.terms import needle
from stormpack.execute.kql.values import has

ALPHABET = "aZq09 .-:_/\"'<>&+,;=@()[]\u2013\u00e9\t"
literal = st.text(alphabet=ALPHABET, min_size=0, max_size=12)
pattern = st.lists(st.one_of(literal, st.just(SpecialChars.WILDCARD_MULTI)), min_size=1, max_size=5)


def _sigma(parts: list[object]) -> SigmaString:
    s = SigmaString("")
    s.s = tuple(p for p in parts if p != "")
    return s


def _instance(parts: list[object], fills: list[str]) -> str:
    out, k = [], 0
    for p in parts:
        if isinstance(p, str):
            out.append(p)
        else:
            out.append(fills[k % len(fills)] if fills else "")
            k += 1
    return "".join(out)


def _net_escape(text: str) -> str:
    """JSON as System.Text.Json writes it by default: <, >, &, ', + and non-ASCII as \\uXXXX."""
    body = json.dumps(text, ensure_ascii=True)
    return re.sub(r"[<>&'+]", lambda m: f"\\u{ord(m.group(0)):04x}", body)


@given(pattern, st.lists(literal, max_size=4))
def test_needle_is_found_in_every_raw_form_of_a_matching_value(parts: list[object], fills: list[str]) -> None:
    value = _sigma(parts)
    record = _instance(list(value.s), fills)
    raws = [
        record,                                                     # a plain column
        json.dumps({"Name": "N", "Value": record}),                 # JSON, UTF-8
        json.dumps([{"Value": record}], ensure_ascii=True),         # JSON, \\u escapes
        _net_escape(record),                                        # JSON, .NET default escaping
        json.dumps(record).replace("/", "\\/"),                     # JSON with escaped solidus
    ]
    n = needle(value)
    if n is not None:
        for raw in raws:
            assert has(raw, n), (record, raw, n)
    term = needle(value, single_term=True)
    if term is not None:
        assert re.fullmatch(r"[A-Za-z0-9]+", term)
        for raw in raws:
            assert has(raw, term), (record, raw, term)


@given(pattern, st.lists(literal, max_size=4), st.sampled_from(["", " ", "\t", "\n "]))
def test_unanchored_needle_survives_white_space_around_a_computed_value(
    parts: list[object], fills: list[str], ws: str
) -> None:
    value = _sigma(parts)
    record = _instance(list(value.s), fills)
    n = needle(value, anchored=False)
    if n is not None:
        for raw in (json.dumps(ws + record + ws), "[" + record + "]:443", "::ffff:" + record):
            assert has(raw, n), (record, raw, n)


def test_needles_of_typical_values() -> None:
    assert needle(SigmaString("Set-Mailbox")) == "Set-Mailbox"
    assert needle(SigmaString("*Mail.Read*")) is None  # both terms may be parts of longer terms
    assert needle(SigmaString("*EWS.AccessAsUser.All*")) == "AccessAsUser"
    assert needle(SigmaString("Update application *")) == "Update application"
    assert needle(SigmaString("full_access_as_app")) is None  # "_" is no proven boundary
    assert needle(SigmaString("195.26.87.219")) == "195.26.87.219"
    assert needle(SigmaString("195.26.87.219"), anchored=False) == "26.87"
    assert needle(SigmaString("Set-Mailbox"), single_term=True) == "Mailbox"
    assert needle(SigmaNumber(50126)) == "50126"
    assert needle(SigmaString("*")) is None


def _ref(name: str, kind: str, source: str = "", steps: tuple[Step, ...] = ()) -> FieldRef:
    return FieldRef(field=name, target="sentinel", logsource="m365_audit", kind=kind,  # type: ignore[arg-type]
                    name=name, type="string", taxonomy_type="string", steps=steps, source=source)


NV = (Step("bag:P", "mv-apply __nv = parse_json(Parameters) on (summarize P_bag = make_bag(x))"),
      Step("nv:P_A", 'extend P_A = tostring(P_bag["A"])'))
REFS = {
    "Operation": _ref("Operation", "column"),
    "P_A": _ref("P_A", "name_value", steps=NV),
    "P_B": _ref("P_B", "name_value", steps=NV),
}


def _eq(field: str, value: str) -> ConditionFieldEqualsValueExpression:
    return ConditionFieldEqualsValueExpression(field, SigmaString(value))


def test_required_atoms_follow_and_or_not() -> None:
    a, b, none = _eq("P_A", "Alpha"), _eq("P_B", "Beta"), _eq("P_B", "*x*")
    both = {("Parameters", "Alpha"), ("Parameters", "Beta")}
    assert required_atoms(ConditionOR([a, b]), REFS, True) == both
    assert required_atoms(ConditionOR([a, none]), REFS, True) is None  # one branch needs no term
    assert required_atoms(ConditionAND([none, a]), REFS, True) == {("Parameters", "Alpha")}
    assert required_atoms(ConditionNOT([a]), REFS, True) is None


def test_derived_prefilter_prefers_the_values_of_a_plain_column() -> None:
    branches = ConditionOR([ConditionAND([_eq("Operation", "New-InboxRule"), _eq("P_A", "Alpha")]),
                            ConditionAND([_eq("Operation", "Set-InboxRule"), _eq("P_B", "Beta")])])
    ops = 'Operation in~ ("new-inboxrule", "set-inboxrule")'
    assert derived_prefilter([branches], REFS, kql=True) == ops
    only_nv = ConditionOR([_eq("P_A", "Alpha"), _eq("P_B", "Beta")])
    assert derived_prefilter([only_nv], REFS, kql=True) == 'Parameters has_any ("Alpha", "Beta")'
    assert derived_prefilter([only_nv], REFS, kql=False) == "(Alpha OR Beta)"

"""Hostile rule values: whatever text a rule holds ends up as exactly that literal in every compiled
query, never as query syntax, and the matcher agrees (issue 6, part 1 and the acceptance test).

Property-based and batched: one hypothesis example is a batch of values; each value becomes one
rule per detection kind (field: value, |contains, |startswith, |endswith, |re, a list, a keyword),
written as a real rule file and compiled by `compile_rules` for every target. Each KQL query is
parsed by Microsoft's Kusto.Language parser (one node process per target and batch) and must be
the baseline pipeline plus a single `where` holding one comparison whose decoded string literal is
the rule's value; each SPL search is decoded (`stormpack.querycheck.spl`) and must hold one term
whose decoded value is the rule's value with exactly the wildcards the modifier implies, or the
rule must be refused with a clear CompileError when SPL search terms cannot express the value
(a literal `*`). The matcher must match a record holding the literal and not a near variant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from hostile_support import (
    FIELD,
    KINDS,
    KQL_OP,
    Case,
    compile_cases,
    kql_literal_values,
    kql_operators,
    kql_single_comparison,
    near_variants,
    spl_expected_pattern,
    spl_shape,
    spl_term_values,
    write_cases,
)
from stormpack.compiler import CompileResult, compile_rules
from stormpack.matcher import Engine
from stormpack.querycheck import KqlReport, check_kql
from stormpack.querycheck.schema import Target
from stormpack.ruleset import load_ruleset

INJECTION = 'x" or 1==1 or "'
KQL_TARGETS: tuple[Target, ...] = ("sentinel", "defender")
NASTY = st.sampled_from([
    '"', "\\", "'", "|", ";", "\n", "\r", "\r\n", "\t", "\x00", "\x7f", "\u200f", "\u202e", "\u2028",
    "\u0085", "*", "?", "\\*", "\\?", "%", "`", "[", "]", "(", ")", "=", "@", " ", "é", "İ", "ß", "😀",
    "//", "/*", "$", "{", "}", "<", ">", "!", ",", "#", "'", "@'", 'h"', "let", "union",
])
VALUE = st.lists(NASTY, min_size=1, max_size=8).map("".join) | st.text(min_size=1, max_size=30)
LONG_VALUE = st.lists(NASTY, min_size=400, max_size=1200).map("".join)
BATCH = st.lists(VALUE, min_size=25, max_size=35) | st.lists(LONG_VALUE, min_size=2, max_size=3)

# regex atoms: (pattern, a text it matches); each consumes exactly one character, so a text one
# character short can never match the concatenation
RE_ATOMS = st.sampled_from([
    ('\\"', '"'), ('"', '"'), ("\\\\", "\\"), ("\\|", "|"), ("[|;\"]", ";"), ("\\d", "7"), ("\\s", " "),
    (".", "q"), ("(?:a|\")", '"'), ("\\x22", '"'), ("\\*", "*"), ("\\?", "?"), ("'", "'"), ("é", "é"),
    ("[\\\\\"]", "\\"), ("\\n", "\n"), ("\n", "\n"), ("\r", "\r"), ("\\t", "\t"),
    ("%", "%"), ("`", "`"), ("\\$", "$"),
])
REGEXES = st.lists(st.lists(RE_ATOMS, min_size=1, max_size=10), min_size=8, max_size=12)

EXPLICIT = [
    INJECTION, '"', "\\", '\\"', '" | take 1 //', "a\nb", "a\r\nb", "x\x00y", "\u202eevil", "a*b", "a?b",
    "\\*", "\\?", "trailing\\", "'; OfficeActivity | where 1==1 //", "x\") or (\"1\"=\"1", "|", ";",
    "é" * 50, "😀 ok", "%p%", "`macro`", "[subsearch]", "a|b", "\\|", "x" * 3000,
]


EXPLICIT_REGEXES = [[('\\"', '"'), ("\\\\", "\\"), ("\\|", "|")], [("\\n", "\n"), ("\n", "\n")]]
EXAMPLES = settings().max_examples  # the active profile's (tests/conftest.py)
BASELINE = [Case(0, "eq", ("benign",)), Case(1, "keyword", ("benign",))]


def cases_for(values: list[str], regexes: list[list[tuple[str, str]]]) -> list[Case]:
    """The benign baseline cases, then every kind of rule for every value, then the regexes."""
    unique = list(dict.fromkeys(values))
    cases: list[Case] = list(BASELINE)
    for i, v in enumerate(unique):
        for kind in KINDS:
            if kind == "re":
                cases.append(Case(len(cases), kind, (re.escape(v), v)))
            elif kind == "list":
                other = unique[(i + 1) % len(unique)] if len(unique) > 1 else v + "2"
                cases.append(Case(len(cases), kind, (v, other)))
            else:
                cases.append(Case(len(cases), kind, (v,)))
    for atoms in regexes:
        pattern = "".join(p for p, _ in atoms)
        sample = "".join(s for _, s in atoms)
        cases.append(Case(len(cases), "re", (pattern, sample)))
    return cases


@dataclass
class Batch:
    """Rule files for ``cases`` (which start with BASELINE), compiled for every target, and every
    KQL query parsed (one Kusto.Language run per target). ``ops`` and ``base`` are the shape of
    the benign baseline: pipeline operators before the final ``where`` (per KQL target, for a
    field rule and for a keyword rule) and the SPL base search."""

    directory: Path
    cases: list[Case]
    results: dict[str, CompileResult] = field(init=False)
    reports: dict[str, dict[str, KqlReport]] = field(init=False)
    ops: dict[tuple[str, bool], list[str]] = field(init=False)
    base: str = field(init=False)

    def __post_init__(self) -> None:
        assert self.cases[: len(BASELINE)] == BASELINE
        write_cases(self.directory, self.cases)
        self.results = compile_cases(self.directory)
        self.reports, self.ops = {}, {}
        for target in KQL_TARGETS:
            result = self.results[target]
            assert not result.errors, [str(e) for e in result.errors]
            queries = {q.title: q.query for q in result.queries}
            assert sorted(queries) == sorted(c.title for c in self.cases)
            titles = [c.title for c in self.cases]
            reports = check_kql([queries[t] for t in titles], target=target)
            self.reports[target] = dict(zip(titles, reports, strict=True))
            for case in BASELINE:
                report = self.reports[target][case.title]
                assert report.ok, [str(d) for d in report.errors]
                *self.ops[target, case.kind == "keyword"], last = kql_operators(report)
                assert last == "where"
        spl = {q.title: q.query for q in self.results["splunk"].queries}[BASELINE[0].title]
        self.base, _, term = spl.rpartition(" ")
        assert term == f'{FIELD}="benign"'


def check_kql_target(batch: Batch, target: str) -> None:
    for case in batch.cases:
        report = batch.reports[target][case.title]
        cmp = kql_single_comparison(report, batch.ops[target, case.kind == "keyword"])
        assert cmp.op == KQL_OP[case.kind], (case, report.query)
        if case.kind == "keyword":
            assert cmp.left == "*", report.query
        else:
            assert cmp.left_columns == (FIELD,), report.query
        expected = list(case.values) if case.kind == "list" else [case.value]
        assert kql_literal_values(cmp) == expected, (case, report.query)
        assert [s.value for s in report.string_literals][-len(expected):] == expected


def check_spl(batch: Batch) -> None:
    result = batch.results["splunk"]
    queries = {q.title: q.query for q in result.queries}
    refused = {lr.title: why for lr, why in result.skipped}
    assert sorted([*queries, *refused]) == sorted(c.title for c in batch.cases)
    for case in batch.cases:
        if case.kind == "re":
            shape = spl_shape(queries[case.title], batch.base)
            assert shape.regex == (FIELD, case.value), (case, queries[case.title])
            continue
        if any("*" in v for v in case.values):  # not expressible as a search term: refused, clearly
            assert case.title not in queries, (case, queries.get(case.title))
            assert "literal '*'" in refused[case.title], refused[case.title]
            continue
        assert case.title in queries, (case, refused.get(case.title))
        shape = spl_shape(queries[case.title], batch.base)
        if case.kind == "list":
            values = spl_term_values(shape, FIELD, "IN")
            assert [(v.value, v.wildcard) for v in values] == [(v, False) for v in case.values]
            continue
        (value,) = spl_term_values(shape, None if case.kind == "keyword" else FIELD, "=")
        assert value.value == spl_expected_pattern(case), (case, queries[case.title])
        # the only wildcards are the ones the modifier implies
        assert value.segments == tuple(spl_expected_pattern(case).split("*"))


def check_matcher(batch: Batch) -> None:
    engine = Engine.build(load_ruleset([batch.directory]), {})
    rules = {r.title: r for r in engine.rules}
    for case in batch.cases:
        rule = rules[case.title]
        sample = case.values[1] if case.kind == "re" else case.value
        assert rule.matches({FIELD: sample}), case
        for other in (case.values[1:] if case.kind == "list" else []):
            assert rule.matches({FIELD: other}), case
        for variant in near_variants(Case(case.index, case.kind, (sample,))):
            assert not rule.matches({FIELD: variant}), (case, variant)


# Each example is one batch (~200 rules, one Kusto parser run per KQL target): one generated
# batch under `make test`, proportionally more under `make fuzz` (STORMPACK_FUZZ_EXAMPLES).
@pytest.mark.fuzz
@settings(max_examples=max(1, EXAMPLES // 150))
@given(values=BATCH, regexes=REGEXES)
def test_literal_round_trip(tmp_path_factory: pytest.TempPathFactory,
                            values: list[str], regexes: list[list[tuple[str, str]]]) -> None:
    for atoms in regexes:  # the generated patterns are valid for both engines the pack meets
        re2.compile("".join(p for p, _ in atoms))
    batch = Batch(tmp_path_factory.mktemp("rules"), cases_for(values, regexes))
    for target in KQL_TARGETS:
        check_kql_target(batch, target)
    check_spl(batch)
    check_matcher(batch)


# ------------------------------------------------------------------------------------ acceptance


LINE_BREAKS = ["a\nb", "x\r\ny", "\n", 'q"\n| take 1']


def line_break_cases(start: int) -> list[Case]:
    cases: list[Case] = []
    for v in LINE_BREAKS:
        for kind in ("eq", "contains", "list", "keyword"):
            cases.append(Case(start + len(cases), kind, (v, v + "!") if kind == "list" else (v,)))
        cases.append(Case(start + len(cases), "re", (re.escape(v), v)))
        if v.strip("\nab") == "":  # no regex syntax: the raw text is itself a literal pattern
            cases.append(Case(start + len(cases), "re", (v, v)))
    return cases


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    """One batch (one Kusto.Language run per target) for the named tests below: every kind of
    rule over EXPLICIT (the injection first), then the line-break cases."""
    cases = cases_for(EXPLICIT, EXPLICIT_REGEXES)
    return Batch(tmp_path_factory.mktemp("named"), cases + line_break_cases(len(cases)))


def test_explicit_hostile_values_round_trip(named: Batch) -> None:
    for target in KQL_TARGETS:
        check_kql_target(named, target)
    check_spl(named)
    check_matcher(named)


def test_injection_value_is_one_literal_comparison_everywhere(named: Batch) -> None:
    """Acceptance (issue 6): `x" or 1==1 or "` is one literal comparison in KQL and SPL, and the
    matcher matches only an event holding exactly that text."""
    batch = named
    case = next(c for c in batch.cases if c.kind == "eq" and c.value == INJECTION)
    for target in KQL_TARGETS:
        report = batch.reports[target][case.title]
        cmp = kql_single_comparison(report, batch.ops[target, False])
        assert (cmp.op, cmp.left_columns, kql_literal_values(cmp)) == ("=~", (FIELD,), [INJECTION])
        # the whole right-hand side is the one literal: nothing of the value became syntax
        assert cmp.text == f"{FIELD} =~ {cmp.right[0].text}"
    (q,) = [q for q in batch.results["splunk"].queries if q.title == case.title]
    (value,) = spl_term_values(spl_shape(q.query, batch.base), FIELD, "=")
    assert (value.value, value.wildcard, value.quoted) == (INJECTION, False, True)
    rule = next(r for r in Engine.build(load_ruleset([batch.directory]), {}).rules if r.title == case.title)
    assert rule.matches({FIELD: INJECTION})
    for other in ("x", 'x"', "1==1", 'x" or 1==1', 'x" or 1==1 or "x', "", 'x\\" or 1==1 or \\"',
                  INJECTION + " ", " " + INJECTION, "anything"):
        assert not rule.matches({FIELD: other}), other


def test_splunk_refuses_a_literal_asterisk_naming_rule_and_file(tmp_path: Path) -> None:
    """SPL search terms cannot match a literal `*`: the rule is refused with a clear error
    (file, rule, target), never compiled into a wider wildcard search."""
    kinds = ("eq", "contains", "startswith", "endswith", "list", "keyword")
    cases = [Case(i, kind, ("a*b", "c") if kind == "list" else ("a*b",)) for i, kind in enumerate(kinds)]
    write_cases(tmp_path, cases)
    result = compile_cases(tmp_path)["splunk"]
    assert not result.queries
    assert len(result.errors) == len(cases)
    for err in result.errors:
        text = str(err)
        assert "literal '*'" in text and "target splunk" in text and str(tmp_path) in text, text


def test_line_breaks_stay_inside_the_kql_literal(named: Batch) -> None:
    """Regression (issue 6): a raw line break ended the KQL string literal (Kusto.Language KS001),
    so a value holding one compiled to a broken query; it is now escaped as \\n / \\r."""
    cases = [c for c in named.cases if any(v in LINE_BREAKS for v in c.values)]
    assert len(cases) >= 5 * len(LINE_BREAKS)
    for target in KQL_TARGETS:
        for case in cases:
            report = named.reports[target][case.title]
            cmp = kql_single_comparison(report, named.ops[target, case.kind == "keyword"])
            expected = list(case.values) if case.kind == "list" else [case.value]
            assert kql_literal_values(cmp) == expected


def test_values_cannot_override_the_pipelines_own_variables(tmp_path: Path) -> None:
    """Placeholder values share pySigma's pipeline `vars` with the shipped pipelines' settings
    (table filters, Splunk index, macros...). A values file naming one of those settings must not
    change any query: the shipped pipeline wins (names read from the pipelines, not listed here)."""
    import yaml

    from stormpack.compiler import TARGETS
    from stormpack.compiler.pipeline_gen import load_pipeline_text

    write_cases(tmp_path, [Case(0, "eq", (INJECTION,)), Case(1, "keyword", ("k",))])
    for target in TARGETS:
        names = list(yaml.safe_load(load_pipeline_text(target))["vars"])
        assert names
        hostile = {name: ['" | delete', "x"] for name in names}
        plain = [q.query for q in compile_rules([tmp_path], target, {}).queries]
        assert plain and [q.query for q in compile_rules([tmp_path], target, hostile).queries] == plain

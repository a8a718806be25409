"""Agreement between the matcher and the compiled queries (issue 3 part 4).

For every fixture event of every rule file, on every target that compiles the rule: the rule as
the target's shipped pipeline maps it, evaluated on the record as the target stores it, gives the
matcher's verdict on the source record. Differences are allowed only where
stormpack/shapes/differences.yml documents them (docs/agreement.md), and a documented difference
that no longer differs fails. The pack is loaded and compiled once; each rule file is its own test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stormpack.ruleset import RULE_SUFFIXES, load_values
from stormpack.shapes.report import AgreementChecker, Difference, Documented, compare, load_documented

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
FIXTURES = ROOT / "fixtures"
RULE_FILES = sorted(p for p in RULES.rglob("*") if p.is_file() and p.suffix in RULE_SUFFIXES)


@pytest.fixture(scope="module")
def checker() -> AgreementChecker:
    return AgreementChecker([RULES], FIXTURES, load_values(FIXTURES / "values"))


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=[p.stem for p in RULE_FILES])
def test_rule_agrees_with_its_compiled_queries(rule_file: Path, checker: AgreementChecker) -> None:
    problems = compare(checker.check(rule_file), load_documented(), rule_file.stem)
    assert not problems, "\n".join(problems)


def test_every_documented_difference_names_a_rule_of_the_pack() -> None:
    stems = {p.stem for p in RULE_FILES}
    unknown = [d.key for d in load_documented() if d.key[0] not in stems]
    assert not unknown


def test_docs_name_every_documented_difference() -> None:
    text = (ROOT / "docs" / "agreement.md").read_text(encoding="utf-8")
    missing = []
    for d in load_documented():
        rule, target, case, _, kind = d.key
        cells = [f"`{re.escape(rule)}`", target, f"`{re.escape(case)}`", kind]
        row = re.compile(r"^\|\s*" + r"\s*\|\s*".join(cells) + r"\s*\|", re.MULTILINE)
        if not row.search(text):
            missing.append(d.key)
    assert not missing, f"docs/agreement.md has no table row for: {missing}"


def test_the_checks_cover_every_target(checker: AgreementChecker) -> None:
    """Each target compiles most of the pack and judges hundreds of fixture events, so agreement
    is not vacuously true."""
    for path in RULE_FILES:
        checker.check(path)
    for target, compiled in checker.compiles.items():
        assert len(compiled) >= len(RULE_FILES) // 2, target
        assert checker.compared[target] >= 150, (target, checker.compared[target])


KEY = ("some_rule", "splunk", "positive_x.yml", 0, "verdict")


def test_an_undocumented_difference_fails() -> None:
    found = Difference(*KEY, detail="matcher fires, splunk is silent")
    problems = compare([found], [], "some_rule")
    assert len(problems) == 1 and problems[0].startswith("undocumented difference: some_rule on splunk")


def test_a_documented_difference_that_no_longer_differs_fails() -> None:
    problems = compare([], [Documented(KEY, "why")], "some_rule")
    assert len(problems) == 1 and "no longer differs" in problems[0]
    assert compare([Difference(*KEY)], [Documented(KEY, "why")], "some_rule") == []

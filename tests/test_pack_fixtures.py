"""Every rule file of the pack replays its fixtures (the pytest side of `stormpack test`).

The pack is loaded and compiled ONCE; each rule file is its own test, so a rule without
fixtures, or with a case the matcher disagrees with, fails by name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stormpack.replay import RuleVerdict, replay
from stormpack.ruleset import RULE_SUFFIXES, load_values

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
FIXTURES = ROOT / "fixtures"
RULE_FILES = sorted(p for p in RULES.rglob("*") if p.is_file() and p.suffix in RULE_SUFFIXES)


@pytest.fixture(scope="module")
def verdicts() -> dict[Path, RuleVerdict]:
    values = load_values(FIXTURES / "values") if (FIXTURES / "values").is_dir() else {}
    return {v.path: v for v in replay(RULE_FILES, FIXTURES, values)}


def test_the_pack_has_rules() -> None:
    assert RULE_FILES, f"no rule files under {RULES}"


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=[p.stem for p in RULE_FILES])
def test_rule_replays_its_fixtures(rule_file: Path, verdicts: dict[Path, RuleVerdict]) -> None:
    verdict = verdicts[rule_file]
    detail = "\n".join(f"  {f}" for f in verdict.failures)
    assert verdict.passed, f"{rule_file.relative_to(ROOT)}:\n{detail}"

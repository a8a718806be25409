"""The real pack under rules/: one test per rule file, failing with that rule's own findings
(pack conventions, fixtures, pySigma + SigmaHQ validators), plus the exceptions list."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from stormpack.validate.findings import Finding, Report
from stormpack.validate.runner import ValidateOptions, validate

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "rules"
RULE_FILES = sorted(p for p in RULES.rglob("*") if p.suffix in (".yml", ".yaml"))


@pytest.fixture(scope="module")
def pack_report() -> Report:
    return validate(ValidateOptions(paths=[RULES]))


def _errors_by_file(report: Report) -> dict[Path, list[Finding]]:
    out: dict[Path, list[Finding]] = defaultdict(list)
    for f in report.errors:
        out[Path(f.path).resolve()].append(f)
    return out


def test_pack_has_rules() -> None:
    assert RULE_FILES, "rules/ holds no rule files"


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=[p.relative_to(RULES).as_posix() for p in RULE_FILES])
def test_rule_passes_validation(pack_report: Report, rule_file: Path) -> None:
    by_file = _errors_by_file(pack_report)
    fixture_dir = (REPO / "fixtures" / rule_file.stem).resolve()
    mine = list(by_file.get(rule_file.resolve(), []))
    mine += [f for p, fs in by_file.items() if fixture_dir in p.parents for f in fs]
    assert not mine, "\n".join(str(f) for f in mine)


def test_no_stale_or_stray_findings(pack_report: Report) -> None:
    """Errors that belong to no rule file or fixture (e.g. a stale exception) fail here."""
    rule_files = {p.resolve() for p in RULE_FILES}
    fixtures = (REPO / "fixtures").resolve()
    stray = [
        f for f in pack_report.errors
        if Path(f.path).resolve() not in rule_files and fixtures not in Path(f.path).resolve().parents
    ]
    assert not stray, "\n".join(str(f) for f in stray)

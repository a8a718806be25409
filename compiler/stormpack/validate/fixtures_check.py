"""Every rule proves itself: fixtures/<stem>/ holds >= 1 ``expect: match`` and >= 1
``expect: no_match`` case (docs/fixtures.md). Each case is read with the matcher's fixture
loader, so a case validate accepts is one ``stormpack test`` can replay."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import StormpackError
from ..fixtures import load_fixture_case
from .findings import Finding, display_path
from .loading import RuleDoc

CASE_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class CaseSummary:
    path: Path
    expect: str | None


def fixtures_root_for(rule_path: Path) -> Path | None:
    """``<root>/fixtures`` for a rule under ``<root>/rules/...``."""
    for parent in rule_path.resolve().parents:
        if parent.name == "rules":
            return parent.parent / "fixtures"
    return None


def case_files(fixture_dir: Path) -> list[Path]:
    if not fixture_dir.is_dir():
        return []
    return sorted(p for p in fixture_dir.iterdir() if p.is_file() and p.suffix in CASE_SUFFIXES)


def read_case(path: Path, display: str) -> tuple[CaseSummary, list[Finding]]:
    """Read one case with the matcher's own loader (stormpack.fixtures), so validate and
    ``stormpack test`` agree on the format; a malformed case becomes a finding."""
    try:
        case = load_fixture_case(path)
    except StormpackError as exc:
        line = exc.location.line if exc.location is not None else None
        return CaseSummary(path, None), [Finding("stormpack.fixture_format", exc.message, display, line)]
    return CaseSummary(path, case.expect), []


def check_fixtures(doc: RuleDoc, root: Path | None) -> tuple[list[Finding], list[Path]]:
    """Findings for one rule's fixtures, and the case files that were read."""
    base = root if root is not None else fixtures_root_for(doc.path)
    rule_disp = display_path(doc.path)
    if base is None:
        return [
            Finding(
                "stormpack.fixtures",
                "cannot find the fixtures/ folder: the rule is not under a "
                "rules/ folder (pass --fixtures DIR)",
                rule_disp,
                1,
                rule_id=doc.id,
            )
        ], []
    fdir = base / doc.path.stem
    files = case_files(fdir)
    out: list[Finding] = []
    expects: list[str] = []
    for f in files:
        summary, problems = read_case(f, _display(f))
        out.extend(problems)
        if summary.expect:
            expects.append(summary.expect)
    shown = _display(fdir)
    if not files:
        out.append(
            Finding(
                "stormpack.fixtures",
                f"no fixtures: {shown}/ must hold at least one "
                "'expect: match' and one 'expect: no_match' case",
                rule_disp,
                1,
                rule_id=doc.id,
            )
        )
        return out, files
    if "match" not in expects:
        out.append(
            Finding(
                "stormpack.fixtures",
                f"no positive fixture (expect: match) in {shown}/",
                rule_disp,
                1,
                rule_id=doc.id,
            )
        )
    if "no_match" not in expects:
        out.append(
            Finding(
                "stormpack.fixtures",
                f"no negative fixture (expect: no_match) in {shown}/",
                rule_disp,
                1,
                rule_id=doc.id,
            )
        )
    return out, files


def _display(p: Path) -> str:
    return display_path(p)

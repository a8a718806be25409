"""Every rule proves itself: fixtures/<stem>/ holds >= 1 ``expect: match`` and >= 1
``expect: no_match`` case (docs/fixtures.md). This reads only what that check needs; the
matcher's own fixture loader validates the rest when ``stormpack test`` replays the cases."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..yamlio import YamlError, load_yaml_file
from .findings import Finding, display_path
from .loading import RuleDoc
from .locate import top_level_key_line

CASE_SUFFIXES = (".yml", ".yaml")
EXPECT_VALUES = ("match", "no_match")


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
    try:
        data = load_yaml_file(path)
    except YamlError as exc:
        return CaseSummary(path, None), [
            Finding(
                "stormpack.fixture_format", exc.message, display, exc.location.line if exc.location else None
            )
        ]
    if not isinstance(data, dict):
        return CaseSummary(path, None), [
            Finding("stormpack.fixture_format", "a fixture case must be a YAML mapping", display, 1)
        ]
    out: list[Finding] = []
    text = path.read_text(encoding="utf-8")
    expect = data.get("expect")
    if expect not in EXPECT_VALUES:
        out.append(
            Finding(
                "stormpack.fixture_format",
                f"expect must be one of {', '.join(EXPECT_VALUES)}, not {expect!r}",
                display,
                top_level_key_line(text, "expect") or 1,
            )
        )
        expect = None
    has_events = isinstance(data.get("events"), list) and bool(data["events"])
    events_file = data.get("events_file")
    if not has_events and not events_file:
        out.append(
            Finding(
                "stormpack.fixture_format",
                "a case needs a non-empty 'events' list or 'events_file'",
                display,
                1,
            )
        )
    elif events_file and not (path.parent / str(events_file)).is_file():
        out.append(
            Finding(
                "stormpack.fixture_format",
                f"events_file '{events_file}' does not exist",
                display,
                top_level_key_line(text, "events_file"),
            )
        )
    return CaseSummary(path, expect if isinstance(expect, str) else None), out


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

"""Helpers of the hunt tests (tests/test_hunt_*.py, test_prefilter.py, test_readers_*exports.py,
test_readers_riskdetection.py): the engine of the pack's rules, a sink keeping the hits, one
file hunted as ``stormpack hunt`` reads exports, and every fixture case's records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stormpack.hunt import HuntStats, run_hunt
from stormpack.matcher import Engine, EventRef
from stormpack.readers import Record
from stormpack.readers.exports import SourceShapes, explain_unrecognised
from stormpack.ruleset import load_ruleset, load_values

REPO = Path(__file__).resolve().parent.parent


def pack_engine(rules: Path = REPO / "rules", values: Path = REPO / "fixtures" / "values", *,
                unbounded_disorder: bool = False) -> Engine:
    """The engine of the rules below ``rules`` with the value lists of ``values``; with
    ``unbounded_disorder`` correlations take events in any order (``set_max_disorder(None)``)."""
    eng = Engine.build(load_ruleset([rules]), load_values(values))
    if unbounded_disorder:
        eng.set_max_disorder(None)
    return eng


class Collect:
    """A hunt sink keeping every single-rule hit and the record it fired on, in order; the
    correlations are not kept."""

    def __init__(self) -> None:
        self.hits: list[Any] = []
        self.records: list[Record] = []

    @property
    def titles(self) -> list[str]:
        return [hit.rule.title for hit in self.hits]

    def pairs(self) -> list[tuple[Any, Record]]:
        """(hit, record) of every hit, in order."""
        return list(zip(self.hits, self.records, strict=True))

    def single(self, hit: Any, record: Record) -> None:
        self.hits.append(hit)
        self.records.append(record)

    def correlation(self, hit: Any) -> None:
        pass

    def close(self) -> None:
        pass


def hunt_file(engine: Engine, path: Path) -> tuple[Collect, HuntStats]:
    """``path`` hunted with the shapes and the explanations of the exports reader, correlations
    taking events in any order."""
    engine.set_max_disorder(None)
    sink = Collect()
    stats = run_hunt(engine, [path], sink, EventRef, convert=SourceShapes(),  # type: ignore[arg-type]
                     explain=explain_unrecognised)
    return sink, stats


def fixture_records() -> list[dict[str, Any]]:
    """Every event of every fixture case (real and documented records, and their near misses)."""
    from stormpack.fixtures import load_fixture_dir

    out: list[dict[str, Any]] = []
    stems = {p.stem for p in (REPO / "rules").rglob("*.yml")}
    for case_dir in sorted(p for p in (REPO / "fixtures").iterdir() if p.name in stems):
        for case in load_fixture_dir(case_dir):
            out.extend(ev.record for ev in case.events)
    return out

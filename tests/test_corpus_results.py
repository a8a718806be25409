"""docs/corpus-results.md cannot drift: the pack, hunted over the corpus copies in fixtures/corpus,
finds exactly the hits of tests/data/corpus_results.json, and the doc has a row for each of them.

The copies hold every corpus file that produces a hit (fixtures/corpus/PROVENANCE*.md); the
Windows-only folders of the corpus hold no record of a taxonomy log source.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stormpack.hunt import HuntStats, run_hunt
from stormpack.matcher import CorrelationHit, Engine, EventRef, Hit
from stormpack.readers import Record
from stormpack.ruleset import load_ruleset, load_values
from stormpack.shapes.inverse import normalise

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "fixtures" / "corpus"
FOLDERS = ["azure-sentinel-training-lab", "blueteam0ps-det-eng-samples",
           "microsoftdocs-office-365-management-api", "otrf-security-datasets",
           "otrf-security-datasets-windows"]
TABLE = json.loads((ROOT / "tests" / "data" / "corpus_results.json").read_text(encoding="utf-8"))
DOC = (ROOT / "docs" / "corpus-results.md").read_text(encoding="utf-8")


class Collect:
    """A hunt sink keeping what the comparison needs: (file, index, rule id) per hit."""

    def __init__(self) -> None:
        self.hits: set[tuple[str, int, str]] = set()
        self.correlations: set[tuple[str, str, tuple[tuple[str, int], ...]]] = set()

    def single(self, hit: Hit, record: Record) -> None:
        self.hits.add((_rel(hit.ref.source), hit.ref.index, hit.rule.id))

    def correlation(self, hit: CorrelationHit) -> None:
        events = tuple(sorted((_rel(r.source), r.index) for r in hit.refs))
        self.correlations.add((hit.rule.id, json.dumps(hit.group, sort_keys=True), events))

    def close(self) -> None:
        pass


def _rel(source: str) -> str:
    return Path(source).resolve().relative_to(CORPUS.resolve()).as_posix()


@pytest.fixture(scope="module")
def hunted() -> tuple[Collect, HuntStats]:
    engine = Engine.build(load_ruleset([ROOT / "rules"]), load_values(ROOT / "values"))
    sink = Collect()
    stats = run_hunt(engine, [CORPUS / f for f in FOLDERS], sink, EventRef,  # type: ignore[arg-type]
                     convert=normalise)
    return sink, stats


def test_single_event_hits_are_the_documented_ones(hunted: tuple[Collect, HuntStats]) -> None:
    got, _ = hunted
    want = {(h["source"], h["event_index"], h["rule_id"]) for h in TABLE["hits"]}
    assert got.hits == want, (f"not in the table: {sorted(got.hits - want)}\n"
                                f"in the table but not found: {sorted(want - got.hits)}")


def test_correlation_hits_are_the_documented_ones(hunted: tuple[Collect, HuntStats]) -> None:
    got, _ = hunted
    want = {(c["rule_id"], json.dumps(c["group"], sort_keys=True),
             tuple(sorted((e["source"], e["event_index"]) for e in c["events"])))
            for c in TABLE["correlations"]}
    assert got.correlations == want


def test_sentinel_and_defender_exports_are_converted_and_evaluated(hunted: tuple[Collect, HuntStats]) -> None:
    _, stats = hunted
    assert set(stats.converted) == {"Microsoft Sentinel OfficeActivity", "Microsoft Sentinel SigninLogs",
                                    "Microsoft Sentinel AuditLogs", "Microsoft Defender XDR CloudAppEvents"}
    # the non-CloudAppEvents rows of the Defender union export, and the 67 events of the OTRF
    # Windows file outside the pack's Windows log sources (process creation incl. Security 4688,
    # image load, file event, process access, registry value set, network connection)
    assert stats.unrecognised == 8 + 67
    assert stats.rejected == 0


def test_every_hit_has_a_verdict_and_a_doc_row() -> None:
    for h in TABLE["hits"]:
        assert h["verdict"] in ("true_positive", "false_positive") and h["why"], h
        if h["verdict"] == "false_positive":
            assert isinstance(h["defensible"], bool), h
        cells = f"| `{h['source']}` | {h['event_index']} | {h['rule_title']} |"
        assert cells in DOC, f"docs/corpus-results.md has no row starting {cells}"
    for c in TABLE["correlations"]:
        assert c["rule_title"] in DOC


def test_the_tuning_section_lists_exactly_the_indefensible_rules() -> None:
    section = DOC.split("## Tuning needed", 1)[1].split("\n## ", 1)[0]
    indefensible = {h["rule_title"] for h in TABLE["hits"]
                    if h["verdict"] == "false_positive" and not h["defensible"]}
    listed = {t for t in {h["rule_title"] for h in TABLE["hits"]} if t in section}
    assert listed == indefensible

"""docs/taxonomy.md is generated from the data and current; rules in rules/ use only taxonomy fields,
and every field a rule uses appears in the doc's mapping table."""

from __future__ import annotations

from pathlib import Path

from sigma.rule import SigmaRule

from stormpack.compiler.docs_gen import render_taxonomy_md
from stormpack.ruleset import iter_detection_fields, load_ruleset
from stormpack.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "taxonomy.md"


def test_taxonomy_doc_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render_taxonomy_md(), (
        "docs/taxonomy.md is stale: run `make golden`"
    )


def test_rules_use_only_fields_the_taxonomy_and_the_doc_list() -> None:
    tax = load_taxonomy()
    doc = DOC.read_text(encoding="utf-8")
    checked = 0
    for lr in load_ruleset([ROOT / "rules"]):
        if not isinstance(lr.rule, SigmaRule):
            continue
        ls = tax.logsource_for(lr.rule.logsource, lr.title)
        for fname, _ in iter_detection_fields(lr.rule):
            spec = ls.field(fname)
            assert spec is not None, f"{lr.path}: field {fname} is not in the taxonomy of {ls.key}"
            assert f"| `{spec.name}` |" in doc, f"{lr.path}: field {fname} missing from docs/taxonomy.md"
            checked += 1
    assert checked > 0


def test_doc_lists_every_target_for_every_field() -> None:
    doc = DOC.read_text(encoding="utf-8")
    tax = load_taxonomy()
    for ls in tax.logsources.values():
        for fname in ls.fields:
            line = next(ln for ln in doc.splitlines() if ln.startswith(f"| `{fname}` |"))
            assert line.count(" | ") >= 5

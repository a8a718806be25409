"""`stormpack build` is one explicit pipeline: rules -> compiled queries, once per target ->
query files and artifact writers (no hooks, no context variables)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from stormpack.cli import main
from stormpack.compiler import TARGETS, engine
from stormpack.compiler.registry import ARTIFACT_TARGETS
from stormpack.ruleset import load_ruleset

ROOT = Path(__file__).resolve().parents[1]
PACK_RULES = ROOT / "rules"
PACK_VALUES = ROOT / "values"


def test_build_compiles_each_rule_once_per_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every rule of the pack goes through the compiler exactly once for each target, although
    the build writes both the query files and every product's artifacts."""
    compiled: Counter[tuple[str, str]] = Counter()
    real_run = engine._Compiler.run

    def counting_run(self: engine._Compiler) -> engine.CompileResult:
        for lr in self.ruleset:
            compiled[(lr.id, self.target.name)] += 1
        return real_run(self)

    monkeypatch.setattr(engine._Compiler, "run", counting_run)
    out = tmp_path / "build"
    main(["build", "-o", str(out), "--values", str(PACK_VALUES), str(PACK_RULES)])
    ids = {lr.id for lr in load_ruleset([PACK_RULES])}
    assert set(compiled) == {(rid, t) for rid in ids for t in TARGETS}
    assert set(compiled.values()) == {1}
    assert (out / "catalogue.md").is_file() and (out / "sentinel" / "azuredeploy.json").is_file()


def test_query_files_are_the_deployed_queries(tmp_path: Path) -> None:
    """The query file of a rule and its Sentinel analytics rule hold the same query (one compile),
    with a whole-value tenant list read from its watchlist."""
    import yaml

    out = tmp_path / "build"
    main(["build", "-o", str(out), "--values", str(PACK_VALUES), str(PACK_RULES / "m365" / "audit")])
    stem = "m365_audit_admin_mail_access_by_non_soc_account"
    query = (out / "sentinel" / f"{stem}.kql").read_text(encoding="utf-8")
    rule = yaml.safe_load((out / "sentinel" / f"{stem}.yaml").read_text(encoding="utf-8"))
    table, condition = query.strip().split("\n")  # OfficeActivity / | where ...
    assert "_GetWatchlist('org_soc_mail_reviewers')" in condition
    assert rule["query"].startswith(table + "\n") and condition in rule["query"].splitlines()
    assert set(ARTIFACT_TARGETS) <= {p.name for p in out.iterdir() if p.is_dir()}

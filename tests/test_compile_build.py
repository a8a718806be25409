"""`stormpack build` writes build/ atomically: a failing build leaves the previous one intact; the
report says which rules compiled for which target and why not; the artifact step writes into the
same staged directory before the swap."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stormpack.artifacts.build import collect_metas
from stormpack.compiler import TARGETS, compile_rules
from stormpack.compiler import build as build_mod
from stormpack.ruleset import load_ruleset

DATA = Path(__file__).parent / "data" / "compile" / "correlations"


def _rules(tmp: Path) -> Path:
    d = tmp / "rules"
    d.mkdir()
    (d / "ok.yml").write_text(
        "title: Audit Rule\nid: 2b3c4d5e-0000-4000-8000-000000000001\nstatus: test\n"
        "logsource: {product: azure, service: auditlogs}\n"
        "detection:\n  sel:\n    operationName: Consent to application\n  condition: sel\nlevel: low\n",
        encoding="utf-8",
    )
    return d


def test_build_writes_queries_and_report(tmp_path: Path) -> None:
    rules = _rules(tmp_path)
    results = {t: compile_rules([rules], t, {}) for t in TARGETS}
    out = build_mod.write_build(results, tmp_path / "build")
    assert (out / "sentinel" / "ok.kql").read_text(encoding="utf-8").startswith("AuditLogs\n")
    assert (out / "splunk" / "ok.spl").is_file()
    assert (out / "adx" / "ok.kql").read_text(encoding="utf-8").startswith("EntraAuditLogs\n")
    assert not (out / "defender" / "ok.kql").exists()
    report = json.loads((out / "compile-report.json").read_text(encoding="utf-8"))
    why = report["targets"]["defender"]["not_compiled"][0]["reason"]
    assert "azure_auditlogs is not available on defender" in why
    text = (out / "compile-report.txt").read_text(encoding="utf-8")
    assert "defender: 0 compiled, 1 not compiled" in text and "sentinel: 1 compiled" in text


def test_failing_build_keeps_the_previous_build(tmp_path: Path) -> None:
    rules = _rules(tmp_path)
    results = {t: compile_rules([rules], t, {}) for t in TARGETS}
    target_dir = tmp_path / "build"
    build_mod.write_build(results, target_dir)
    before = sorted(str(p.relative_to(target_dir)) for p in target_dir.rglob("*"))

    with pytest.raises(RuntimeError), build_mod.staged_build(target_dir) as staged:
        build_mod.write_queries(results, staged)
        (staged / "half-written").write_text("x", encoding="utf-8")
        raise RuntimeError("artifact writer failed")
    assert sorted(str(p.relative_to(target_dir)) for p in target_dir.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".build")] == []


def test_staged_files_land_in_the_build(tmp_path: Path) -> None:
    rules = _rules(tmp_path)
    results = {t: compile_rules([rules], t, {}) for t in TARGETS}
    out = tmp_path / "build"
    with build_mod.staged_build(out) as staged:
        build_mod.write_queries(results, staged)
        (staged / "extra.txt").write_text("artifact", encoding="utf-8")
        assert not out.exists()  # nothing is visible before the block ends
    # the Entra audit rule compiles for sentinel, splunk and adx (Defender has no such table)
    assert sorted(p.parent.name for p in out.glob("*/ok.*")) == ["adx", "sentinel", "splunk"]
    assert (out / "extra.txt").read_text(encoding="utf-8") == "artifact"


def test_cli_build_with_a_broken_rule_file_keeps_old_build(tmp_path: Path) -> None:
    rules = _rules(tmp_path)
    out_dir = tmp_path / "b"
    ok = subprocess.run(
        [sys.executable, "-m", "stormpack", "build", "-o", str(out_dir), str(rules)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "sentinel: 1 compiled" in ok.stdout
    (rules / "broken.yml").write_text("title: [unclosed\n", encoding="utf-8")
    bad = subprocess.run(
        [sys.executable, "-m", "stormpack", "build", "-o", str(out_dir), str(rules)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode != 0 and "broken.yml" in bad.stderr and "Traceback" not in bad.stderr
    assert (out_dir / "sentinel" / "ok.kql").is_file()


def test_file_with_several_output_rules_gets_distinct_names(tmp_path: Path) -> None:
    text = (
        (DATA / "event_count.yml")
        .read_text(encoding="utf-8")
        .replace("status: test\nlogsource", "status: test\nlogsource", 1)
    )
    text = text.replace("  rules: [inbox_rule_created]", "  rules: [inbox_rule_created]\n  generate: true")
    p = tmp_path / "both.yml"
    p.write_text(text, encoding="utf-8")
    res = compile_rules([p], "sentinel", {})
    names = sorted(build_mod.query_file(q) for q in res.queries)
    assert names == ["both__inbox_rule_created.kql", "both__many_inbox_rules_by_one_user.kql"]
    # the artifacts of each rule are named as its query file (stormpack.naming, one rule)
    stems = sorted(m.stem for m in collect_metas(list(load_ruleset([p]))).values())
    assert [f"{st}.kql" for st in stems] == names

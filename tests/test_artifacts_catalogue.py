"""`stormpack build` end to end: every artifact, the catalogue (Markdown/HTML) and the Navigator layer."""

from __future__ import annotations

import json
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from stormpack.artifacts.build import NAVIGATOR_LAYER, collect_metas
from stormpack.artifacts.catalogue import TARGETS, Entry, render_html, render_markdown
from stormpack.cli import main
from stormpack.compiler import compile_rules
from stormpack.compiler.build import write_build
from stormpack.execute.spl import parse_conf
from stormpack.navigator import check_layer
from stormpack.ruleset import load_ruleset

ROOT = Path(__file__).resolve().parents[1]
PACK_RULES = ROOT / "rules"
PACK_VALUES = ROOT / "values"


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "build"
    main(["build", "-o", str(out), "--values", str(PACK_VALUES), str(PACK_RULES)])  # exits only on error
    return out


def test_build_writes_every_artifact(build: Path) -> None:
    assert list((build / "sentinel").glob("*.yaml"))
    assert (build / "sentinel" / "azuredeploy.json").is_file()
    assert list((build / "sentinel" / "watchlists").glob("*.csv"))
    assert list((build / "defender").glob("*.json"))
    assert (build / "splunk" / "stormpack" / "default" / "savedsearches.conf").is_file()
    assert (build / "splunk" / "stormpack.tgz").is_file()
    for name in ("catalogue.md", "catalogue.html", NAVIGATOR_LAYER):
        assert (build / name).is_file(), name


def _artifact(build: Path, target: str, stem: str) -> str | None:
    """"rule" (scheduled), "hunt" (hunting query) or None, from the built files."""
    if target == "sentinel":
        if (build / "sentinel" / f"{stem}.yaml").is_file():
            return "rule"
        return "hunt" if (build / "sentinel" / "hunting" / f"{stem}.yaml").is_file() else None
    if target == "defender":
        if (build / "defender" / f"{stem}.json").is_file():
            return "rule"
        return "hunt" if (build / "defender" / "hunting" / f"{stem}.kql").is_file() else None
    saved = parse_conf((build / "splunk" / "stormpack" / "default" / "savedsearches.conf")
                       .read_text(encoding="utf-8"))
    for kv in saved.values():
        if f"`{stem}_filter`" in kv.get("search", ""):
            return "rule" if kv["enableSched"] == "1" else "hunt"
    return None


MARKS = {"rule": "✓", "hunt": "H", None: "–"}


def test_markdown_catalogue_lists_every_rule_with_its_targets(build: Path) -> None:
    md = (build / "catalogue.md").read_text(encoding="utf-8")
    metas = collect_metas(list(load_ruleset([PACK_RULES])))
    assert f"{len(metas)} rules." in md
    rows = [line for line in md.splitlines() if line.startswith("| [")]
    assert len(rows) == len(metas)
    hunts = 0
    for meta in metas.values():
        [row] = [r for r in rows if f"](#{meta.stem})" in r]
        assert f"| {meta.level} |" in row
        marks = row.rstrip(" |").split(" | ")[-3:]
        for target, mark in zip(TARGETS, marks, strict=True):
            assert mark == MARKS[_artifact(build, target, meta.stem)], (meta.stem, target)
        section = md.split(f'<a id="{meta.stem}"></a>', 1)[1].split('<a id="', 1)[0]
        assert f"## {meta.title}" in section
        assert f"`{meta.id}`" in section
        assert " ".join(meta.description.split()) in section
        for fp in meta.falsepositives:
            assert " ".join(fp.split()) in section
        for t in meta.attack.techniques:
            assert t in section
        for key in meta.logsources:
            assert key in section
        for target in TARGETS:
            built = _artifact(build, target, meta.stem)
            assert (f"- **{target}**: built" in section) == (built == "rule")
            if built == "hunt" and meta.time_bound is not None:
                hunts += 1
                assert f"- **{target}**: hunting query, not a scheduled rule" in section
    assert hunts == 11  # 4 "During Campaign" rules x 3 targets, less Defender's missing AuditLogs
    # (hunting-only rules that are not time-bounded, docs/noise.md, are marked the same way)


class _Sections(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self.ids.append(dict(attrs).get("id") or "")
        if tag == "script":
            self.scripts += 1


def test_html_catalogue_has_a_section_per_rule(build: Path) -> None:
    parser = _Sections()
    parser.feed((build / "catalogue.html").read_text(encoding="utf-8"))
    metas = collect_metas(list(load_ruleset([PACK_RULES])))
    assert sorted(parser.ids) == sorted(m.stem for m in metas.values())


def test_catalogue_escapes_rule_text() -> None:
    meta = next(iter(collect_metas(list(load_ruleset([PACK_RULES]))).values()))
    evil = replace(meta, title="<script>alert(1)</script> | pipe", description="a <b>bold</b> claim")
    entry = Entry(evil, dict.fromkeys(TARGETS), ())
    parser = _Sections()
    html = render_html([entry])
    parser.feed(html)
    assert parser.scripts == 0
    assert "&lt;script&gt;" in html and "a &lt;b&gt;bold&lt;/b&gt; claim" in html
    row = next(line for line in render_markdown([entry]).splitlines() if line.startswith("| ["))
    assert "\\| pipe" in row  # a | in a title does not break the table


def test_navigator_layer_is_valid_and_holds_every_tagged_technique(build: Path) -> None:
    layer = json.loads((build / NAVIGATOR_LAYER).read_text(encoding="utf-8"))
    assert check_layer(layer) == []
    in_layer = {t["techniqueID"] for t in layer["techniques"]}
    metas = collect_metas(list(load_ruleset([PACK_RULES]))).values()
    tagged = {t for m in metas for t in m.attack.techniques}
    assert tagged <= in_layer


def test_write_build_writes_only_the_queries(tmp_path: Path) -> None:
    """The artifacts are a step of `stormpack build` (artifacts.pack.write_pack), not a side effect
    of writing compiled queries."""
    rules = PACK_RULES / "azure" / "signinlogs"
    results = {"splunk": compile_rules([rules], "splunk", PACK_VALUES)}
    out = write_build(results, tmp_path / "plain")
    assert (out / "compile-report.txt").is_file()
    assert not (out / "catalogue.md").exists()


def test_catalogue_shows_rules_the_target_does_not_collect(build: Path) -> None:
    """A rule refused by data/collection.yml is listed as not built on that target, with the reason."""
    text = (build / "catalogue.md").read_text(encoding="utf-8")
    entry = text.split("\n## Mail Read Permission Granted To Application\n", 1)[1].split("\n## ", 1)[0]
    (line,) = [ln for ln in entry.splitlines() if ln.startswith("- **sentinel**:")]
    assert "not built: " in line and "not collected on sentinel" in line and "https://" in line
    assert _artifact(build, "sentinel", "m365_audit_mail_read_permission_granted_to_application") is None
    assert _artifact(build, "defender", "m365_audit_mail_read_permission_granted_to_application") == "rule"

"""`stormpack hunt --report report.html`: a self-contained page, opened in a real headless
Chromium (Debian's `chromium`, installed by `make setup`): the timeline is drawn, the counts are
shown and add up; the screenshot is kept as an artifact (path printed; copied to
build/test-artifacts/ when that can be written)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml

from test_matcher_prune import RULES, record

REPO = Path(__file__).resolve().parent.parent
SIGNINS = REPO / "tests" / "data" / "exports" / "InteractiveSignIns_2025-03-11_2025-03-18.csv"
SAMPLE = REPO / "tests" / "data" / "docs_example" / "events" / "purview_export.csv"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "build" / "test-artifacts"


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, object]], str]:
    """A hunt over a real portal CSV with two Storm-0558 addresses written in, a real Purview
    export, and a UAL stream that fires correlation rules; with --report and --format jsonl."""
    tmp = tmp_path_factory.mktemp("report")
    text = SIGNINS.read_text(encoding="utf-8-sig")
    signins = tmp / SIGNINS.name
    text = text.replace("149.34.252.80", "195.26.87.219").replace("4.191.134.27", "185.236.228.183")
    signins.write_text(text, encoding="utf-8-sig")
    users = ["alice@contoso.com", "bob@contoso.com"]
    ops = ["OpA", "OpB", "OpA", "OpC", "Other"]
    ual = tmp / "ual.jsonl"
    ual.write_bytes(
        b"".join(
            orjson.dumps(record(i * 90, ops[i % 5], users[i % 2], f"10.0.0.{i % 3}")) + b"\n"
            for i in range(60)
        )
    )
    corr_rules = tmp / "corr.yml"
    corr_rules.write_text(yaml.safe_dump_all(RULES, sort_keys=False), encoding="utf-8")
    html = tmp / "report.html"
    cmd = [
        sys.executable,
        "-m",
        "stormpack",
        "hunt",
        "--rules",
        str(REPO / "rules"),
        "--rules",
        str(corr_rules),
        "--values",
        str(REPO / "values"),
        "--events",
        str(signins),
        "--events",
        str(SAMPLE),
        "--events",
        str(ual),
        "--format",
        "jsonl",
        "--report",
        str(html),
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    hits = [json.loads(line) for line in run.stdout.splitlines()]
    return html, hits, run.stderr


def test_report_is_self_contained(report: tuple[Path, list[dict[str, object]], str]) -> None:
    page = report[0].read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:|//)""", page)  # nothing fetched
    assert "default-src 'none'" in page  # and the browser is told so


def _count(dom: str, ident: str) -> int:
    m = re.search(rf'id="{ident}">(\d+)<', dom)
    assert m, ident
    return int(m.group(1))


def test_report_in_headless_chromium(
    report: tuple[Path, list[dict[str, object]], str], tmp_path: Path
) -> None:
    html, hits, _ = report
    singles = [h for h in hits if "event" in h]
    corrs = [h for h in hits if "group" in h]
    assert singles and corrs
    dom = chromium("--dump-dom", html.as_uri(), profile=tmp_path / "p1")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    # the counts are shown and add up
    assert _count(page, "count-hits") == len(singles)
    assert _count(page, "count-correlations") == len(corrs)
    read, ev, unrec, rej = (
        _count(page, f"count-{k}") for k in ("read", "evaluated", "unrecognised", "rejected")
    )
    assert read == ev + unrec + rej and read > 0
    totals = [int(x) for x in re.findall(r'class="n total">(\d+)<', page)]
    assert sum(totals) == int(re.search(r'id="grand-total">(\d+)<', page).group(1))  # type: ignore[union-attr]
    assert sum(totals) == len(singles) + len(corrs)
    level_totals = [int(x) for x in re.findall(r'data-level="[^"]*">(\d+)<', page)]
    assert sum(level_totals) == sum(totals)
    # the timelines are drawn: one dot per hit, one bar per correlation (per user / per address)
    for svg_id in ("timeline-user", "timeline-ip"):
        svg = page.split(f'id="{svg_id}"', 1)[1].split("</svg>", 1)[0]
        assert svg.count('class="hit"') == len(singles)
    user_svg = page.split('id="timeline-user"', 1)[1].split("</svg>", 1)[0]
    assert user_svg.count('class="correlation"') == len(corrs)  # every test correlation groups by user
    assert page.count('class="hit-row"') == len(singles)
    assert page.count('class="member"') == sum(len(c["events"]) for c in corrs)  # type: ignore[arg-type]
    assert "(record not read back)" not in page
    # and a screenshot shows it
    png = tmp_path / "report.png"
    shot = chromium(f"--screenshot={png}", "--window-size=1300,1400", html.as_uri(), profile=tmp_path / "p2")
    assert shot.returncode == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000  # a drawn page, not a blank one
    try:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy2(png, ARTIFACTS / "hunt-report.png")
        shutil.copy2(html, ARTIFACTS / "hunt-report.html")
        print(f"screenshot artifact: {ARTIFACTS / 'hunt-report.png'}")
    except OSError:
        print(f"screenshot artifact: {png}")

"""Triage options of `stormpack hunt`: one timestamp format, --since/--until, --min-level, --rule,
--group-by (stormpack.triage)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stormpack.triage import HitFilter, format_utc, level_rank, parse_bound, utc_text

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "tests" / "data" / "docs_example" / "events" / "purview_export.csv"
SIGNINS = REPO / "tests" / "data" / "exports" / "InteractiveSignIns_2025-03-11_2025-03-18.csv"


def hunt(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "stormpack", "hunt", "--rules", str(REPO / "rules"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300, check=False)


@pytest.mark.parametrize(("text", "expected"), [
    ("2023-05-29T12:30:51", "2023-05-29T12:30:51.000Z"),  # UAL: no zone = UTC
    ("2021-08-02T13:32:07.0000000Z", "2021-08-02T13:32:07.000Z"),  # 7 fraction digits (Graph, Sentinel)
    ("2025-03-18T12:33:24Z", "2025-03-18T12:33:24.000Z"),
    ("2024-01-01T02:00:00.123456+02:00", "2024-01-01T00:00:00.123Z"),
    ("yesterday", None), (None, None), (5, None),
])
def test_one_timestamp_format(text: object, expected: str | None) -> None:
    assert utc_text(text) == expected


def test_filter_parts() -> None:
    f = HitFilter(since=parse_bound("2023-05-25", "--since"),
                  until=parse_bound("2023-06-01T00:00:00Z", "--until"))
    assert f.time_ok("2023-05-29T12:30:51", "2023-05-29T12:30:51")
    assert not f.time_ok("2023-05-23T13:38:39", "2023-05-23T13:38:39")
    assert f.time_ok("2023-05-20T00:00:00Z", "2023-05-26T00:00:00Z")  # a correlation span meeting it
    assert not f.time_ok(None, None)
    assert level_rank("critical") > level_rank("high") > level_rank("medium") > level_rank("low")
    high = HitFilter(min_level="high")
    assert high.level_ok("critical") and not high.level_ok("low")


def _titles(run: subprocess.CompletedProcess[str]) -> list[str]:
    return sorted(json.loads(line)["rule_title"] for line in run.stdout.splitlines())


def test_filters_on_a_real_export() -> None:
    everything = _titles(hunt("--events", str(SAMPLE), "--format", "jsonl"))
    assert len(everything) == 3
    since = hunt("--events", str(SAMPLE), "--format", "jsonl", "--since", "2023-05-25")
    assert _titles(since) == [t for t in everything if t != "Unified Audit Log Ingestion Disabled"]
    assert "shown: 2 of 3 hits" in since.stderr
    until = _titles(hunt("--events", str(SAMPLE), "--format", "jsonl", "--until", "2023-05-25"))
    assert until == ["Unified Audit Log Ingestion Disabled"]
    high = _titles(hunt("--events", str(SAMPLE), "--format", "jsonl", "--min-level", "high"))
    assert high == [t for t in everything if not t.startswith("Inbox Rule")]
    patterns = "*forwarding*,*ingestion*"
    by_rule = _titles(hunt("--events", str(SAMPLE), "--format", "jsonl", "--rule", patterns))
    assert by_rule == high
    none = hunt("--events", str(SAMPLE), "--format", "jsonl", "--rule", "no-such-rule")
    assert none.stdout == "" and none.returncode == 0 and "shown: 0 of 3 hits" in none.stderr


def test_group_by_counts_add_up(tmp_path: Path) -> None:
    text = SIGNINS.read_text(encoding="utf-8-sig")
    events = tmp_path / SIGNINS.name  # two addresses made Storm-0558 ones: hits for two users
    text = text.replace("149.34.252.80", "195.26.87.219").replace("4.191.134.27", "185.236.228.183")
    events.write_text(text, encoding="utf-8-sig")
    flat = hunt("--events", str(events), "--format", "jsonl")
    hits = [json.loads(line) for line in flat.stdout.splitlines()]
    assert hits
    for by, header in (("user", "user"), ("ip", "ip"), ("rule", "rule")):
        run = hunt("--events", str(events), "--group-by", by)
        assert run.returncode == 0, run.stderr
        table = run.stdout.split("\n\nsummary:", 1)[0].splitlines()
        assert table[0].split()[:3] == [header, "hits", "correlations"]
        rows = [line.split("  ") for line in table[1:]]
        counts = [int(next(c for c in r[1:] if c.strip()).strip()) for r in rows]
        assert sum(counts) == len(hits)  # one row per group, the counts add up to the hits
        times = [line.split()[-2:] for line in table[1:]]
        assert all(a <= b and a.endswith("Z") for a, b in times)
    users = {h["event"]["properties"]["userPrincipalName"] for h in hits}
    table = hunt("--events", str(events), "--group-by", "user").stdout.split("\n\nsummary:", 1)[0]
    assert sorted(line.split()[0] for line in table.splitlines()[1:]) == sorted(users)


def test_bad_triage_options_exit_2() -> None:
    assert hunt("--events", str(SAMPLE), "--since", "yesterday").returncode == 2
    run = hunt("--events", str(SAMPLE), "--group-by", "user", "--format", "jsonl")
    assert run.returncode == 2 and "--group-by" in run.stdout + run.stderr


_ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))]


@given(st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.sampled_from(_ZONES)))
def test_format_utc_writes_what_strftime_writes(d: datetime) -> None:
    """format_utc's f-string path (the hunt's hot path) equals the strftime spelling it replaced."""
    expected = d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"
    assert format_utc(d) == expected

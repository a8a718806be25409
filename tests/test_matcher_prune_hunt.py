"""`stormpack hunt --max-disorder`: bounded correlation state through the command line; the same
hits as the unbounded run on time-ordered input, late records counted in the summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from stormpack.cli.hunt_cmd import parse_disorder
from stormpack.errors import StormpackError
from test_matcher_prune import RULES, record

REPO = Path(__file__).resolve().parent.parent


def hunt(rules: Path, events: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "stormpack", "hunt", "--rules", str(rules), "--events", str(events),
           "--format", "jsonl", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


@pytest.fixture()
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump_all(RULES, sort_keys=False), encoding="utf-8")
    return path


def stream(n: int) -> list[dict[str, Any]]:
    users = ["alice@x", "bob@x", "carol@x"]
    ops = ["OpA", "OpB", "OpA", "OpC", "Other"]
    return [record(i * 45, ops[i % 5], users[i % 3], f"10.0.0.{i % 4}") for i in range(n)]


def correlation_lines(out: str) -> list[str]:
    return sorted(line for line in out.splitlines() if '"group"' in line)


@pytest.mark.parametrize("direction", ["ascending", "descending"])
def test_bounded_and_unbounded_hunts_report_the_same_hits(
    rules: Path, tmp_path: Path, direction: str
) -> None:
    records = stream(6000)
    if direction == "descending":  # newest first, as a Purview export
        records = records[::-1]
    events = write(tmp_path / "ual.jsonl", records)
    exact = hunt(rules, events, "--max-disorder", "none")
    bounded = hunt(rules, events, "--max-disorder", "10m")
    auto = hunt(rules, events)  # one file: auto means 1h
    assert exact.returncode == bounded.returncode == auto.returncode == 0, bounded.stderr
    assert len(correlation_lines(exact.stdout)) > 100
    assert correlation_lines(bounded.stdout) == correlation_lines(exact.stdout)
    assert correlation_lines(auto.stdout) == correlation_lines(exact.stdout)
    assert sorted(bounded.stdout.splitlines()) == sorted(exact.stdout.splitlines())
    assert "late" not in bounded.stderr


def test_a_record_beyond_the_allowed_disorder_is_counted_in_the_summary(rules: Path, tmp_path: Path) -> None:
    records = stream(4000)
    records.insert(3000, record(0, "OpA", "alice@x", "10.0.0.9"))  # a day and a half behind
    events = write(tmp_path / "ual.jsonl", records)
    run = hunt(rules, events, "--max-disorder", "5m")
    assert run.returncode == 1
    assert "late (evaluated by single-event rules, left out of correlation rules" in run.stderr
    assert "--max-disorder none): 1\n" in run.stderr
    assert f"{events}: record 3000 (time 2023-06-14T10:00:00)" in run.stderr
    # the summary still adds up: the late record is one of the evaluated ones
    assert f"{len(records):,} records read = {len(records):,} evaluated" in run.stderr
    exact = hunt(rules, events, "--max-disorder", "none")
    assert exact.returncode == 0 and "late" not in exact.stderr


def test_several_files_default_to_exact_evaluation(rules: Path, tmp_path: Path) -> None:
    records = stream(4000)
    folder = tmp_path / "in"
    folder.mkdir()
    write(folder / "a.jsonl", records[2000:])  # later half first: out of order across files
    write(folder / "b.jsonl", records[:2000])
    run = hunt(rules, folder)
    whole = hunt(rules, write(tmp_path / "all.jsonl", records), "--max-disorder", "none")
    assert run.returncode == 0 and "late" not in run.stderr
    groups = [(o["rule_title"], o["first_seen"]) for o in map(json.loads, correlation_lines(run.stdout))]
    expected = [(o["rule_title"], o["first_seen"]) for o in map(json.loads, correlation_lines(whole.stdout))]
    assert sorted(groups) == sorted(expected)


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90.0), ("10m", 600.0), ("1.5h", 5400.0),
                                               ("2d", 172800.0), ("250ms", 0.25), ("0s", 0.0)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_disorder(text) == seconds


def test_none_and_auto() -> None:
    assert parse_disorder("none") is None and parse_disorder("AUTO") == "auto"


@pytest.mark.parametrize("text", ["", "10", "ten minutes", "-5m", "5 weeks", "1e3s"])
def test_bad_duration_is_a_clear_error(text: str) -> None:
    with pytest.raises(StormpackError, match="is not a duration"):
        parse_disorder(text)


def test_bad_duration_on_the_command_line(rules: Path, tmp_path: Path) -> None:
    run = hunt(rules, write(tmp_path / "x.jsonl", stream(3)), "--max-disorder", "soon")
    assert run.returncode == 2 and "'soon' is not a duration" in run.stderr and "Traceback" not in run.stderr

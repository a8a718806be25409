"""Unordered input just works for files: the same export in time order, newest first and shuffled
gives the same hits, correlations included, exit 0 (stormpack.hunt_order)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from stormpack.hunt_order import OrderScan, sorted_stream
from stormpack.readers import Record
from test_matcher_prune import RULES, record

REPO = Path(__file__).resolve().parent.parent


def hunt(rules: Path, events: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "stormpack", "hunt", "--rules", str(rules), "--events", str(events),
           "--format", "jsonl"]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300, check=False)


def stream(n: int) -> list[dict[str, Any]]:
    users = ["alice@x", "bob@x", "carol@x"]
    ops = ["OpA", "OpB", "OpA", "OpC", "Other"]
    return [record(i * 45, ops[i % 5], users[i % 3], f"10.0.0.{i % 4}") for i in range(n)]


def _key(rec: dict[str, Any]) -> str:
    return json.dumps(rec, sort_keys=True)


def canonical(out: str, records: list[dict[str, Any]]) -> list[str]:
    """Hits with file positions replaced by the records they point at, sorted: comparable
    between copies of one export in different orders."""
    lines = []
    for line in out.splitlines():
        hit = json.loads(line)
        if "group" in hit:
            hit["events"] = sorted(_key(records[e["event_index"]]) for e in hit["events"])
            del hit["event_indices"]
        else:
            hit["event"] = _key(hit["event"])
            del hit["event_index"]
        hit.pop("source", None)
        lines.append(json.dumps(hit, sort_keys=True))
    return sorted(lines)


@pytest.fixture()
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump_all(RULES, sort_keys=False), encoding="utf-8")
    return path


def test_in_order_newest_first_and_shuffled_give_the_same_hits(rules: Path, tmp_path: Path) -> None:
    ordered = stream(3000)  # 45 s apart: 37 hours, far more than the 1 h auto disorder
    shuffled = ordered[:]
    random.Random(558).shuffle(shuffled)
    results = {}
    for name, records in (("ordered", ordered), ("newest-first", ordered[::-1]), ("shuffled", shuffled)):
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        run = hunt(rules, path)
        assert run.returncode == 0, run.stderr
        assert "late" not in run.stderr
        results[name] = (canonical(run.stdout, records), run.stderr)
    hits = results["ordered"][0]
    assert sum('"group"' in h for h in hits) > 50  # correlations are part of the comparison
    assert results["newest-first"][0] == hits
    assert results["shuffled"][0] == hits
    assert "not in time order" in results["shuffled"][1]
    assert "not in time order" not in results["ordered"][1] + results["newest-first"][1]


def _item(i: int, t: float | None) -> tuple[Record, dict[str, Any], str | None, float | None]:
    return Record("f", i, i + 1, {"n": i}), {"n": i}, None, t


@pytest.mark.parametrize("run_records", [2, 3, 1000])
def test_sorted_stream_orders_by_time_then_input_position(run_records: int) -> None:
    times = [5.0, None, 1.0, 5.0, 3.0, None, 1.0, 2**40 + 0.5]
    got = list(sorted_stream(iter(_item(i, t) for i, t in enumerate(times)), run_records=run_records))
    assert [r.index for r in got] == [2, 6, 4, 0, 3, 7, 1, 5]  # untimed last, ties in input order
    assert all(r.data == {"n": r.index} and r.line == r.index + 1 for r in got)


def test_sorted_stream_keeps_values_orjson_cannot_write() -> None:
    big = {"n": 2**70}
    items = [(Record("f", 0, 1, big), big, "shape", 2.0), (Record("f", 1, 2, {"n": 1}), {"n": 1}, None, 1.0)]
    got = list(sorted_stream(iter(items), run_records=1))
    assert [r.data for r in got] == [{"n": 1}, big] and got[1].shape == "shape"


def test_order_scan_accepts_either_direction() -> None:
    assert OrderScan(10, 0, 9).ordered and OrderScan(10, 9, 0).ordered
    assert not OrderScan(10, 1, 1).ordered

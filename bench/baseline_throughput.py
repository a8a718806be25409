"""Benchmark: `stormpack baseline` over bench/gen_ual.py's deterministic UAL file (issue #11.1).

    make bench-baseline             # = .venv/bin/python bench/baseline_throughput.py
    python bench/baseline_throughput.py --records 100000 --repeat 3

Runs ``stormpack baseline --events F -o DIR`` as a whole process under /usr/bin/time (wall
clock, user+sys CPU, peak RSS), --repeat times, and prints the medians with the number of reads
of the exports (paired lists learn from each other: up to three) and the JSON-parse floor
(``orjson.loads`` of every line, one core). Not a test: speed is measured here, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from run_bench import ensure_data, machine, timed  # noqa: E402 - the bench's shared helpers


def parse_floor(path: Path) -> float:
    start = time.perf_counter()
    with path.open("rb") as f:
        for line in f:
            orjson.loads(line)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    events = ensure_data(args.records)
    stormpack = str(Path(sys.executable).parent / "stormpack")
    runs = []
    passes = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            out = Path(tmp) / f"v{i}"
            runs.append(timed([stormpack, "baseline", "--events", str(events), "-o", str(out)], r"(?!)"))
            passes = json.loads((out / "baseline-report.json").read_text(encoding="utf-8"))["passes"]
    wall = statistics.median(r.wall for r in runs)
    cpu = statistics.median(r.cpu for r in runs)
    rss = statistics.median(r.rss_mib for r in runs)
    floor = parse_floor(events)
    size = events.stat().st_size / 1e6
    print(f"machine: {machine()}")
    print(f"input: {args.records:,} records, {size:,.0f} MB ({events.name})")
    print("| run | wall s | CPU s | peak RSS MiB | records/s |")
    print("|---|---:|---:|---:|---:|")
    print(f"| stormpack baseline ({passes} reads) | {wall:.1f} | {cpu:.1f} | {rss:.0f} | "
          f"{args.records / wall:,.0f} |")
    print(f"| orjson parse floor (one read) | {floor:.1f} | {floor:.1f} | — | {args.records / floor:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: `stormpack hunt` over .evtx files against the parse-only rate of the same reader.

    make bench-evtx                     # = .venv/bin/python bench/evtx_throughput.py
    python bench/evtx_throughput.py --copies 200 [FILE.evtx ...]

Input: the given .evtx files (default: every file of tests/data/evtx, real recordings), each
copied --copies times into a temporary directory (an .evtx cannot be concatenated; copies keep
the records real). Three rates, records per second, median of --repeat runs, wall clock:

1. **parse only**: the Rust parser (PyPI ``evtx``) rendering each record as JSON and
   ``orjson.loads`` of it: the ceiling for any Python tool using this reader;
2. **reader**: stormpack's EVTX reader (parse + Sigma's flat Windows shape + 4688 names);
3. **hunt**: ``stormpack hunt --rules rules --values values --events DIR --format jsonl``, a
   whole process (start-up included), hits to /dev/null.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import evtx
import orjson

from stormpack.readers import read_events

REPO = Path(__file__).resolve().parent.parent


def parse_only(files: list[Path]) -> int:
    n = 0
    for f in files:
        for rec in evtx.PyEvtxParser(str(f)).records_json():
            orjson.loads(rec["data"])
            n += 1
    return n


def reader(files: list[Path]) -> int:
    return sum(1 for f in files for _ in read_events(f))


def hunt(directory: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "stormpack", "hunt", "--rules", str(REPO / "rules"), "--values",
         str(REPO / "values"), "--events", str(directory), "--format", "jsonl"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO, check=False,
    )


def timed(fn: object, *args: object, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)  # type: ignore[operator]
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--copies", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sources = args.files or sorted((REPO / "tests" / "data" / "evtx").glob("*.evtx"))
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        files = []
        for i in range(args.copies):
            for s in sources:
                dst = d / f"{i:05d}_{s.name}"
                shutil.copyfile(s, dst)
                files.append(dst)
        records = parse_only(files)
        mib = sum(f.stat().st_size for f in files) / 2**20
        print(f"{len(files)} files, {mib:.1f} MiB, {records} records")
        for name, secs in (
            ("parse only (evtx + orjson)", timed(parse_only, files, repeat=args.repeat)),
            ("stormpack EVTX reader", timed(reader, files, repeat=args.repeat)),
            ("stormpack hunt (whole pack, process)", timed(hunt, d, repeat=args.repeat)),
        ):
            print(f"  {name:40s} {secs:7.2f} s  {records / secs:10,.0f} records/s")


if __name__ == "__main__":
    main()

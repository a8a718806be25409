"""Benchmark: `stormpack hunt` start-up and `--jobs` scaling (issue #13).

    make bench-jobs                 # = .venv/bin/python bench/jobs_startup.py
    python bench/jobs_startup.py --records 200000 --repeat 3

1. **Start-up**: the whole pack (rules/, values/) hunting a one-record file, as a user runs it
   (bytecode of the installed modules present; the start-up cache of stormpack.cache warm, and
   once with it off: STORMPACK_NO_CACHE=1). Median of --startup-repeat runs, wall clock.
2. **--jobs**: bench/gen_ual.py's deterministic hit-heavy UAL file (cached in bench/data/), the
   whole pack, `--format jsonl --max-disorder none`, with --jobs 1, 2 and (when more CPUs exist)
   the number of CPUs; wall, CPU (user+sys, all processes) and peak RSS of the largest process
   from /usr/bin/time; medians of --repeat runs, alternating job counts run by run. The hits of
   every run are compared as sorted lines (SHA-256): they must be identical.
3. The ratio to the JSON-parse floor: `orjson.loads` of every line of the same file, one core.

The results table is written into bench/README.md between the jobs markers, with the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DATA = BENCH / "data"
README = BENCH / "README.md"
START, END = "<!-- jobs:start -->", "<!-- jobs:end -->"
PY = ROOT / ".venv" / "bin" / "python"
sys.path.insert(0, str(BENCH))
from run_bench import ensure_data, machine  # noqa: E402 - the bench's shared helpers

STORMPACK = ROOT / ".venv" / "bin" / "stormpack"


def timed(cmd: list[str], env: dict[str, str], out: Path | None = None) -> tuple[float, float, float]:
    """(wall s, user+sys s, peak RSS MiB) of a whole process tree, from /usr/bin/time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf.name, *cmd]
        with open(out or os.devnull, "wb") as fh:
            subprocess.run(full, stdout=fh, stderr=subprocess.DEVNULL, env=env, check=False, cwd=ROOT)
        wall, user, sys_, rss = tf.read().split()[-4:]
    return float(wall), float(user) + float(sys_), int(rss) / 1024


def sorted_hash(path: Path) -> str:
    return hashlib.sha256(b"".join(sorted(path.read_bytes().splitlines(keepends=True)))).hexdigest()


def parse_floor(path: Path) -> float:
    """Seconds of CPU for orjson.loads of every line (one core)."""
    code = ("import orjson,sys,time\nt=time.process_time()\n"
            "for l in open(sys.argv[1],'rb'): orjson.loads(l)\nprint(time.process_time()-t)")
    return float(subprocess.run([str(PY), "-c", code, str(path)], capture_output=True, text=True,
                                check=True).stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--startup-repeat", type=int, default=9)
    ap.add_argument("--no-readme", action="store_true")
    args = ap.parse_args()

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.pop("STORMPACK_NO_CACHE", None)
    pack = ["--rules", str(ROOT / "rules"), "--values", str(ROOT / "values")]
    DATA.mkdir(exist_ok=True)
    one = DATA / "one_record.jsonl"
    one.write_text('{"RecordType": 50, "Operation": "Send", "CreationTime": "2023-06-20T10:00:00"}\n')
    hunt_one = [str(STORMPACK), "hunt", *pack, "--events", str(one), "--format", "jsonl"]
    for _ in range(2):  # bytecode and start-up cache warm
        timed(hunt_one, env)
    warm = [timed(hunt_one, env)[0] for _ in range(args.startup_repeat)]
    cold_env = {**env, "STORMPACK_NO_CACHE": "1"}
    cold = [timed(hunt_one, cold_env)[0] for _ in range(args.startup_repeat)]
    importing = [timed([str(PY), "-c", "import stormpack.cli"], env)[0] for _ in range(args.startup_repeat)]

    events = ensure_data(args.records)
    ncpu = len(os.sched_getaffinity(0))
    counts = sorted({1, 2, ncpu})
    runs: dict[int, list[tuple[float, float, float]]] = {j: [] for j in counts}
    hashes: dict[int, set[str]] = {j: set() for j in counts}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for j in counts:
                out = Path(tmp) / f"hits{j}.jsonl"
                cmd = [str(STORMPACK), "hunt", *pack, "--events", str(events), "--format", "jsonl",
                       "--max-disorder", "none", "--jobs", str(j)]
                runs[j].append(timed(cmd, env, out))
                hashes[j].add(sorted_hash(out))
    floor = parse_floor(events)
    identical = len(set().union(*hashes.values())) == 1
    n = args.records
    base_wall = statistics.median(r[0] for r in runs[1])
    rows = [
        "| measurement | wall (median) | note |", "|---|---|---|",
        f"| start-up, whole pack, cache warm | {statistics.median(warm):.2f} s | one-record file |",
        f"| start-up, whole pack, STORMPACK_NO_CACHE=1 | {statistics.median(cold):.2f} s | |",
        f"| `import stormpack.cli` alone | {statistics.median(importing):.2f} s | "
        "the interpreter and imports |",
    ]
    rows += ["", "| --jobs | wall | records/s (wall) | CPU (all processes) | peak RSS "
             "| speed-up vs --jobs 1 |", "|---|---|---|---|---|---|"]
    for j in counts:
        wall = statistics.median(r[0] for r in runs[j])
        cpu = statistics.median(r[1] for r in runs[j])
        rss = statistics.median(r[2] for r in runs[j])
        rows.append(f"| {j} | {wall:.2f} s | {n / wall:,.0f} | {cpu:.2f} s | {rss:.0f} MiB | "
                    f"{base_wall / wall:.2f}x |")
    rows += ["", f"orjson.loads of every line: {n / floor:,.0f} records/s of CPU; stormpack --jobs 1 "
             f"(whole pack, start-up included): {n / base_wall:,.0f} records/s wall = "
             f"{(n / base_wall) / (n / floor):.2f} of the floor.",
             f"Hits of every run identical (sorted JSONL, SHA-256): {'yes' if identical else 'NO'}."]
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = os.getloadavg()[0]
    table = (f"Run {stamp}: {machine()}; load average {load:.1f} at the end; "
             f"{n:,} generated records (bench/gen_ual.py), "
             f"{args.repeat} runs per job count.\n\n" + "\n".join(rows))
    print(table)
    if not args.no_readme:
        text = README.read_text(encoding="utf-8")
        block = f"{START}\n{table}\n{END}"
        if START in text:
            text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
        else:
            text += "\n## Start-up and --jobs (`make bench-jobs`)\n\n" + block + "\n"
        README.write_text(text, encoding="utf-8")
    if not identical:
        sys.exit("hits differ between job counts")


if __name__ == "__main__":
    main()

"""Does `stormpack hunt` keep its memory flat as the input grows to 2 GB? (issue 6, resource bounds)

    .venv/bin/python bench/memory_flat.py                      # 256 MB, 1 GB, 2 GB
    .venv/bin/python bench/memory_flat.py --sizes-mb 64,256    # quicker

1. Inputs are streamed to disk in bench/data/ (git-ignored, cached): a 50,000-record chunk of
   deterministic UAL records from bench/gen_ual.py, copied end to end until the file reaches
   each size (nothing is ever held in memory whole). Repeating the chunk keeps every record
   realistic and every size comparable: the rules see the same mix at every size.
2. `stormpack hunt` runs as a whole process per size and rule set, hits as JSON Lines to
   /dev/null, and its peak resident set size is taken from the kernel (``os.wait4`` rusage of
   that one child). Two rule sets: the pack's single-event rules (what streaming must keep
   flat) and the whole pack (correlation rules keep a small entry per matching record until
   the end, see bench/README.md), so the difference is visible rather than hidden.
3. The table is written into bench/README.md between the memory-flat markers (its own
   section; the main benchmark table is run_bench.py's) and printed.

Not a test: nothing here asserts; tests/test_hostile_*.py never measure time or memory.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DATA = BENCH / "data"
README = BENCH / "README.md"
START, END = "<!-- memory-flat:start -->", "<!-- memory-flat:end -->"
HEADING = "## Memory under large inputs (`bench/memory_flat.py`)"
PY = ROOT / ".venv" / "bin" / "python"
CHUNK_RECORDS = 50_000
MB = 1024 * 1024

sys.path.insert(0, str(BENCH))
from gen_ual import generate  # noqa: E402  (bench/ is not a package)
from run_bench import single_event_rules  # noqa: E402


@dataclass(frozen=True)
class Result:
    rules: str
    size_mb: int
    records: int
    wall_s: float
    peak_rss_mib: float
    hits: str
    exit_code: int


def chunk() -> Path:
    path = DATA / f"memflat_chunk{CHUNK_RECORDS}.jsonl"
    stamp = path.with_suffix(".stamp")
    want = f"{CHUNK_RECORDS} {(BENCH / 'gen_ual.py').stat().st_mtime_ns}"
    if not path.exists() or not stamp.exists() or stamp.read_text() != want:
        print(f"generating {CHUNK_RECORDS:,} records -> {path}", file=sys.stderr)
        generate(CHUNK_RECORDS, path)
        stamp.write_text(want)
    return path


def sized_input(size_mb: int) -> tuple[Path, int]:
    """A JSON Lines file of at least ``size_mb`` MiB (whole chunks), streamed from the chunk."""
    source = chunk()
    per_chunk = source.stat().st_size
    copies = -(-size_mb * MB // per_chunk)
    path = DATA / f"memflat_{size_mb}mb.jsonl"
    if not path.exists() or path.stat().st_size != copies * per_chunk:
        print(f"writing {copies} chunks ({copies * per_chunk / MB:,.0f} MiB) -> {path}", file=sys.stderr)
        tmp = path.with_name(path.name + ".partial")
        with open(tmp, "wb") as out:
            for _ in range(copies):
                with open(source, "rb") as src:
                    shutil.copyfileobj(src, out, 4 * MB)
        tmp.replace(path)
    return path, copies * CHUNK_RECORDS


def hunt(rules: Path, events: Path) -> tuple[float, float, str, int]:
    """(wall seconds, peak RSS MiB, hits, exit code) of one `stormpack hunt` process."""
    cmd = [str(PY), "-m", "stormpack", "hunt", "--rules", str(rules), "--values", str(ROOT / "values"),
           "--events", str(events), "--format", "jsonl"]
    with tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read()
    m = re.search(r"matched: [\d,]+ records \(([\d,]+) hits\), ([\d,]+) correlation", text)
    hits = "?" if m is None else f"{m.group(1)} + {m.group(2)}"
    return wall, usage.ru_maxrss / 1024, hits, proc.returncode  # ru_maxrss is KiB on Linux


def table(results: list[Result]) -> str:
    lines = [
        f"Machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "| rule set | input | records | peak RSS | wall | hits (single + correlation) | exit |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        size = f"{r.size_mb / 1024:.2f} GiB" if r.size_mb >= 1024 else f"{r.size_mb} MiB"
        lines.append(f"| {r.rules} | {size} | {r.records:,} | {r.peak_rss_mib:,.0f} MiB | {r.wall_s:,.0f} s "
                     f"| {r.hits} | {r.exit_code} |")
    return "\n".join(lines) + "\n"


def write_readme(text: str) -> None:
    """Replace this script's section of bench/README.md (added at the end the first time)."""
    readme = README.read_text(encoding="utf-8") if README.exists() else ""
    block = f"{START}\n{text}{END}"
    if START in readme and END in readme:
        head, rest = readme.split(START, 1)
        readme = head + block + rest.split(END, 1)[1]
    else:
        readme = readme.rstrip("\n") + f"\n\n{HEADING}\n\n{block}\n"
    README.write_text(readme, encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes-mb", default="256,1024,2048", help="input sizes in MiB, comma-separated")
    ap.add_argument("--no-readme", action="store_true", help="print the table only")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes_mb.split(",")]
    DATA.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as d:
        single = single_event_rules(Path(d) / "rules")
        rule_sets = {"single-event rules": single, "whole pack": ROOT / "rules"}
        for size in sizes:
            events, records = sized_input(size)
            for name, rules in rule_sets.items():
                print(f"hunt {name} over {events.name} ...", file=sys.stderr)
                wall, rss, hits, code = hunt(rules, events)
                results.append(Result(name, size, records, wall, rss, hits, code))
                print(f"  peak RSS {rss:,.0f} MiB, {wall:,.0f} s, hits {hits}, exit {code}", file=sys.stderr)
    text = table(results)
    print(text)
    if not args.no_readme:
        write_readme(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

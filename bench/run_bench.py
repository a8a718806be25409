"""One benchmark run: stormpack hunt vs pySigma's sqlite backend vs the JSON parse floor.

    make bench                      # = .venv/bin/python bench/run_bench.py
    python bench/run_bench.py --sizes 200000,1000000 --repeat 3

What it does, in one process tree, on one machine, alternating engines run by run:

1. generates deterministic UAL records with bench/gen_ual.py (bench/data/, cached);
2. creates bench/.venv-sqlite (pinned bench/requirements-sqlite.txt: pySigma 2.x and
   pySigma-backend-sqlite 2.x, which cannot live beside stormpack's pySigma 1.5.1);
3. times, as whole processes from outside with /usr/bin/time (wall, user+sys CPU, peak RSS):
   * ``stormpack hunt`` with the whole pack (rules/, values/), JSON Lines hits to /dev/null;
   * ``stormpack hunt`` with the pack's single-event rules only (the rule set the sqlite
     engine runs, see below);
   * bench/sqlite_pipeline.py: the same single-event rules converted by pySigma's sqlite
     backend and evaluated Zircolite-style in 50k-record chunks (rule loading and conversion
     included);
   * the parse floor: a loop of ``orjson.loads`` (and stdlib ``json.loads``) over the lines;
4. writes the table (medians) and the machine description into bench/README.md between the
   results markers, and prints it.

The sqlite engine runs without the pack's correlation rules: the backend's correlation SQL is
quadratic in the number of matching rows (see bench/README.md), so a 1M-record run would not
finish; the chunked mode also keeps its memory bounded, which favours it.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DATA = BENCH / "data"
SQLITE_VENV = BENCH / ".venv-sqlite"
SQLITE_REQS = BENCH / "requirements-sqlite.txt"
README = BENCH / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
PY = ROOT / ".venv" / "bin" / "python"
STORMPACK = ROOT / ".venv" / "bin" / "stormpack"


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mib: float
    hits: str


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def ensure_data(n: int) -> Path:
    path = DATA / f"ual{label(n)}.jsonl"
    stamp = path.with_suffix(".stamp")
    want = f"{n} {(BENCH / 'gen_ual.py').stat().st_mtime_ns}"
    if not path.exists() or not stamp.exists() or stamp.read_text() != want:
        print(f"generating {n:,} records -> {path}", file=sys.stderr)
        subprocess.run([sys.executable, str(BENCH / "gen_ual.py"), str(n), str(path)], check=True)
        stamp.write_text(want)
    return path


def ensure_sqlite_venv() -> Path:
    python = SQLITE_VENV / "bin" / "python"
    stamp = SQLITE_VENV / ".installed"
    if not python.exists() or not stamp.exists() or stamp.read_text() != SQLITE_REQS.read_text():
        print(f"creating {SQLITE_VENV} (pySigma 2.x + sqlite backend)", file=sys.stderr)
        shutil.rmtree(SQLITE_VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(SQLITE_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(SQLITE_REQS)], check=True)
        stamp.write_text(SQLITE_REQS.read_text())
    return python


def single_event_rules(dest: Path) -> Path:
    """A copy of rules/ without the correlation rules (their base rules then emit)."""
    for f in sorted((ROOT / "rules").rglob("*.yml")):
        if re.search(r"^correlation:", f.read_text(encoding="utf-8"), re.M):
            continue
        target = dest / f.relative_to(ROOT / "rules")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
    return dest


def timed(cmd: list[str], hits_re: str) -> Run:
    """Run ``cmd`` (stdout to /dev/null) under /usr/bin/time; parse its numbers."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf, tempfile.TemporaryFile("w+") as err:
        subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf.name, *cmd], cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=err, check=True)
        wall, user, system, rss_kb = tf.read().split()[-4:]
        err.seek(0)
        m = re.search(hits_re, err.read())
    hits = "—" if m is None else " + ".join(g for g in m.groups() if g)
    return Run(float(wall), float(user) + float(system), int(rss_kb) / 1024, hits)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        found = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
        kb = int(found.group(1)) if found else 0
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, AttributeError):
        pass
    return (f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="200000,1000000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-readme", action="store_true", help="print the table only")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    files = {n: ensure_data(n) for n in sizes}
    sqlite_py = ensure_sqlite_venv()
    tmp = Path(tempfile.mkdtemp(prefix="stormpack-bench-"))
    single_rules = single_event_rules(tmp / "rules")
    hunt_hits = r"matched: [\d,]+ records \(([\d,]+) hits\), ([\d,]+) correlation"
    engines = {
        "stormpack hunt, whole pack": lambda f: (
            [str(STORMPACK), "hunt", "--rules", "rules", "--values", "values", "--events", str(f),
             "--format", "jsonl"], hunt_hits),
        "stormpack hunt, single-event rules": lambda f: (
            [str(STORMPACK), "hunt", "--rules", str(single_rules), "--values", "values", "--events", str(f),
             "--format", "jsonl"], hunt_hits),
        "pySigma sqlite backend, same single-event rules, 50k chunks": lambda f: (
            [str(sqlite_py), str(BENCH / "sqlite_pipeline.py"), "--chunk", "50000", "--rules",
             str(single_rules), "--values", "values", str(f), "/dev/null"], r"queries, ([\d,]+) hits"),
        "parse only, orjson.loads": lambda f: (
            [str(PY), "-c", "import sys, orjson\nfor line in open(sys.argv[1], 'rb'): orjson.loads(line)",
             str(f)], r"(?!)"),
        "parse only, stdlib json.loads": lambda f: (
            [str(PY), "-c", "import sys, json\nfor line in open(sys.argv[1], 'rb'): json.loads(line)",
             str(f)], r"(?!)"),
    }
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results: dict[tuple[str, int], list[Run]] = {}
    for n in sizes:
        for rep in range(args.repeat):
            for name, make in engines.items():  # alternate engines run by run
                cmd, hits_re = make(files[n])
                run = timed(cmd, hits_re)
                results.setdefault((name, n), []).append(run)
                print(f"[{label(n)} #{rep + 1}] {name}: {run.wall:.2f} s wall, {run.cpu:.2f} s CPU, "
                      f"{run.rss_mib:.0f} MiB, hits {run.hits}", file=sys.stderr)
    load_after = os.getloadavg()
    shutil.rmtree(tmp, ignore_errors=True)

    def med(name: str, n: int, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in results[(name, n)])

    lines = [
        f"Run {started}: {machine()}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} "
        f"after (other work was running on the machine: wall times include waiting for a CPU, CPU "
        f"times do not). Medians of {args.repeat} runs, engines alternated run by run.",
        "",
        "| engine | " + " | ".join(
            f"{lb}: wall | {lb}: records/s (wall) | {lb}: records/s (CPU) | {lb}: peak RSS"
            for lb in map(label, sizes)) + " | hits (single + correlation) |",
        "|---|" + "---|" * (4 * len(sizes) + 1),
    ]
    for name in engines:
        cells = []
        for n in sizes:
            wall, cpu, rss = med(name, n, "wall"), med(name, n, "cpu"), med(name, n, "rss_mib")
            cells += [f"{wall:.2f} s", f"{n / wall:,.0f}", f"{n / cpu:,.0f}", f"{rss:.0f} MiB"]
        hits = " / ".join(results[(name, n)][0].hits for n in sizes)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {hits} |")
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        lines.append("")
        lines.append(f"Memory growth from {label(lo)} to {label(hi)} records (peak RSS difference per "
                     "record):")
        for name in engines:
            growth = (med(name, hi, "rss_mib") - med(name, lo, "rss_mib")) * 1024 * 1024 / (hi - lo)
            lines.append(f"- {name}: {growth:+.0f} bytes per record")
    big = sizes[-1]
    sp, sq, oj = ("stormpack hunt, whole pack", "pySigma sqlite backend, same single-event rules, 50k chunks",
                  "parse only, orjson.loads")
    sp1 = "stormpack hunt, single-event rules"
    ratio = [
        "",
        f"At {label(big)} (CPU-time throughput, which the other load on the machine does not distort):",
        f"- stormpack (single-event rules) vs sqlite, same rules: "
        f"{med(sq, big, 'cpu') / med(sp1, big, 'cpu'):.2f}x (goal: >= 2x)",
        f"- stormpack (whole pack, incl. correlations) vs sqlite without correlations: "
        f"{med(sq, big, 'cpu') / med(sp, big, 'cpu'):.2f}x",
        f"- stormpack (whole pack) vs orjson parse-only rate: "
        f"{med(oj, big, 'cpu') / med(sp, big, 'cpu'):.2f} of it (goal: >= 0.5)",
    ]
    lines += ratio
    table = "\n".join(lines)
    print(table)
    if not args.no_readme and README.exists():
        text = README.read_text(encoding="utf-8")
        if START in text and END in text:
            head, rest = text.split(START, 1)
            _, tail = rest.split(END, 1)
            README.write_text(f"{head}{START}\n{table}\n{END}{tail}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

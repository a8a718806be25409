"""One benchmark run: stormpack hunt (--jobs 1 and 2) vs DuckDB vs pySigma's sqlite backend vs
the JSON parse floor, on a hit-heavy and a realistic generated file.

    make bench                      # = .venv/bin/python bench/run_bench.py
    python bench/run_bench.py --sizes 1000000 --profiles hit-heavy,realistic --repeat 1

What it does, in one process tree, on one machine, alternating engines run by run:

1. generates deterministic UAL records with bench/gen_ual.py (bench/data/, cached): the
   hit-heavy mix of perf-anchors.md and ``--profile realistic`` (few records concern any rule);
2. creates bench/.venv-sqlite (pinned bench/requirements-sqlite.txt: pySigma 2.x and
   pySigma-backend-sqlite 2.x, which cannot live beside stormpack's pySigma 1.5.1) and
   bench/.venv-duckdb (bench/requirements-duckdb.txt);
3. times, as whole processes from outside with /usr/bin/time (wall, user+sys CPU of the process
   and its workers, peak RSS):
   * ``stormpack hunt`` with the whole pack (rules/, values/), JSON Lines hits to /dev/null,
     ``--max-disorder 1h`` (what ``auto`` picks for one time-ordered file, without its extra
     order-scanning pass), with ``--jobs 1``, ``--jobs 2`` and ``--jobs 1 --no-prefilter``;
   * ``stormpack hunt`` with the pack's single-event rules only (the rule set the sqlite
     engine runs), and with the 12 rules bench/duckdb_pipeline.py implements in SQL;
   * bench/duckdb_pipeline.py: DuckDB, hand-written SQL for those 12 rules, one thread; its hits
     are compared record by record (rule, line) with stormpack's;
   * bench/sqlite_pipeline.py: the single-event rules converted by pySigma's sqlite backend and
     evaluated Zircolite-style in 50k-record chunks (rule loading and conversion included);
   * the parse floor: a loop of ``orjson.loads`` over the lines;
4. writes the table, the ratios against the goals of issue #13 and the machine description into
   bench/README.md between the results markers, and prints them.

The sqlite engine runs without the pack's correlation rules: the backend's correlation SQL is
quadratic in the number of matching rows (see bench/README.md), so a 1M-record run would not
finish; the chunked mode also keeps its memory bounded, which favours it.
"""

from __future__ import annotations

import argparse
import json
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DATA = BENCH / "data"
SQLITE_VENV = BENCH / ".venv-sqlite"
SQLITE_REQS = BENCH / "requirements-sqlite.txt"
DUCKDB_VENV = BENCH / ".venv-duckdb"
DUCKDB_REQS = BENCH / "requirements-duckdb.txt"
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
    skipped: str = ""


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def ensure_data(n: int, profile: str = "hit-heavy") -> Path:
    path = DATA / (f"ual{label(n)}.jsonl" if profile == "hit-heavy" else f"{profile}{label(n)}.jsonl")
    stamp = path.with_suffix(".stamp")
    want = f"{n} {profile} {(BENCH / 'gen_ual.py').stat().st_mtime_ns}"
    if not path.exists() or not stamp.exists() or stamp.read_text() != want:
        print(f"generating {n:,} {profile} records -> {path}", file=sys.stderr)
        subprocess.run([sys.executable, str(BENCH / "gen_ual.py"), str(n), str(path), "--profile", profile],
                       check=True)
        stamp.write_text(want)
    return path


def ensure_venv(venv: Path, reqs: Path) -> Path:
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if not python.exists() or not stamp.exists() or stamp.read_text() != reqs.read_text():
        print(f"creating {venv} from {reqs.name}", file=sys.stderr)
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(reqs)], check=True)
        stamp.write_text(reqs.read_text())
    return python


def ensure_sqlite_venv() -> Path:
    return ensure_venv(SQLITE_VENV, SQLITE_REQS)


def rule_subset(dest: Path, stems: list[str]) -> Path:
    """A rules directory holding only the rule files ``stems``."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted((ROOT / "rules").rglob("*.yml")):
        if f.stem in stems:
            shutil.copyfile(f, dest / f.name)
    return dest


def hit_pairs_stormpack(out: Path, rules: Path) -> set[tuple[str, int]]:
    """(rule stem, event index) of every single-event hit in a stormpack JSONL output."""
    import yaml

    ids = {yaml.safe_load(f.read_text(encoding="utf-8"))["id"]: f.stem for f in rules.glob("*.yml")}
    pairs = set()
    with open(out, "rb") as fh:
        for line in fh:
            hit = json.loads(line)
            if "event_index" in hit:
                pairs.add((ids[hit["rule_id"]], hit["event_index"]))
    return pairs


def hit_pairs_duckdb(out: Path) -> set[tuple[str, int]]:
    with open(out, encoding="utf-8") as fh:
        return {(r, int(i)) for r, i in (line.rstrip("\n").split("\t") for line in fh)}


def single_event_rules(dest: Path) -> Path:
    """A copy of rules/ without the correlation rules (their base rules then emit)."""
    for f in sorted((ROOT / "rules").rglob("*.yml")):
        if re.search(r"^correlation:", f.read_text(encoding="utf-8"), re.M):
            continue
        target = dest / f.relative_to(ROOT / "rules")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
    return dest


def _env() -> dict[str, str]:
    """The environment a user has: bytecode written and read (the session machine sets
    PYTHONDONTWRITEBYTECODE, which would put module compilation into every start-up)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed(cmd: list[str], hits_re: str, out: Path | None = None) -> Run:
    """Run ``cmd`` (stdout to /dev/null or ``out``) under /usr/bin/time; parse its numbers."""
    with (tempfile.NamedTemporaryFile("r", suffix=".time") as tf, tempfile.TemporaryFile("w+") as err,
          open(out or os.devnull, "wb") as stdout):
        subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf.name, *cmd], cwd=ROOT,
                       stdout=stdout, stderr=err, check=False, env=_env())
        wall, user, system, rss_kb = tf.read().split()[-4:]
        err.seek(0)
        text = err.read()
    m = re.search(hits_re, text)
    hits = "—" if m is None else " + ".join(g for g in m.groups() if g)
    sk = re.search(r"prefilter: ([\d,]+) of the evaluated", text)
    return Run(float(wall), float(user) + float(system), int(rss_kb) / 1024, hits,
               sk.group(1) if sk else "")


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


HUNT_HITS = r"matched: [\d,]+ records \(([\d,]+) hits\), ([\d,]+) correlation"
J1, J2, NOPF = ("stormpack, whole pack, --jobs 1", "stormpack, whole pack, --jobs 2",
                "stormpack, whole pack, --jobs 1 --no-prefilter")
SINGLE, SUB = "stormpack, single-event rules, --jobs 1", "stormpack, the 12 DuckDB rules, --jobs 1"
DUCK, SQLITE, ORJSON = ("DuckDB, the same 12 rules (SQL), 1 thread",
                        "pySigma sqlite, single-event rules, 50k chunks", "parse only, orjson.loads")
PROFILE_TEXT = {"hit-heavy": "hit-heavy (perf-anchors mix)",
                "realistic": "realistic (few records concern a rule)"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000")
    ap.add_argument("--profiles", default="hit-heavy,realistic")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-sqlite", action="store_true", help="leave out the (slow) sqlite engine")
    ap.add_argument("--no-readme", action="store_true", help="print the table only")
    args = ap.parse_args()
    sys.path.insert(0, str(BENCH))
    import duckdb_pipeline

    from stormpack.ruleset import load_values

    sizes = [int(s) for s in args.sizes.split(",")]
    profiles = args.profiles.split(",")
    inputs = [(p, n, ensure_data(n, p)) for p in profiles for n in sizes]
    sqlite_py = None if args.no_sqlite else ensure_sqlite_venv()
    duck_py = ensure_venv(DUCKDB_VENV, DUCKDB_REQS)
    tmp = Path(tempfile.mkdtemp(prefix="stormpack-bench-"))
    single_rules = single_event_rules(tmp / "rules")
    sub_rules = rule_subset(tmp / "duckdb-rules", duckdb_pipeline.RULES)
    values_json = tmp / "values.json"
    values_json.write_text(json.dumps(load_values(ROOT / "values")), encoding="utf-8")
    hunt = [str(STORMPACK), "hunt", "--values", "values", "--format", "jsonl", "--max-disorder", "1h"]
    engines: dict[str, Any] = {
        J1: lambda f, o: ([*hunt, "--rules", "rules", "--events", str(f), "--jobs", "1"], HUNT_HITS, None),
        J2: lambda f, o: ([*hunt, "--rules", "rules", "--events", str(f), "--jobs", "2"], HUNT_HITS, None),
        NOPF: lambda f, o: ([*hunt, "--rules", "rules", "--events", str(f), "--jobs", "1", "--no-prefilter"],
                            HUNT_HITS, None),
        SINGLE: lambda f, o: ([*hunt, "--rules", str(single_rules), "--events", str(f), "--jobs", "1"],
                              HUNT_HITS, None),
        SUB: lambda f, o: ([*hunt, "--rules", str(sub_rules), "--events", str(f), "--jobs", "1"], HUNT_HITS,
                           o / "stormpack12.jsonl"),
        DUCK: lambda f, o: ([str(duck_py), str(BENCH / "duckdb_pipeline.py"), str(values_json), str(f),
                             str(o / "duckdb12.tsv")], r"([\d,]+) hits in", None),
        SQLITE: lambda f, o: ([str(sqlite_py), str(BENCH / "sqlite_pipeline.py"), "--chunk", "50000",
                               "--rules", str(single_rules), "--values", "values", str(f), "/dev/null"],
                              r"queries, ([\d,]+) hits", None),
        ORJSON: lambda f, o: ([str(PY), "-c", "import sys, orjson\nfor line in open(sys.argv[1], 'rb'): "
                               "orjson.loads(line)", str(f)], r"(?!)", None),
    }
    if sqlite_py is None:
        del engines[SQLITE]
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results: dict[tuple[str, str, int], list[Run]] = {}
    agree: dict[tuple[str, int], str] = {}
    for profile, n, path in inputs:
        for rep in range(args.repeat):
            for name, make in engines.items():  # alternate engines run by run
                cmd, hits_re, out = make(path, tmp)
                run = timed(cmd, hits_re, out)
                results.setdefault((name, profile, n), []).append(run)
                print(f"[{profile} {label(n)} #{rep + 1}] {name}: {run.wall:.2f} s wall, "
                      f"{run.cpu:.2f} s CPU, {run.rss_mib:.0f} MiB, hits {run.hits}, "
                      f"skipped {run.skipped or '-'}; "
                      f"load {os.getloadavg()[0]:.1f}", file=sys.stderr)
            sp = hit_pairs_stormpack(tmp / "stormpack12.jsonl", sub_rules)
            dd = hit_pairs_duckdb(tmp / "duckdb12.tsv")
            agree[(profile, n)] = (f"identical ({len(sp):,} hits)" if sp == dd else
                                   f"DIFFER: {len(sp - dd):,} only stormpack, {len(dd - sp):,} only DuckDB")
    load_after = os.getloadavg()
    shutil.rmtree(tmp, ignore_errors=True)

    def med(name: str, profile: str, n: int, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in results[(name, profile, n)])

    lines = [
        f"Run {started}: {machine()}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} "
        f"after (other work shared the machine: wall times include waiting for a CPU, user+sys CPU "
        f"times do not). Median of {args.repeat} run(s), engines alternated run by run. Command: "
        f"`python bench/run_bench.py --sizes {args.sizes} --profiles {args.profiles} "
        f"--repeat {args.repeat}`.",
        "",
    ]
    for profile, n, _ in inputs:
        lines += [f"**{PROFILE_TEXT.get(profile, profile)}, {n:,} records**", "",
                  "| engine | wall | user+sys CPU | records/s (CPU) | records/s (wall) | peak RSS | hits "
                  "(single + correlation) | decided unparsed |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name in engines:
            wall, cpu, rss = (med(name, profile, n, a) for a in ("wall", "cpu", "rss_mib"))
            first = results[(name, profile, n)][0]
            lines.append(f"| {name} | {wall:.2f} s | {cpu:.2f} s | {n / cpu:,.0f} | {n / wall:,.0f} | "
                         f"{rss:.0f} MiB | {first.hits} | {first.skipped or '—'} |")
        oj_cpu = med(ORJSON, profile, n, "cpu")
        j1c, j1w, j2w = med(J1, profile, n, "cpu"), med(J1, profile, n, "wall"), med(J2, profile, n, "wall")
        goal = 0.5 if profile == "hit-heavy" else 1.0
        lines += ["", f"Ratios ({profile}, {label(n)}):",
                  f"- whole pack, one process, CPU throughput vs the orjson.loads rate: "
                  f"{oj_cpu / j1c:.2f}x (goal >= {goal}x)",
                  f"- --jobs 2 vs --jobs 1, wall clock: {j1w / j2w:.2f}x (goal >= 1.7x; CPU "
                  f"{med(J2, profile, n, 'cpu'):.1f} s vs {j1c:.1f} s)",
                  f"- prefilter: {med(NOPF, profile, n, 'cpu') / j1c:.2f}x less CPU than --no-prefilter",
                  f"- the 12 rules: stormpack vs DuckDB, CPU: "
                  f"{med(DUCK, profile, n, 'cpu') / med(SUB, profile, n, 'cpu'):.2f}x; hits record by "
                  f"record: {agree[(profile, n)]}"]
        if SQLITE in engines:
            lines.append(f"- single-event rules: stormpack vs pySigma sqlite, CPU: "
                         f"{med(SQLITE, profile, n, 'cpu') / med(SINGLE, profile, n, 'cpu'):.2f}x")
        lines.append("")
    table = "\n".join(lines).rstrip() + "\n"
    print(table)
    if not args.no_readme and README.exists():
        text = README.read_text(encoding="utf-8")
        if START in text and END in text:
            head, rest = text.split(START, 1)
            _, tail = rest.split(END, 1)
            README.write_text(f"{head}{START}\n{table}{END}{tail}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

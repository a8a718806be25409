"""The comparison engine: pySigma's sqlite backend (Zircolite's engine), Zircolite-style.

Runs in its own venv (bench/.venv-sqlite: pySigma 2.x + pySigma-backend-sqlite 2.x, which
cannot share stormpack's pySigma 1.5.1). Written for the benchmark, as the "minimal pipeline"
of ../shared/reference/perf-anchors.md:

* converts every rule of the pack that applies to the input (m365/audit rules and the
  correlations over them) with ``sqliteBackend`` (placeholders filled from the values files,
  correlation timestamps on ``CreationTime``);
* opens an in-memory SQLite database with Zircolite's PRAGMAs, flattens each record
  (orjson.loads per line; nested objects to dotted column names, lists as JSON text, booleans
  as 'true'/'false'), adds each new key as a ``TEXT COLLATE NOCASE`` column and inserts in
  executemany batches of 10,000 rows;
* registers ``regexp`` (``str()`` of the value, then ``re.search``), creates every column a
  rule needs that the data lacks (so a query on an absent field matches nothing instead of
  failing), runs one SELECT per rule and writes each result row as a JSON line.

By default the whole file goes into one table (as Zircolite does; correlations need all rows).
``--chunk N`` runs the single-event rules every N records and empties the table (bounded
memory); correlation rules are then skipped (they would be wrong across chunks) and their base
rules run as plain rules instead.

    python sqlite_pipeline.py --rules rules --values values IN.jsonl OUT.jsonl [--chunk N]

Prints a per-rule hit count and the totals to stderr.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import yaml
from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import ValueListPlaceholderTransformation
from sigma.rule import SigmaRule

TABLE = "logs"
BATCH = 10_000


def load_values(path: Path) -> dict[str, list[str]]:
    files = sorted(path.glob("*.yml")) if path.is_dir() else [path]
    out: dict[str, list[str]] = {}
    for f in files:
        data = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        for k, v in data.items():
            out[k] = [str(x) for x in (v if isinstance(v, list) else [v])]
    return out


def applies(rule: SigmaRule | SigmaCorrelationRule, kept: set[int]) -> bool:
    if isinstance(rule, SigmaCorrelationRule):
        return all(id(ref.rule) in kept for ref in rule.rules)
    ls = rule.logsource
    return ls.product == "m365" and ls.service == "audit"


def convert(rules_dir: Path, values: dict[str, list[str]], correlations: bool) -> tuple[
        list[tuple[str, str]], set[str], list[str]]:
    """(title, SQL) per rule, the fields the rules need, and the rules that failed to convert."""
    coll = SigmaCollection.load_ruleset([rules_dir])
    pipeline = ProcessingPipeline(items=[ProcessingItem(ValueListPlaceholderTransformation())],
                                  vars=values)
    backend = sqliteBackend(processing_pipeline=pipeline, timestamp_field="CreationTime")
    kept: set[int] = set()
    queries: list[tuple[str, str]] = []
    fields: set[str] = set()
    failed: list[str] = []
    for rule in coll.rules:
        if not applies(rule, kept):
            continue
        if isinstance(rule, SigmaCorrelationRule) and not correlations:
            continue
        kept.add(id(rule))
        try:
            if isinstance(rule, SigmaCorrelationRule):
                sql = backend.convert_correlation_rule(rule)
            else:
                sql = backend.convert_rule(rule)
        except Exception as exc:  # noqa: BLE001 - report and go on, like Zircolite
            failed.append(f"{rule.title}: {type(exc).__name__}: {exc}")
            continue
        if isinstance(rule, SigmaRule):
            fields.update(backend.required_fields(rule))
            if correlations and not getattr(rule, "_output", True):
                continue  # a correlation base rule with generate: false: its correlation runs it
        queries.extend((str(rule.title), q) for q in sql)
    return queries, fields, failed


# The pack addresses name/value arrays by name (Parameters.ForwardTo = the Value of the element
# of Parameters whose Name is ForwardTo; docs/taxonomy.md). A plain flattener cannot, so these
# are added as extra columns; otherwise every rule on cmdlet parameters would silently be dead.
NAME_VALUE = {
    "Parameters": ("Parameters", "Name", "Value"),
    "OperationProperties": ("OperationProperties", "Name", "Value"),
    "ExtendedProperties": ("ExtendedProperties", "Name", "Value"),
    "ModifiedProperties": ("ModifiedProperties", "Name", "NewValue"),
}


def flatten(obj: dict[str, Any], prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {} if out is None else out
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flatten(v, key + ".", out)
        elif isinstance(v, list):
            out[key] = orjson.dumps(v).decode()
            nv = NAME_VALUE.get(key)
            if nv is not None:
                root, name, value = nv
                for el in v:
                    if isinstance(el, dict) and isinstance(el.get(name), str):
                        val = el.get(value)
                        out[f"{root}.{el[name]}"] = None if val is None else str(val)
        elif isinstance(v, bool):
            out[key] = "true" if v else "false"
        elif v is None:
            out[key] = None
        else:
            out[key] = str(v)
    return out


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def regexp(pattern: str, value: Any) -> bool:
    return value is not None and re.search(pattern, str(value)) is not None


class Table:
    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:")
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=MEMORY"):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.create_function("regexp", 2, regexp, deterministic=True)
        self.columns: list[str] = []
        self.known: set[str] = set()
        self.lower: set[str] = set()
        self.db.execute(f"CREATE TABLE {TABLE} (row_id INTEGER PRIMARY KEY)")

    def add_column(self, name: str) -> None:
        if name.lower() in self.lower:  # SQLite column names are case-insensitive
            return
        self.db.execute(f"ALTER TABLE {TABLE} ADD COLUMN {quote(name)} TEXT COLLATE NOCASE")
        self.columns.append(name)
        self.lower.add(name.lower())
        self.known.add(name)

    def insert(self, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            for k in r:
                if k not in self.known:
                    if k.lower() in self.lower:
                        self.known.add(k)
                        continue
                    self.add_column(k)
        cols = self.columns
        index = {c.lower(): i for i, c in enumerate(cols)}
        tuples = []
        for r in rows:
            t: list[Any] = [None] * len(cols)
            for k, v in r.items():
                t[index[k.lower()]] = v
            tuples.append(tuple(t))
        names = ", ".join(quote(c) for c in cols)
        sql = f"INSERT INTO {TABLE} ({names}) VALUES ({', '.join('?' * len(cols))})"
        self.db.executemany(sql, tuples)

    def run(self, queries: list[tuple[str, str]], out: Any, counts: Counter[str]) -> None:
        for title, sql in queries:
            cur = self.db.execute(sql)
            names = [d[0] for d in cur.description]
            for row in cur:
                out.write(orjson.dumps({"rule": title, "row": dict(zip(names, row, strict=True))},
                                       option=orjson.OPT_APPEND_NEWLINE))
                counts[title] += 1

    def clear(self) -> None:
        self.db.execute(f"DELETE FROM {TABLE}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rules", type=Path, required=True)
    ap.add_argument("--values", type=Path, required=True)
    ap.add_argument("--chunk", type=int, default=0, help="run rules every N records (no correlations)")
    ap.add_argument("events", type=Path)
    ap.add_argument("output", type=Path)
    args = ap.parse_args()

    queries, fields, failed = convert(args.rules, load_values(args.values), correlations=not args.chunk)
    table = Table()
    for f in sorted(fields):
        table.add_column(f)
    counts: Counter[str] = Counter()
    n = 0
    with open(args.events, "rb") as src, open(args.output, "wb") as out:
        batch: list[dict[str, Any]] = []
        loads = orjson.loads
        for line in src:
            batch.append(flatten(loads(line)))
            n += 1
            if len(batch) >= BATCH:
                table.insert(batch)
                batch = []
                if args.chunk and n % args.chunk == 0:
                    table.run(queries, out, counts)
                    table.clear()
        if batch:
            table.insert(batch)
        table.run(queries, out, counts)
    for title, c in sorted(counts.items()):
        print(f"  {c:>9,}  {title}", file=sys.stderr)
    for f in failed:
        print(f"  not converted: {f}", file=sys.stderr)
    print(f"sqlite: {n:,} records, {len(queries)} queries, {sum(counts.values()):,} hits, "
          f"{len(failed)} rules not converted", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time order for seekable input: detect disorder, and if there is any, hunt a time-sorted copy.

Correlation rules with bounded state (``--max-disorder D``) assume the input is in time order
(oldest first or newest first) to within ``D``. Files can be read twice, so for them the hunt
need not assume it:

1. :func:`scan_order` reads every record once (no matching), classifies it and reads its time,
   and checks that the sequence is in one direction to within ``D``: oldest first when no record
   is more than ``D`` older than the newest before it, newest first symmetrically. This is the
   engine's own assumption, taken over all records (so it is sufficient for every correlation).
2. If it holds, the hunt runs as before with bounded state ``D``.
3. If not, :func:`sorted_stream` spills the records in sorted runs of at most ``run_records``
   records to temporary files and merges them by (time, input position): the hunt then sees
   one oldest-first stream and its bounded correlation state is exact. Memory: one run plus
   one record per run; disk: the records once. Records without a usable time come last.
"""

from __future__ import annotations

import heapq
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from .errors import EventReadError
from .readers import EventFile, ReaderLimits, Record
from .readers.model import ReadItem

Convert = Callable[[dict[str, Any]], tuple[dict[str, Any], Any]]
Classify = Callable[[Mapping[str, Any]], Any]
RUN_RECORDS = 50_000
_NO_TIME = float("inf")


def record_epoch(record: Mapping[str, Any], spec: Any) -> float | None:
    """Seconds since the epoch of a classified record's time field, or None."""
    from .matcher.correlation import parse_timestamp

    name = getattr(spec, "timestamp", None)
    if not isinstance(name, str):
        return None
    value: Any = record.get(name) if name in record else None
    if value is None and "." in name:
        node: Any = record
        for part in name.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        value = node
    when = parse_timestamp(value)
    return None if when is None else when.timestamp()


def seekable(paths: Sequence[Path]) -> bool:
    """True when every path is a regular file (pipes and devices cannot be read twice)."""
    try:
        return bool(paths) and all(p.is_file() and not p.is_fifo() for p in paths)
    except OSError:
        return False


@dataclass
class OrderScan:
    records: int = 0  # classified records with a usable time
    late_oldest_first: int = 0  # records more than D older than the newest before them
    late_newest_first: int = 0  # records more than D newer than the oldest before them

    @property
    def ordered(self) -> bool:
        return not self.late_oldest_first or not self.late_newest_first

    @property
    def out_of_order(self) -> int:
        return min(self.late_oldest_first, self.late_newest_first)


def _items(paths: Sequence[Path], limits: ReaderLimits | None) -> Iterator[tuple[Path, ReadItem]]:
    for path in paths:
        try:
            f = EventFile(path, limits)
        except EventReadError:
            continue  # the hunt pass reports it
        with f:
            for item in f:
                yield path, item


def scan_order(paths: Sequence[Path], classify: Classify, convert: Convert | None, tolerance: float,
               limits: ReaderLimits | None = None) -> OrderScan:
    """Read every record once and count those out of order in each direction (see module)."""
    scan = OrderScan()
    newest = -_NO_TIME
    oldest = _NO_TIME
    start_file = getattr(convert, "start_file", None)
    current: Path | None = None
    for path, item in _items(paths, limits):
        if item.__class__ is not Record:
            continue
        assert isinstance(item, Record)
        if path is not current:
            current = path
            if start_file is not None:
                start_file(path)
        data = item.data
        if convert is not None:
            data = convert(data)[0]
        spec = classify(data)
        if spec is None:
            continue
        t = record_epoch(data, spec)
        if t is None:
            continue
        scan.records += 1
        if t < newest - tolerance:
            scan.late_oldest_first += 1
        if t > oldest + tolerance:
            scan.late_newest_first += 1
        newest = max(newest, t)
        oldest = min(oldest, t)
        if scan.late_oldest_first and scan.late_newest_first and scan.records > 1:
            # both directions are broken: no need to read on
            break
    return scan


@dataclass(frozen=True)
class SortedRecord:
    """A record of the merged stream: where it came from, its converted data and shape."""

    source: str
    index: int
    line: int
    data: dict[str, Any]
    shape: str | None


Row = tuple[float, int, str, int, int, Any, str | None]


def _spill(rows: list[Row], directory: str) -> str:
    rows.sort(key=lambda r: (r[0], r[1]))
    fd, name = tempfile.mkstemp(prefix="stormpack-sort-", suffix=".jsonl", dir=directory)
    with os.fdopen(fd, "wb") as out:
        for r in rows:
            try:
                out.write(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE))
            except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: the slower encoder
                out.write(json.dumps(r).encode("utf-8", "surrogatepass") + b"\n")
    rows.clear()
    return name


def _read_run(f: IO[bytes]) -> Iterator[Row]:
    for line in f:
        try:
            t, seq, source, index, lineno, data, shape = orjson.loads(line)
        except orjson.JSONDecodeError:
            t, seq, source, index, lineno, data, shape = json.loads(line.decode("utf-8", "surrogatepass"))
        yield (_NO_TIME if t is None else float(t), seq, source, index, lineno, data, shape)


def sorted_stream(
    items: Iterator[tuple[Record, dict[str, Any], str | None, float | None]],
    run_records: int = RUN_RECORDS,
) -> Iterator[SortedRecord]:
    """The records of ``items`` ((record, converted data, shape name, epoch)) in time order,
    ties and untimed records in input order; sorted in runs on disk, merged lazily."""
    runs: list[str] = []
    rows: list[Row] = []
    directory = tempfile.mkdtemp(prefix="stormpack-sort-")
    try:
        for seq, (rec, data, shape, epoch) in enumerate(items):
            t = _NO_TIME if epoch is None else epoch
            rows.append((t, seq, rec.source, rec.index, rec.line, data, shape))
            if len(rows) >= run_records:
                runs.append(_spill(rows, directory))
        if not runs:  # everything fits one run: sort in memory
            rows.sort(key=lambda r: (r[0], r[1]))
            merged: Iterator[Row] = iter(rows)
            files: list[IO[bytes]] = []
        else:
            if rows:
                runs.append(_spill(rows, directory))
            files = [open(name, "rb") for name in runs]  # noqa: SIM115 - closed below
            merged = heapq.merge(*(_read_run(f) for f in files), key=lambda r: (r[0], r[1]))
        try:
            for _, _, source, index, lineno, data, shape in merged:
                yield SortedRecord(source, index, lineno, data, shape)
        finally:
            for f in files:
                f.close()
    finally:
        for name in runs:
            Path(name).unlink(missing_ok=True)
        os.rmdir(directory)

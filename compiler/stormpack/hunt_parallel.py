"""``stormpack hunt --jobs N``: evaluate large JSON Lines files on several cores.

A plain (uncompressed, UTF-8) JSON Lines file is cut at line boundaries into chunks. Worker
processes (forked, so they share the compiled engine) read a chunk with the same reader as the
serial hunt (:func:`stormpack.readers.jsonlines.read_json_lines`, told the chunk's first line
number), convert, classify and match each record, and return:

* the single-event hits (already serialised as JSON lines when the output is the plain JSONL
  sink, otherwise as (rule, timestamp) pairs with the record, for the parent's sink);
* the records that matched a correlation's base rule, with which rules they matched;
* the rejected lines and the counts.

The parent takes the chunks' results **in input order**: it writes the hits and feeds the
correlation records to the one correlation state (:meth:`Engine.feed`), so correlations see
exactly the sequence of the serial hunt and the hits are the same, record for record (only the
position of correlation hits among single hits in the output may differ). At most
``2 * jobs`` chunks are in flight, so memory stays bounded by the chunk size.

Everything else (compressed, UTF-16, CSV and JSON-array files, files below the size threshold,
time-sorted hunts) runs through the serial loop.
"""

from __future__ import annotations

import io
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .readers import ReaderLimits, Record, Rejected, Skipped
from .readers.jsonlines import read_json_lines

#: Chunk size: large enough that the per-task overhead is small, small enough to balance cores.
CHUNK_BYTES = 4 * 1024 * 1024
#: Files smaller than this are not worth a pool (the serial loop is used).
MIN_PARALLEL_BYTES = 16 * 1024 * 1024


class ParallelEngine(Protocol):
    """What the parallel hunt needs of :class:`stormpack.matcher.Engine`."""

    @property
    def rules(self) -> Sequence[Any]: ...
    def classify(self, record: Any) -> Any: ...
    def matching_rules(self, record: Any, logsource: Any = None) -> list[Any]: ...
    def time_text(self, rule: Any, record: Any) -> str | None: ...
    def feed_items(self, record: Any, ref: Any, feeding: Sequence[Any],
                   hits: list[Any]) -> tuple[float, str | None, list[Any]]: ...
    def feed_extracted(self, ref: Any, epoch: float, ts_text: str | None, items: Sequence[Any]) -> None: ...


def default_jobs() -> int:
    """The number of CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class ChunkResult:
    """What a worker returns for one chunk (picklable)."""

    read: int = 0
    evaluated: int = 0  # skipped ones included
    skipped: int = 0
    unrecognised: int = 0
    matched: int = 0
    hits: int = 0
    serialised: bytes = b""  # JSONL sink: the hit lines
    # other sinks: ((rule index, timestamp text) pairs, index, line, record) per matched record
    hit_records: list[tuple[list[tuple[int, str | None]], int, int, dict[str, Any]]] = field(
        default_factory=list)
    # correlation base matches, in input order: (index, line, epoch, time text, feed items), or
    # (index, line, None, warning, []) when the time field is unusable
    feeds: list[tuple[int, int, float | None, str | None, list[Any]]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    converted: dict[str, int] = field(default_factory=dict)
    unrecognised_why: str | None = None


@dataclass
class _WorkerState:
    engine: Any
    convert: Callable[[dict[str, Any]], tuple[dict[str, Any], Any]] | None
    explain: Callable[[dict[str, Any]], str] | None
    limits: ReaderLimits
    serialise: bool
    index_of: dict[int, int]
    skip: Callable[[bytes], bool] | None = None


_STATE: _WorkerState | None = None  # set in the parent before forking; inherited by the workers


def _run_chunk(task: tuple[str, int, int, int]) -> ChunkResult:
    from .hunt import dumps
    from .hunt.contract import SingleHitLines
    from .matcher import EventRef
    from .matcher.results import TimestampError

    assert _STATE is not None
    st = _STATE
    source, start, end, first_line = task
    with open(source, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    out = ChunkResult()
    engine, convert, index_of = st.engine, st.convert, st.index_of
    start_file = getattr(convert, "start_file", None)
    if start_file is not None:
        start_file(source)
    lines: list[bytes] = []
    append = lines.append
    hit_object = SingleHitLines().object
    for item in read_json_lines(io.BytesIO(data), source, st.limits, False, first_line=first_line,
                                skip=st.skip):
        out.read += 1
        if item.__class__ is not Record:
            if item.__class__ is Skipped:
                out.evaluated += 1
                out.skipped += 1
                continue
            assert isinstance(item, Rejected)
            out.rejected.append(item)
            continue
        assert isinstance(item, Record)
        rec = item.data
        shape = None
        if convert is not None:
            rec, shape = convert(rec)
            if shape is not None:
                name = str(getattr(shape, "name", shape))
                out.converted[name] = out.converted.get(name, 0) + 1
                item = Record(item.source, item.index, item.line, rec)
        spec = engine.classify(rec)
        if spec is None:
            if out.unrecognised == 0 and st.explain is not None:
                out.unrecognised_why = st.explain(rec)
            out.unrecognised += 1
            continue
        out.evaluated += 1
        matched = engine.matching_rules(rec, spec)
        if not matched:
            continue
        feeding = [r for r in matched if r.feeds]
        if feeding:
            try:
                epoch, ts, items = engine.feed_items(rec, EventRef(source, item.index), feeding, [])
                out.feeds.append((item.index, item.line, epoch, ts, items))
            except TimestampError as exc:
                out.feeds.append((item.index, item.line, None, exc.message, []))
        emitting = [r for r in matched if r.emits]
        if shape is not None and hasattr(shape, "admits"):
            emitting = [r for r in emitting if shape.admits(r.loaded.rule)]
        if not emitting:
            continue
        out.matched += 1
        out.hits += len(emitting)
        ts_text = engine.time_text(matched[0], rec)
        if st.serialise:
            from .matcher.results import Hit

            ref = EventRef(source, item.index)
            for r in emitting:
                append(dumps(hit_object(Hit(r.loaded, ref, ts_text), item)))
        else:
            pairs = [(index_of[id(r)], ts_text) for r in emitting]
            out.hit_records.append((pairs, item.index, item.line, rec))
    out.serialised = b"".join(lines)
    return out


def plan_chunks(path: Path, start: int,
                chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[str, int, int, int]]:
    """(source, start, end, first line number) of each chunk, cut after a newline; the line
    numbers are counted as the chunks are planned (one sequential read of the file)."""
    size = path.stat().st_size
    source = str(path)
    line = 0
    with open(path, "rb") as fh:
        pos = start
        while pos < size:
            fh.seek(pos)
            block = fh.read(chunk_bytes)
            if not block:
                break
            end = pos + len(block)
            if end < size and not block.endswith(b"\n"):
                rest = fh.readline()  # to the end of the line the block cut
                end += len(rest)
                nl = block.count(b"\n") + rest.count(b"\n")
            else:
                nl = block.count(b"\n")
            yield source, pos, end, line
            line += nl
            pos = end


class ParallelHunt:
    """A pool of forked workers sharing the engine; see the module docstring."""

    def __init__(self, engine: Any, jobs: int, limits: ReaderLimits,
                 convert: Callable[[dict[str, Any]], tuple[dict[str, Any], Any]] | None,
                 explain: Callable[[dict[str, Any]], str] | None, serialise: bool,
                 skip: Callable[[bytes], bool] | None = None) -> None:
        global _STATE
        self.engine = engine
        self.jobs = jobs
        _STATE = _WorkerState(engine, convert, explain, limits, serialise,
                              {id(r): i for i, r in enumerate(engine.rules)}, skip)
        self._pool = multiprocessing.get_context("fork").Pool(jobs)

    def results(self, path: Path, start: int) -> Iterator[ChunkResult]:
        """The chunks' results of one file, in input order, at most 2 * jobs in flight."""
        pending: deque[Any] = deque()
        for task in plan_chunks(path, start):
            pending.append(self._pool.apply_async(_run_chunk, (task,)))
            if len(pending) >= 2 * self.jobs:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()

    def close(self) -> None:
        global _STATE
        self._pool.close()
        self._pool.join()
        _STATE = None

    def terminate(self) -> None:
        global _STATE
        self._pool.terminate()
        self._pool.join()
        _STATE = None


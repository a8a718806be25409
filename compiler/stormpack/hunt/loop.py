"""The hunt loop: every file, every record, in file order, in time order or in worker processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from ..errors import EventReadError, TimestampError
from ..hunt_parallel import MIN_PARALLEL_BYTES, ParallelEngine, ParallelHunt
from ..readers import EventFile, ReaderLimits, Record, Rejected, Skipped, resolve_event_paths
from .progress import Progress
from .protocols import HuntEngine, RefFactory
from .sinks import HitSink, JsonlSink
from .stats import MAX_LISTED, HuntStats


def run_hunt(
    engine: HuntEngine,
    paths: Sequence[str | Path],
    sink: HitSink,
    make_ref: RefFactory,
    *,
    limits: ReaderLimits | None = None,
    on_reject: Callable[[Rejected], None] | None = None,
    on_unusable: Callable[[EventReadError], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    progress: Progress | None = None,
    convert: Callable[[dict[str, Any]], tuple[dict[str, Any], Any]] | None = None,
    explain: Callable[[dict[str, Any]], str] | None = None,
    time_sort: bool = False,
    jobs: int = 1,
    parallel_min_bytes: int | None = None,
    prefilter: bool = True,
) -> HuntStats:
    """Read every file under ``paths``, evaluate each record, send hits to ``sink``.

    A missing path raises :class:`EventReadError` before anything is read. A file that is
    unusable as a whole is reported and skipped; the others are still read.

    ``convert`` (e.g. :func:`stormpack.shapes.inverse.normalise`) turns a record exported from a
    SIEM table back into its source shape before classification: it returns ``(record, shape)``,
    shape None for a record it leaves alone; converted records are counted by ``shape.name``
    and the sinks receive the converted record; when the shape has ``admits(rule)``, hits of
    rules it does not admit (fields the exported table lacks) are dropped. A ``convert`` with a
    ``start_file(path)`` method is told of each file before its records.

    ``explain`` turns the first unrecognised record of a file into one line (which log source it
    resembles, which columns it lacks), kept in ``stats.unrecognised_why``.

    ``time_sort``: evaluate the records in time order (sorted on disk, see
    :mod:`stormpack.hunt_order`) instead of file order; the files are read once to sort them.

    ``jobs``: worker processes for large plain JSON Lines files (:mod:`stormpack.hunt_parallel`;
    files of at least ``parallel_min_bytes``); same hits and counts as ``jobs=1``.

    ``prefilter``: JSON lines that no rule can match are decided without being parsed
    (:mod:`stormpack.prefilter`; counted as evaluated, and in ``stats.skipped``); same hits,
    counts and rejections as without it.
    """
    files = resolve_event_paths(paths)
    stats = HuntStats(files=len(files))
    classify, process = engine.classify, engine.process
    single = sink.single
    # an engine with bounded correlation state hands over the hits it has decided as it goes
    drain: Callable[[], Sequence[Any]] | None = getattr(engine, "drain", None)
    start_file: Callable[[str | Path], None] | None = getattr(convert, "start_file", None)

    def correlations(found: Sequence[Any]) -> None:
        for chit in found:
            stats.correlation_hits += 1
            sink.correlation(chit)

    def reject(item: Rejected) -> None:
        stats.rejected += 1
        if len(stats.rejections) < MAX_LISTED:
            stats.rejections.append(item)
        if on_reject is not None:
            on_reject(item)

    if time_sort:
        _hunt_sorted(engine, files, stats, sink, make_ref, limits, reject, on_unusable, on_warning,
                     convert, explain, correlations, drain)
        files = []
    parallel: ParallelHunt | None = None
    skip = None
    if prefilter and files and _total_bytes(files) >= PREFILTER_MIN_BYTES:
        from ..prefilter import for_engine

        skip = for_engine(engine, convert, _sample(files, limits))
    try:
        for fileno, path in enumerate(files, start=1):
            f = _open(path, limits, stats, on_unusable)
            if f is None:
                continue
            if start_file is not None:
                start_file(path)
            if jobs > 1 and hasattr(engine, "feed_extracted") and _parallel_ok(f, parallel_min_bytes):
                with f:
                    if parallel is None:
                        parallel = ParallelHunt(engine, jobs, f.limits, convert, explain,
                                                serialise=type(sink) is JsonlSink, skip=skip)
                    _hunt_parallel(parallel, engine, f, stats, sink, make_ref, reject, on_warning,
                                   correlations, drain)
                if progress is not None:
                    progress.update(fileno, len(files), f, stats.read, force=True)
                continue
            with f:
                read = evaluated = unrecognised = matched = nhits = skipped = 0
                tick = progress is not None and progress.enabled
                try:
                    for item in f.items(skip):
                        read += 1
                        if read & 1023 == 0:
                            if drain is not None:
                                correlations(drain())
                            if tick:
                                progress.update(fileno, len(files), f, stats.read + read)  # type: ignore[union-attr]
                        if item.__class__ is not Record:
                            if item.__class__ is Skipped:
                                skipped += 1
                                continue
                            assert isinstance(item, Rejected)
                            reject(item)
                            continue
                        assert isinstance(item, Record)
                        data = item.data
                        shape = None
                        if convert is not None:
                            data, shape = convert(data)
                            if shape is not None:  # a SIEM export row, now in its source shape
                                name = str(getattr(shape, "name", shape))
                                stats.converted[name] = stats.converted.get(name, 0) + 1
                                item = Record(item.source, item.index, item.line, data)
                        spec = classify(data)
                        if spec is None:
                            if not unrecognised and explain is not None:
                                stats.unrecognised_why[f.source] = explain(data)
                            unrecognised += 1
                            continue
                        evaluated += 1
                        try:
                            hits = process(data, make_ref(item.source, item.index), spec)
                        except TimestampError as exc:
                            # the record's time field is unusable for correlations; the error
                            # carries the single-event hits already found.
                            hits = list(exc.hits)
                            stats.warn(f"{item.source}:{item.line}: {exc.message}", on_warning)
                        if shape is not None and hasattr(shape, "admits"):
                            # a rule reading a field the exported table lacks cannot judge the row
                            hits = [h for h in hits if shape.admits(h.rule.rule)]
                        if hits:
                            matched += 1
                            nhits += len(hits)
                            for hit in hits:
                                single(hit, item)
                finally:
                    stats.read += read
                    stats.evaluated += evaluated + skipped
                    stats.skipped += skipped
                    stats.matched += matched
                    stats.hits += nhits
                    if unrecognised:
                        stats.unrecognised += unrecognised
                        stats.unrecognised_by_source[f.source] = unrecognised
                if progress is not None:
                    progress.update(fileno, len(files), f, stats.read, force=True)
    except BaseException:
        if parallel is not None:
            parallel.terminate()
        raise
    if parallel is not None:
        parallel.close()
    if progress is not None:
        progress.clear()
    correlations(engine.finish())
    stats.late = int(getattr(engine, "late_records", 0))
    stats.late_samples = list(getattr(engine, "late_samples", ()))[:MAX_LISTED]
    sink.close()
    if not stats.adds_up:  # pragma: no cover - an invariant of the loop above
        raise AssertionError(f"hunt counts do not add up: {stats}")
    return stats


SAMPLE_LINES = 1000
#: inputs smaller than this are hunted without the prefilter: building it (about 0.07 s)
#: costs more than it can save on them
PREFILTER_MIN_BYTES = 8 * 1024 * 1024


def _total_bytes(files: Sequence[Path]) -> int:
    total = 0
    for path in files:
        try:
            total += path.stat().st_size
        except OSError:
            continue
        if total >= PREFILTER_MIN_BYTES:
            break
    return total


def _sample(files: Sequence[Path], limits: ReaderLimits | None) -> list[bytes]:
    """The first lines of the first JSON Lines file: the prefilter picks its literals on them."""
    from ..readers import FileFormat

    for path in files:
        try:
            with EventFile(path, limits) as f:
                if f.format is FileFormat.JSON_LINES:
                    return f.head_lines(SAMPLE_LINES)
        except (EventReadError, OSError):
            continue
    return []


def _parallel_ok(f: EventFile, min_bytes: int | None) -> bool:
    """A file the parallel hunt reads exactly as the serial one: plain UTF-8 JSON Lines on disk."""
    from ..readers import FileFormat

    threshold = MIN_PARALLEL_BYTES if min_bytes is None else min_bytes
    return (f.format is FileFormat.JSON_LINES and not f.compressed
            and f.encoding in ("utf-8", "utf-8-sig") and f.size >= threshold)


def _hunt_parallel(
    par: ParallelHunt, engine: HuntEngine, f: EventFile, stats: HuntStats, sink: HitSink,
    make_ref: RefFactory, reject: Callable[[Rejected], None],
    on_warning: Callable[[str], None] | None, correlations: Callable[[Sequence[Any]], None],
    drain: Callable[[], Sequence[Any]] | None,
) -> None:
    """One file through the worker pool; results taken in input order (see hunt_parallel)."""
    from ..matcher.results import Hit

    eng = cast(ParallelEngine, engine)
    rules, feed = eng.rules, eng.feed_extracted
    source = f.source
    lines = getattr(sink, "lines", None)
    unrecognised = 0
    for res in par.results(f.path, 3 if f.encoding == "utf-8-sig" else 0):
        for item in res.rejected:
            reject(item)
        stats.read += res.read
        stats.evaluated += res.evaluated
        stats.skipped += res.skipped
        stats.matched += res.matched
        stats.hits += res.hits
        if res.unrecognised:
            if not unrecognised and res.unrecognised_why is not None:
                stats.unrecognised_why[source] = res.unrecognised_why
            unrecognised += res.unrecognised
        for name, n in res.converted.items():
            stats.converted[name] = stats.converted.get(name, 0) + n
        if res.serialised:
            assert lines is not None
            lines(res.serialised)
        for pairs, index, line, rec in res.hit_records:
            record = Record(source, index, line, rec)
            ref = make_ref(source, index)
            for i, ts in pairs:
                sink.single(Hit(rules[i].loaded, ref, ts), record)
        for index, line, epoch, ts, items in res.feeds:
            if epoch is not None:
                feed(make_ref(source, index), epoch, ts, items)
            else:  # the worker's TimestampError: single hits kept, correlations cannot use it
                stats.warn(f"{source}:{line}: {ts}", on_warning)
        if drain is not None:
            correlations(drain())
    if unrecognised:
        stats.unrecognised += unrecognised
        stats.unrecognised_by_source[source] = unrecognised


def _hunt_sorted(
    engine: HuntEngine, files: Sequence[Path], stats: HuntStats, sink: HitSink, make_ref: RefFactory,
    limits: ReaderLimits | None, reject: Callable[[Rejected], None],
    on_unusable: Callable[[EventReadError], None] | None, on_warning: Callable[[str], None] | None,
    convert: Callable[[dict[str, Any]], tuple[dict[str, Any], Any]] | None,
    explain: Callable[[dict[str, Any]], str] | None,
    correlations: Callable[[Sequence[Any]], None], drain: Callable[[], Sequence[Any]] | None,
) -> None:
    """The loop of :func:`run_hunt` over a time-sorted stream of every file's records."""
    from ..hunt_order import record_epoch, sorted_stream

    classify, process = engine.classify, engine.process
    start_file = getattr(convert, "start_file", None)
    shapes: dict[str, Any] = {}

    def classified() -> Iterator[tuple[Record, dict[str, Any], str | None, float | None]]:
        for path in files:
            f = _open(path, limits, stats, on_unusable)
            if f is None:
                continue
            if start_file is not None:
                start_file(path)
            with f:
                unrecognised = 0
                for item in f:
                    stats.read += 1
                    if item.__class__ is not Record:
                        assert isinstance(item, Rejected)
                        reject(item)
                        continue
                    data, shape = convert(item.data) if convert is not None else (item.data, None)
                    name = None
                    if shape is not None:
                        name = str(getattr(shape, "name", shape))
                        stats.converted[name] = stats.converted.get(name, 0) + 1
                        shapes[name] = shape
                    spec = classify(data)
                    if spec is None:
                        if not unrecognised and explain is not None:
                            stats.unrecognised_why[f.source] = explain(data)
                        unrecognised += 1
                        continue
                    stats.evaluated += 1
                    yield item, data, name, record_epoch(data, spec)
                if unrecognised:
                    stats.unrecognised += unrecognised
                    stats.unrecognised_by_source[f.source] = unrecognised

    for n, rec in enumerate(sorted_stream(classified()), start=1):
        if drain is not None and n & 1023 == 0:
            correlations(drain())
        data = rec.data
        spec = classify(data)
        try:
            hits = process(data, make_ref(rec.source, rec.index), spec)
        except TimestampError as exc:
            hits = list(exc.hits)
            stats.warn(f"{rec.source}:{rec.line}: {exc.message}", on_warning)
        shape = shapes.get(rec.shape) if rec.shape is not None else None
        if shape is not None and hasattr(shape, "admits"):
            hits = [h for h in hits if shape.admits(h.rule.rule)]
        if hits:
            stats.matched += 1
            stats.hits += len(hits)
            record = Record(rec.source, rec.index, rec.line, data)
            for hit in hits:
                sink.single(hit, record)


def _open(path: Path, limits: ReaderLimits | None, stats: HuntStats,
          on_unusable: Callable[[EventReadError], None] | None) -> EventFile | None:
    """The file opened for reading, or None when it is unusable (counted and reported)."""
    try:
        return EventFile(path, limits)
    except EventReadError as exc:
        stats.unusable.append(exc)
        if on_unusable is not None:
            on_unusable(exc)
        return None

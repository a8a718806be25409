"""``stormpack hunt``: stream exported logs through the matcher and report every hit.

The loop is independent of the command line: :func:`run_hunt` takes an engine (anything with
the matcher's ``classify`` / ``process`` / ``finish`` API), the input files and a sink for the
hits, and returns :class:`HuntStats` whose counts always add up::

    read == evaluated + unrecognised + rejected

Every rejected record and every unusable file is reported through the callbacks as it happens
(file, line, what is wrong) and kept (up to a bound) for the summary.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Protocol, cast

import orjson

from .errors import EventReadError, Location, StormpackError
from .hunt_parallel import MIN_PARALLEL_BYTES, ParallelEngine, ParallelHunt
from .readers import EventFile, ReaderLimits, Record, Rejected, Skipped, resolve_event_paths
from .triage import parse_utc, utc_text

# ------------------------------------------------------------------------------ engine protocol


class RuleLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def rule(self) -> Any: ...


class HitLike(Protocol):
    @property
    def rule(self) -> RuleLike: ...
    @property
    def ref(self) -> Any: ...
    @property
    def timestamp(self) -> Any: ...


class CorrelationHitLike(Protocol):
    @property
    def rule(self) -> RuleLike: ...
    @property
    def group(self) -> Mapping[str, object]: ...
    @property
    def refs(self) -> Sequence[Any]: ...
    @property
    def first_seen(self) -> Any: ...
    @property
    def last_seen(self) -> Any: ...


class HuntEngine(Protocol):
    """The part of :class:`stormpack.matcher.Engine` the hunt uses."""

    def classify(self, record: Mapping[str, Any]) -> Any: ...
    def process(self, record: Mapping[str, Any], ref: Any, logsource: Any = None) -> Sequence[Any]: ...
    def finish(self) -> Sequence[Any]: ...


RefFactory = Callable[[str, int], Any]


def level_of(rule: RuleLike) -> str | None:
    level = getattr(rule.rule, "level", None)
    return None if level is None else str(level)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def dumps(obj: Any) -> bytes:
    """One JSON line (orjson; records are depth-bounded by the readers)."""
    return orjson.dumps(obj, default=_json_default, option=orjson.OPT_APPEND_NEWLINE)


_RULE_META: dict[int, tuple[Any, str, str, str | None]] = {}


def rule_meta(rule: RuleLike) -> tuple[str, str, str | None]:
    """(id, title, level) of a rule, computed once per rule object (hits are many, rules few)."""
    meta = _RULE_META.get(id(rule))
    if meta is None or meta[0] is not rule:
        meta = _RULE_META[id(rule)] = (rule, rule.id, rule.title, level_of(rule))
    return meta[1], meta[2], meta[3]


def single_hit_object(hit: HitLike, record: Record) -> dict[str, Any]:
    """The JSONL contract for a single-event hit."""
    rule_id, title, level = rule_meta(hit.rule)
    return {
        "rule_id": rule_id,
        "rule_title": title,
        "level": level,
        "source": record.source,
        "event_index": record.index,
        "timestamp": utc_text(hit.timestamp),
        "event": record.data,
    }


def correlation_hit_object(hit: CorrelationHitLike) -> dict[str, Any]:
    """The JSONL contract for a correlation hit."""
    return {
        "rule_id": hit.rule.id,
        "rule_title": hit.rule.title,
        "level": level_of(hit.rule),
        "group": dict(hit.group),
        "event_indices": [r.index for r in hit.refs],
        "events": [{"source": r.source, "event_index": r.index} for r in hit.refs],
        "first_seen": utc_text(hit.first_seen),
        "last_seen": utc_text(hit.last_seen),
    }


# ------------------------------------------------------------------------------ statistics

MAX_LISTED = 1000  # rejected records / warnings kept for the summary (all are reported live)


@dataclass
class HuntStats:
    files: int = 0
    read: int = 0
    evaluated: int = 0
    unrecognised: int = 0
    rejected: int = 0
    matched: int = 0  # records with at least one single-event hit
    skipped: int = 0  # of the evaluated: decided by the prefilter without parsing (no rule can match)
    hits: int = 0
    correlation_hits: int = 0
    rejections: list[Rejected] = field(default_factory=list)
    unusable: list[EventReadError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    warning_count: int = 0
    unrecognised_by_source: dict[str, int] = field(default_factory=dict)
    unrecognised_why: dict[str, str] = field(default_factory=dict)  # file -> what its first one lacks
    converted: dict[str, int] = field(default_factory=dict)  # export shape -> rows converted back
    late: int = 0  # records evaluated, but left out of a correlation (beyond --max-disorder)
    late_samples: list[str] = field(default_factory=list)

    def warn(self, text: str, on_warning: Callable[[str], None] | None) -> None:
        """Count a warning, keep it for the summary (up to a bound), report it as it happens."""
        self.warning_count += 1
        if len(self.warnings) < MAX_LISTED:
            self.warnings.append(text)
        if on_warning is not None:
            on_warning(text)

    @property
    def adds_up(self) -> bool:
        return self.read == self.evaluated + self.unrecognised + self.rejected

    @property
    def complete(self) -> bool:
        """True when every input file was usable, every record could be read and none came too
        late for the correlation rules."""
        return not self.unusable and not self.rejected and not self.late


# ------------------------------------------------------------------------------ sinks


class HitSink(Protocol):
    def single(self, hit: HitLike, record: Record) -> None: ...
    def correlation(self, hit: CorrelationHitLike) -> None: ...
    def close(self) -> None: ...


class JsonlSink:
    """Writes each hit as one JSON line as soon as it is found."""

    def __init__(self, out: IO[bytes]) -> None:
        self._write = out.write

    def single(self, hit: HitLike, record: Record) -> None:
        self._write(dumps(single_hit_object(hit, record)))

    def lines(self, data: bytes) -> None:
        """Hit lines serialised elsewhere (``--jobs``: in the worker processes)."""
        self._write(data)

    def correlation(self, hit: CorrelationHitLike) -> None:
        self._write(dumps(correlation_hit_object(hit)))

    def close(self) -> None:
        return None


# ------------------------------------------------------------------------------ progress


class Progress:
    """A one-line progress indicator on a terminal; does nothing when not enabled."""

    def __init__(self, stream: IO[str], enabled: bool, interval: float = 0.25) -> None:
        self._stream = stream
        self.enabled = enabled
        self._interval = interval
        self._last = 0.0
        self._shown = False

    def update(self, fileno: int, nfiles: int, f: EventFile, records: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self._interval:
            return
        self._last = now
        pct = f"{100 * f.position() / f.size:5.1f}%" if f.size else "    ?"
        name = f.source if len(f.source) <= 40 else "..." + f.source[-37:]
        self._stream.write(f"\r\x1b[K[{fileno}/{nfiles}] {name} {pct}  {records:,} records")
        self._stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False


# ------------------------------------------------------------------------------ the loop


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
        from .prefilter import for_engine

        skip = for_engine(engine, convert, _sample(files, limits))
    try:
        for fileno, path in enumerate(files, start=1):
            try:
                f = EventFile(path, limits)
            except EventReadError as exc:
                stats.unusable.append(exc)
                if on_unusable is not None:
                    on_unusable(exc)
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
                        except EventReadError as exc:
                            # the matcher's TimestampError: the record's time field is unusable for
                            # correlations; it carries the single-event hits already found.
                            if not hasattr(exc, "hits"):
                                raise
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
    from .readers import FileFormat

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
    from .readers import FileFormat

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
    from .matcher.results import Hit

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
    from .hunt_order import record_epoch, sorted_stream

    classify, process = engine.classify, engine.process
    start_file = getattr(convert, "start_file", None)
    shapes: dict[str, Any] = {}

    def classified() -> Iterator[tuple[Record, dict[str, Any], str | None, float | None]]:
        for path in files:
            try:
                f = EventFile(path, limits)
            except EventReadError as exc:
                stats.unusable.append(exc)
                if on_unusable is not None:
                    on_unusable(exc)
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
        except EventReadError as exc:
            if not hasattr(exc, "hits"):
                raise
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


# ------------------------------------------------------------------------------ output file


@contextmanager
def atomic_output(path: Path) -> Iterator[IO[bytes]]:
    """A binary file that appears at ``path`` only when the block completes.

    Written to a temporary file beside ``path`` and renamed over it at the end; on any error
    (or Ctrl-C) the temporary file is removed and an existing ``path`` is left untouched.
    """
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise StormpackError("output directory does not exist", Location(path))
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=directory)
    except OSError as exc:
        raise StormpackError(f"cannot write output: {exc.strerror or exc}", Location(path)) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # disk full, permissions...: one clear line, not a traceback
            raise StormpackError(f"output not written: {exc.strerror or exc}", Location(path)) from None
        raise


def stdout_binary() -> IO[bytes]:
    return sys.stdout.buffer


# ------------------------------------------------------------------------------ table


def role_columns() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The fields of the user and ip columns: the taxonomy's ``user`` and ``ip`` roles."""
    from .taxonomy import load_taxonomy

    tax = load_taxonomy()
    return tax.role_fields("user"), tax.role_fields("ip")


_WHAT_FIELDS = ("Operation", "operationName", "OperationName")
_MAX_KEY_FIELDS = 4
_MAX_CELL = 60


def field_value(record: Mapping[str, Any], name: str) -> Any:
    """A dotted field of a record; name/value arrays (``Parameters.ForwardTo``) by name."""
    if name in record:
        return record[name]
    from .taxonomy import load_taxonomy

    nv = load_taxonomy().name_value_root(name)
    if nv is not None:
        root, element = nv
        arr = record.get(root.array)
        if isinstance(arr, list):
            for el in arr:
                if isinstance(el, dict) and el.get(root.name) == element:
                    return el.get(root.value)
    node: Any = record
    for part in name.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list):
            node = [x.get(part) for x in node if isinstance(x, dict) and part in x]
            if not node:
                return None
        else:
            return None
    return node


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    text = " ".join(text.split())
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def _first(record: Mapping[str, Any], names: Sequence[str]) -> tuple[str, str]:
    for n in names:
        v = field_value(record, n)
        if v not in (None, "", []):
            return n, _cell(v)
    return "", ""


def rule_fields(rule: RuleLike) -> list[str]:
    """The fields a single-event rule's detection tests, in order, without duplicates."""
    from sigma.rule import SigmaRule

    from .ruleset import iter_detection_fields

    if not isinstance(rule.rule, SigmaRule):
        return []
    out: list[str] = []
    for name, _ in iter_detection_fields(rule.rule):
        if name not in out:
            out.append(name)
    return out


TABLE_HEADER = ("time", "rule", "level", "user", "ip", "key fields")


class TableSink:
    """Collects one short row per hit (never the records) and prints them sorted by time."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._rows: list[tuple[tuple[int, str], tuple[str, ...]]] = []
        self._fields: dict[int, list[str]] = {}
        self._user_fields, self._ip_fields = role_columns()

    def single(self, hit: HitLike, record: Record) -> None:
        data = record.data
        key = id(hit.rule)
        names = self._fields.get(key)
        if names is None:
            names = self._fields[key] = rule_fields(hit.rule)
        user_field, user = _first(data, self._user_fields)
        ip_field, ip = _first(data, self._ip_fields)
        what_field, what = _first(data, _WHAT_FIELDS)
        shown = {user_field, ip_field, what_field}
        details = [what] if what else []
        for n in names:
            if n in shown or len(details) > _MAX_KEY_FIELDS:
                continue
            v = field_value(data, n)
            if v not in (None, "", []):
                details.append(f"{n}={_cell(v)}")
        details.append(f"[{record.source}:{record.line}]")
        ts = hit.timestamp
        self._rows.append((utc_sort_key(ts), (
            utc_text(ts) or ("" if ts is None else str(ts)), hit.rule.title, level_of(hit.rule) or "",
            user, ip, " ".join(details),
        )))

    def correlation(self, hit: CorrelationHitLike) -> None:
        group = " ".join(f"{k}={_cell(v)}" for k, v in hit.group.items())
        self._rows.append((utc_sort_key(hit.first_seen), (
            utc_text(hit.first_seen) or str(hit.first_seen), hit.rule.title, level_of(hit.rule) or "",
            group, "",
            f"correlation: {len(hit.refs)} events until {utc_text(hit.last_seen) or hit.last_seen}",
        )))

    def close(self) -> None:
        self._rows.sort(key=lambda r: r[0])
        rows = [TABLE_HEADER] + [tuple(map(_printable, r)) for _, r in self._rows]
        widths = [max(len(r[i]) for r in rows) for i in range(len(TABLE_HEADER) - 1)]
        lines = []
        for r in rows:
            cells = [c.ljust(w) for c, w in zip(r, widths, strict=False)] + [r[-1]]
            lines.append("  ".join(cells).rstrip())
        self._out.write(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
        self._rows.clear()


# control characters (C0, DEL, C1) and bidirectional overrides: log values are untrusted, and
# printed raw they could drive the terminal (escape sequences) or reorder what a reader sees
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _printable(text: str) -> str:
    """``text`` with every control character / bidi override shown as an escape (``\\x1b``)."""
    return _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], text)


def utc_sort_key(value: Any) -> tuple[int, str]:
    """Sort key putting hits in time order; records without a parseable time go last."""
    if isinstance(value, str):
        d = parse_utc(value)
        if d is None:
            return (1, value)
        return (0, d.isoformat())
    return (1, "")

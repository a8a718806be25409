"""Reading any supported log file: open, detect the format, stream its records."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ..errors import EventReadError, Location
from ..paths import expand_paths
from .csvexport import read_csv
from .detect import detect_format
from .evtx import is_evtx, read_evtx
from .jsondoc import read_json_documents
from .jsonlines import read_json_lines
from .model import FileFormat, ReaderLimits, ReadItem, Skipped
from .source import STREAM_ERRORS, OpenedSource, open_source
from .w3c import read_w3c


class EventFile:
    """An opened input file. Iterate it for its records; ``position()`` and ``size`` give progress.

    Opening raises :class:`EventReadError` when the file as a whole is unusable (missing, empty,
    binary, unknown format). Everything that goes wrong later is a :class:`Rejected` item.
    """

    def __init__(self, path: str | Path, limits: ReaderLimits | None = None) -> None:
        self.path = Path(path)
        self.source = str(path)
        self.limits = limits or ReaderLimits()
        if self.path.is_dir():
            raise EventReadError("is a directory", Location(self.path))
        try:
            self.size = self.path.stat().st_size
        except OSError:
            self.size = 0
        self._opened: OpenedSource | None = None
        if is_evtx(self.path):
            self.format = FileFormat.EVTX
            return
        self._opened, head, complete = open_source(self.path)
        try:
            self.format = detect_format(self.path, head, complete)
        except BaseException:
            self._opened.close()
            raise

    @property
    def compressed(self) -> bool:
        return self._opened is not None and self._opened.layers.compressed

    @property
    def encoding(self) -> str:
        return self._opened.layers.encoding if self._opened is not None else "evtx"

    def position(self) -> int:
        # the Rust parser reads the file itself: progress is known only at the end
        return self._opened.position() if self._opened is not None else 0

    def __iter__(self) -> Iterator[ReadItem]:
        if self._opened is None:
            return read_evtx(self.path, self.source)
        stream, limits, src, gz = self._opened.stream, self.limits, self.source, self.compressed
        fmt = self.format
        if fmt is FileFormat.JSON_LINES:
            return read_json_lines(stream, src, limits, gz)
        if fmt in (FileFormat.JSON_ARRAY, FileFormat.JSON_DOCUMENTS):
            return read_json_documents(stream, src, limits, gz)
        if fmt is FileFormat.W3C:
            return read_w3c(stream, src, limits, gz)
        return read_csv(stream, src, limits, gz, purview=fmt is FileFormat.PURVIEW_CSV)

    def head_lines(self, n: int, max_bytes: int = 4 * 1024 * 1024) -> list[bytes]:
        """Up to ``n`` raw lines from the start (at most ``max_bytes`` in all), for sampling;
        the file is then left part-read (open a new EventFile to read its records)."""
        out: list[bytes] = []
        if self._opened is None:
            return out
        total = 0
        try:
            while len(out) < n and total < max_bytes:
                line = self._opened.stream.readline(max_bytes - total)
                if not line:
                    break
                total += len(line)
                out.append(line)
        except STREAM_ERRORS:
            pass
        return out

    def items(self, skip: Callable[[bytes], bool] | None) -> Iterator[ReadItem | Skipped]:
        """Like iterating the file, with ``skip`` (the hunt's prefilter) deciding JSON lines and
        the AuditData of Purview CSV rows before they are parsed (other formats as usual)."""
        if skip is None or self._opened is None:
            return iter(self)
        if self.format is FileFormat.JSON_LINES:
            return read_json_lines(self._opened.stream, self.source, self.limits, self.compressed,
                                   skip=skip)
        if self.format is FileFormat.PURVIEW_CSV:  # the AuditData cell of each row
            return read_csv(self._opened.stream, self.source, self.limits, self.compressed,
                            purview=True, skip=skip)
        return iter(self)

    def close(self) -> None:
        if self._opened is not None:
            self._opened.close()

    def __enter__(self) -> EventFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_events(path: str | Path, limits: ReaderLimits | None = None) -> Iterator[ReadItem]:
    """Every record (or rejection) of one file, in file order."""
    with EventFile(path, limits) as f:
        yield from f


def resolve_event_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Expand files and directories (every non-hidden file below, sorted) into a file list."""
    return expand_paths(paths, what="event", error=EventReadError, keep=_not_hidden,
                        none_kept="directory holds no files", is_input=Path.exists)


def _not_hidden(file: Path, directory: Path) -> bool:
    return not any(part.startswith(".") for part in file.relative_to(directory).parts)

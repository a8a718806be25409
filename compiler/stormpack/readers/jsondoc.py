"""JSON documents streamed with bounded memory: a top-level array, a ``{"records": [...]}``
batch (Entra diagnostic settings / Event Hub), one pretty-printed object, or several JSON
documents one after another.

Values are cut out of a sliding text window with the C scanner of :mod:`json`
(``raw_decode``), so only the current record is ever held whole. A syntax error inside an
array cannot be resynchronised reliably, so it rejects the unreadable rest of the file (with
the element number and line) instead of guessing.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Generator, Iterator
from typing import Any, BinaryIO

from ..errors import BrokenStreamError
from .depth import DEPTH_MESSAGE, too_deep
from .model import ReaderLimits, ReadItem, Record, Rejected
from .source import STREAM_ERRORS, describe_stream_error
from .unwrap import RecordShapeError, expand, to_record

_WS = re.compile(r"[ \t\r\n]*")
_RECORDS_BATCH = re.compile(r'\{[ \t\r\n]*"records"[ \t\r\n]*:[ \t\r\n]*\[')
_SURROGATE = re.compile("[\udc80-\udcff]")
_DECODER = json.JSONDecoder()


class _Window:
    """A sliding window of decoded text over a byte stream, with line counting."""

    def __init__(self, stream: BinaryIO, limits: ReaderLimits, compressed: bool) -> None:
        self._read = getattr(stream, "read1", stream.read)  # read1: keep data before a broken tail
        self._limits = limits
        self._compressed = compressed
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self.buf = ""
        self.pos = 0
        self.eof = False
        self._line = 1  # line number at _counted
        self._counted = 0

    def fill(self, want: int | None = None) -> bool:
        """Read more text; False at end of input."""
        if self.eof:
            return False
        if self.pos > self._limits.chunk_bytes:
            self.line_at(self.pos)
            self.buf = self.buf[self.pos:]
            self._counted -= self.pos
            self.pos = 0
        try:
            data = self._read(max(want or 0, self._limits.chunk_bytes))
        except STREAM_ERRORS as exc:
            self.eof = True
            raise BrokenStreamError(describe_stream_error(exc, self._compressed)) from None
        if not data:
            self.eof = True
            self.buf += self._decoder.decode(b"", final=True)
            return False
        self.buf += self._decoder.decode(data)
        return True

    def line_at(self, pos: int) -> int:
        if pos > self._counted:
            self._line += self.buf.count("\n", self._counted, pos)
            self._counted = pos
        return self._line

    def skip_ws(self) -> bool:
        """Move past whitespace; False when the input is exhausted."""
        while True:
            m = _WS.match(self.buf, self.pos)
            assert m is not None
            self.pos = m.end()
            if self.pos < len(self.buf):
                return True
            if not self.fill():
                return self.pos < len(self.buf)

    def peek(self) -> str:
        return self.buf[self.pos] if self.pos < len(self.buf) else ""

    def starts_batch(self) -> bool:
        while len(self.buf) - self.pos < 64 and self.fill():
            pass
        m = _RECORDS_BATCH.match(self.buf, self.pos)
        if m is None:
            return False
        self.pos = m.end()
        return True

    def decode_value(self) -> tuple[Any, str]:
        """Decode the JSON value at ``pos``; return it and its text. Raises ValueError."""
        limit = self._limits.max_record_bytes
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                incomplete = exc.msg.startswith("Unterminated string") or exc.pos >= len(self.buf) - 6
                if incomplete and not self.eof and len(self.buf) - self.pos < limit:
                    self.fill(len(self.buf) - self.pos)
                    continue
                if incomplete and self.eof:
                    raise ValueError(f"input ends inside a record ({exc.msg})") from None
                if incomplete:
                    raise ValueError(f"record longer than {limit} bytes: not read") from None
                raise ValueError(f"invalid JSON: {exc.msg} (line {self.line_at(exc.pos)})") from None
            except RecursionError:
                raise ValueError(DEPTH_MESSAGE) from None
            if end >= len(self.buf) and not self.eof:
                self.fill(len(self.buf) - self.pos)  # a number may continue in the next chunk
                continue
            text = self.buf[self.pos:end]
            self.pos = end
            return value, text


def _records_of(value: Any, text: str) -> Iterator[dict[str, Any] | str]:
    """The records a decoded value holds, or an error message per unusable one."""
    if _SURROGATE.search(text):
        yield "not valid UTF-8 text (wrong encoding?)"
        return
    if too_deep(value, text.count("{") + text.count("[")):
        yield DEPTH_MESSAGE
        return
    for item in expand(value):
        try:
            yield to_record(item)
        except RecordShapeError as exc:
            yield str(exc)


def read_json_documents(
    stream: BinaryIO, source: str, limits: ReaderLimits, compressed: bool
) -> Iterator[ReadItem]:
    """Yield the records of a JSON array, records batch, or sequence of JSON documents."""
    win = _Window(stream, limits, compressed)
    index = 0
    try:
        while win.skip_ws():
            if win.peek() == "[":
                win.pos += 1
                index, ok = yield from _array_items(win, source, index, closing="")
            elif win.peek() == "{" and win.starts_batch():
                index, ok = yield from _array_items(win, source, index, closing="}")
            else:
                line = win.line_at(win.pos)
                try:
                    value, text = win.decode_value()
                except ValueError as exc:
                    yield Rejected(source, index, line, f"{exc}: {_REST_LOST}")
                    return
                for rec in _records_of(value, text):
                    yield (Record(source, index, line, rec) if isinstance(rec, dict)
                           else Rejected(source, index, line, rec))
                    index += 1
                ok = True
            if not ok:
                return
    except BrokenStreamError as exc:
        yield Rejected(source, index, win.line_at(win.pos), f"{exc}: {_REST_LOST}")


_REST_LOST = "the rest of the file cannot be read"


def _array_items(
    win: _Window, source: str, index: int, closing: str
) -> Generator[ReadItem, None, tuple[int, bool]]:
    """Yield the elements of an array whose '[' was consumed, then expect ``closing``.

    Returns (next index, False when the rest of the file was rejected).
    """

    def fatal(message: str) -> Rejected:
        return Rejected(source, index, win.line_at(win.pos), f"{message}: {_REST_LOST}")

    if not win.skip_ws():
        yield fatal("array not closed (file truncated?)")
        return index, False
    if win.peek() != "]":
        while True:
            line = win.line_at(win.pos)
            try:
                value, text = win.decode_value()
            except ValueError as exc:
                yield Rejected(source, index, line, f"element {index}: {exc}: {_REST_LOST}")
                return index, False
            for rec in _records_of(value, text):
                yield (Record(source, index, line, rec) if isinstance(rec, dict)
                       else Rejected(source, index, line, rec))
            index += 1
            if not win.skip_ws():
                yield fatal(f"array not closed after element {index - 1} (file truncated?)")
                return index, False
            ch = win.peek()
            if ch == "]":
                break
            if ch != ",":
                yield fatal(f"expected ',' or ']' after element {index - 1}, found {ch!r}")
                return index, False
            win.pos += 1
            if not win.skip_ws():
                yield fatal(f"array not closed after element {index - 1} (file truncated?)")
                return index, False
            if win.peek() == "]":
                yield fatal(f"trailing comma after element {index - 1}")
                return index, False
    win.pos += 1  # the ']'
    for ch in closing:
        if not win.skip_ws() or win.peek() != ch:
            yield fatal(f"expected {ch!r} to close the records batch")
            return index, False
        win.pos += 1
    return index, True

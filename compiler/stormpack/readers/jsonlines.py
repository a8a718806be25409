"""JSON Lines: one record per line, parsed with orjson; a bad line is rejected, reading goes on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO, overload

import orjson

from .depth import DEPTH_MESSAGE, MAX_DEPTH, too_deep
from .model import ReaderLimits, ReadItem, Record, Rejected, Skipped
from .source import STREAM_ERRORS, describe_stream_error
from .unwrap import RecordShapeError, expand, to_record

_REST_LOST = "the rest of the file cannot be read"


def json_error(exc: orjson.JSONDecodeError) -> str:
    if "UTF-8" in exc.msg:
        return "not valid UTF-8 text (wrong encoding?)"
    return f"invalid JSON: {exc.msg} at column {exc.colno}"


@overload
def read_json_lines(
    stream: BinaryIO, source: str, limits: ReaderLimits, compressed: bool, first_line: int = 0,
    skip: None = None,
) -> Iterator[ReadItem]: ...
@overload
def read_json_lines(
    stream: BinaryIO, source: str, limits: ReaderLimits, compressed: bool, first_line: int = 0,
    skip: Callable[[bytes], bool] | None = None,
) -> Iterator[ReadItem | Skipped]: ...
def read_json_lines(
    stream: BinaryIO, source: str, limits: ReaderLimits, compressed: bool, first_line: int = 0,
    skip: Callable[[bytes], bool] | None = None,
) -> Iterator[ReadItem | Skipped]:
    """Yield one item per non-blank line; index = 0-based line number (``first_line``: the number
    of lines before the stream's first one, for a chunk of a file read on its own). ``skip``
    (the hunt's :class:`stormpack.prefilter.LinePrefilter`): a line it accepts is yielded as
    :class:`Skipped`, unparsed."""
    readline = stream.readline
    loads = orjson.loads
    max_len = limits.max_record_bytes
    lineno = first_line
    while True:
        try:
            line = readline(max_len)
        except STREAM_ERRORS as exc:
            yield Rejected(source, lineno, lineno + 1,
                           f"{describe_stream_error(exc, compressed)}: {_REST_LOST}")
            return
        if not line:
            return
        index = lineno
        lineno += 1
        if len(line) >= max_len and not line.endswith(b"\n"):
            try:
                while True:
                    more = readline(max_len)
                    if not more or more.endswith(b"\n"):
                        break
            except STREAM_ERRORS as exc:
                yield Rejected(source, index, lineno,
                               f"{describe_stream_error(exc, compressed)}: {_REST_LOST}")
                return
            yield Rejected(source, index, lineno, f"line longer than {max_len} bytes: not read")
            continue
        if skip is not None and skip(line):
            yield Skipped(source, index, lineno)
            continue
        try:
            value = loads(line)
        except orjson.JSONDecodeError as exc:
            if line.strip():
                yield Rejected(source, index, lineno, json_error(exc))
            continue
        brackets = line.count(b"{") + line.count(b"[")
        if brackets > MAX_DEPTH and too_deep(value, brackets):
            yield Rejected(source, index, lineno, DEPTH_MESSAGE)
            continue
        if (type(value) is dict and "AuditData" not in value and "records" not in value
                and "winlog" not in value and "Properties" not in value and "Channel" not in value):
            yield Record(source, index, lineno, value)
            continue
        for item in expand(value):
            try:
                yield Record(source, index, lineno, to_record(item))
            except RecordShapeError as exc:
                yield Rejected(source, index, lineno, str(exc))

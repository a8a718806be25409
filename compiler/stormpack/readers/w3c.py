"""IIS W3C extended log files: one record per request line, columns from the ``#Fields:`` directive.

The format (https://learn.microsoft.com/en-us/windows/win32/http/w3c-logging, the W3C working
draft https://www.w3.org/TR/WD-logfile.html): directive lines start with ``#`` (``#Software:``,
``#Version:``, ``#Date:``, ``#Fields:``); ``#Fields:`` lists the space-separated field names of the
lines that follow, and IIS writes a new ``#Fields:`` block when a site's logging fields change
or the service restarts, in the same file. Values are separated by one space, a space inside a
value is written as ``+``, ``-`` means no value. Dates and times are UTC.

Each line becomes a flat record of the taxonomy's ``webserver`` log source (SigmaHQ's webserver
names): IIS's header columns ``cs(User-Agent)``, ``cs(Referer)``, ``cs(Cookie)`` are named
``cs-user-agent``, ``cs-referer``, ``cs-cookie``; every other field keeps its W3C name; ``-`` values
are left out; the numeric fields (status codes, bytes, port, time-taken) become integers; ``date`` and
``time`` are kept and joined into ``timestamp`` (``2023-06-16T10:14:03Z``). A data line before any
``#Fields:``, with another number of values than its header, with a bad date or time, or not
UTF-8 is a :class:`Rejected` item naming its line; reading goes on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from .model import ReaderLimits, ReadItem, Record, Rejected
from .source import STREAM_ERRORS, describe_stream_error

FIELDS_DIRECTIVE = b"#Fields:"
_REST_LOST = "the rest of the file cannot be read"
# IIS writes these request/response headers as cs(Name); SigmaHQ's webserver category names them so
SIGMA_NAMES = {"cs(user-agent)": "cs-user-agent", "cs(referer)": "cs-referer", "cs(cookie)": "cs-cookie"}
INT_FIELDS = frozenset({"s-port", "sc-status", "sc-substatus", "sc-win32-status", "sc-bytes",
                        "cs-bytes", "time-taken"})
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}:\d{2}(\.\d+)?")
_DIRECTIVES = (b"#Software:", b"#Version:", b"#Date:", b"#Fields:", b"#Remark:", b"#Start-Date:",
               b"#End-Date:")


def looks_like_w3c(head: bytes) -> bool:
    """True when the file starts with a W3C directive (``#Software:``, ``#Version:``, ``#Fields:`` ...)
    and a ``#Fields:`` line is among its first bytes."""
    text = head.lstrip(b"\xef\xbb\xbf")
    return text.startswith(_DIRECTIVES) and (text.startswith(FIELDS_DIRECTIVE)
                                             or b"\n" + FIELDS_DIRECTIVE in text)


def _lost(exc: BaseException, compressed: bool) -> str:
    return f"{describe_stream_error(exc, compressed)}: {_REST_LOST}"


def field_name(w3c_name: str) -> str:
    """The taxonomy name of a W3C field (``cs(User-Agent)`` -> ``cs-user-agent``)."""
    return SIGMA_NAMES.get(w3c_name.lower(), w3c_name)


def _record(names: list[str], values: list[str]) -> dict[str, Any] | str:
    """The record of one line, or why it cannot be one."""
    out: dict[str, Any] = {}
    for name, value in zip(names, values, strict=True):
        if value == "-":
            continue
        if name in INT_FIELDS and value.isdigit():
            out[name] = int(value)
        else:
            out[name] = value
    date, time = out.get("date"), out.get("time")
    if date is not None or time is not None:
        if not isinstance(date, str) or not _DATE.fullmatch(date):
            return f"date {date!r} is not YYYY-MM-DD"
        if not isinstance(time, str) or not _TIME.fullmatch(time):
            return f"time {time!r} is not HH:MM:SS"
        out = {"timestamp": f"{date}T{time}Z", **out}
    return out


def read_w3c(stream: BinaryIO, source: str, limits: ReaderLimits, compressed: bool) -> Iterator[ReadItem]:
    """Yield one item per request line; index = 0-based request line, line = physical line."""
    names: list[str] | None = None
    header_line = 0
    lineno = 0
    index = 0
    while True:
        try:
            raw = stream.readline(limits.max_record_bytes)
        except STREAM_ERRORS as exc:
            yield Rejected(source, index, lineno + 1, _lost(exc, compressed))
            return
        if not raw:
            return
        lineno += 1
        if lineno == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        if line.startswith(b"#"):
            if line.startswith(FIELDS_DIRECTIVE):
                text = line[len(FIELDS_DIRECTIVE):].decode("utf-8", "replace")
                names = [field_name(n) for n in text.split()]
                header_line = lineno
            continue  # other directives (#Software, #Version, #Date ...) describe the file
        row_index = index
        index += 1
        if not raw.endswith(b"\n") and len(raw) >= limits.max_record_bytes:
            try:  # skip the rest of the over-long line
                more = raw
                while more and not more.endswith(b"\n"):
                    more = stream.readline(limits.max_record_bytes)
            except STREAM_ERRORS as exc:
                yield Rejected(source, row_index, lineno, _lost(exc, compressed))
                return
            yield Rejected(source, row_index, lineno,
                           f"line longer than {limits.max_record_bytes} bytes: not read")
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            yield Rejected(source, row_index, lineno, "not valid UTF-8 text (wrong encoding?)")
            continue
        if names is None:
            yield Rejected(source, row_index, lineno, "request line before any #Fields: directive")
            continue
        values = text.split(" ")
        if len(values) != len(names):
            yield Rejected(source, row_index, lineno,
                           f"line has {len(values)} values, its #Fields: directive (line {header_line}) "
                           f"names {len(names)}")
            continue
        got = _record(names, values)
        if isinstance(got, str):
            yield Rejected(source, row_index, lineno, got)
            continue
        yield Record(source, row_index, lineno, got)
